"""A real SMTP server on loopback for the tests (aiosmtpd), recording every
accepted message: one JSON line per message in --out (message id,
recipients, subject, size), and the raw message in --save-dir when given.

Usage: python smtp_sink.py --port 2525 --out sink.jsonl [--save-dir DIR]
Prints READY once it accepts connections; stops on SIGTERM, or when stdin
closes with --stop-on-stdin-eof.
"""
import argparse
import email.parser
import json
import os
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, out, save_dir):
        self.out = open(out, "a", buffering=1)
        self.save_dir = save_dir
        self.lock = threading.Lock()
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        # Headers only: the bodies (PDFs, images) are not needed here.
        msg = email.parser.BytesHeaderParser().parsebytes(envelope.content)
        rec = {
            "message_id": msg.get("Message-ID"),
            "to": envelope.rcpt_tos,
            "mail_from": envelope.mail_from,
            "subject": str(msg.get("Subject")),
            "size": len(envelope.content),
            "received": time.time(),
        }
        with self.lock:
            self.n += 1
            if self.save_dir:
                path = os.path.join(self.save_dir, "%06d.eml" % self.n)
                with open(path, "wb") as f:
                    f.write(envelope.content)
                rec["file"] = path
            self.out.write(json.dumps(rec) + "\n")
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--save-dir")
    p.add_argument("--stop-on-stdin-eof", action="store_true",
                   help="stop when stdin closes (the test harness holds it open)")
    a = p.parse_args()
    if a.save_dir:
        os.makedirs(a.save_dir, exist_ok=True)
    c = Controller(Recorder(a.out, a.save_dir), hostname="127.0.0.1", port=a.port,
                   data_size_limit=50 * 1024 * 1024)
    c.start()
    print("READY", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def watch_stdin():
        sys.stdin.read()
        done.set()

    if a.stop_on_stdin_eof:
        threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait()
    c.stop()


if __name__ == "__main__":
    main()
