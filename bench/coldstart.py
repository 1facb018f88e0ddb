#!/usr/bin/env python3
"""Cold start of an HTTP function binary: exec -> first `200` on a health path.

Standard library only. For each run:

  1. pick a fresh free port on 127.0.0.1 and put it in the child's `PORT`;
  2. take `time.perf_counter_ns()` immediately before `subprocess.Popen`;
  3. poll as fast as possible: raw non-blocking TCP connect, a minimal
     `GET <path> HTTP/1.1`, read the status line; on refusal or a non-200,
     retry after at most `--poll-us` microseconds (default 50);
  4. stop the clock on the first `200`, then SIGTERM the child and wait.

Prints one line per run and a summary (min / median / p90 / max, in ms) for
three instants: `spawn` (Popen returned), `connect` (first accepted TCP
connection, i.e. the socket is listening) and `ready` (first 200). `ready` is
the cold-start figure. `--json FILE` writes all samples and statistics.

Usage:
  coldstart.py [--runs 20] [--warmup 1] [--path /healthz] [--env K=V ...]
               [--json out.json] [--poll-us 50] -- BINARY [ARGS...]
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import time

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def pause(poll_us: float) -> None:
    if poll_us <= 0:
        os.sched_yield()
    else:
        time.sleep(poll_us / 1e6)


def try_once(port: int, request: bytes, io_timeout: float):
    """One probe. Returns (connected: bool, status: int | None)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = s.connect_ex((HOST, port))
        if err == errno.EINPROGRESS:
            # Loopback: the handshake finishes (or is refused) almost at once.
            _, w, _ = select.select([], [s], [], io_timeout)
            if not w:
                return False, None
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            return False, None  # ECONNREFUSED: nobody listening yet
        # Connected. The server may not be accepting yet (socket bound and
        # listening, accept loop not running): the request just waits in the
        # backlog, which is part of what we measure.
        s.setblocking(True)
        s.settimeout(io_timeout)
        s.sendall(request)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                return True, None
            buf += chunk
        line = buf.split(b"\r\n", 1)[0].split()
        status = int(line[1]) if len(line) >= 2 and line[1].isdigit() else None
        return True, status
    except (ConnectionError, socket.timeout, OSError):
        return False, None
    finally:
        s.close()


def stop(proc: subprocess.Popen) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
    return proc.returncode


def one_run(cmd, env_extra, path, poll_us, timeout_s):
    port = free_port()
    env = dict(os.environ)
    env.update(env_extra)
    env["PORT"] = str(port)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n"
    ).encode()

    t0 = time.perf_counter_ns()
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t_spawn = time.perf_counter_ns()
    t_connect = None
    attempts = 0
    deadline = t0 + int(timeout_s * 1e9)
    try:
        while True:
            attempts += 1
            connected, status = try_once(port, request, io_timeout=timeout_s)
            now = time.perf_counter_ns()
            if connected and t_connect is None:
                t_connect = now
            if status == 200:
                t_ready = now
                break
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited early with status {proc.returncode}")
            if now > deadline:
                raise RuntimeError(f"no 200 on {path} within {timeout_s}s")
            pause(poll_us)
    finally:
        rc = stop(proc)
    return {
        "port": port,
        "spawn_ms": (t_spawn - t0) / 1e6,
        "connect_ms": (t_connect - t0) / 1e6,
        "ready_ms": (t_ready - t0) / 1e6,
        "attempts": attempts,
        "exit_code": rc,
    }


def stats(values):
    v = sorted(values)
    n = len(v)
    return {
        "n": n,
        "min": v[0],
        "median": statistics.median(v),
        "p90": v[max(0, math.ceil(0.9 * n) - 1)],  # nearest rank
        "max": v[-1],
        "mean": statistics.fmean(v),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=1, help="unrecorded runs first (page cache)")
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--env", action="append", default=[], metavar="K=V")
    ap.add_argument("--poll-us", type=float, default=50.0,
                    help="pause between probes in µs (0 = sched_yield only)")
    ap.add_argument("--timeout", type=float, default=10.0, help="per run, seconds")
    ap.add_argument("--json", help="write samples and statistics here")
    ap.add_argument("--quiet", action="store_true", help="no per-run lines")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("missing the binary to start (after --)")
    env_extra = {}
    for kv in a.env:
        k, sep, v = kv.partition("=")
        if not sep:
            ap.error(f"--env {kv}: expected K=V")
        env_extra[k] = v

    for _ in range(a.warmup):
        one_run(cmd, env_extra, a.path, a.poll_us, a.timeout)
    runs = []
    for i in range(a.runs):
        r = one_run(cmd, env_extra, a.path, a.poll_us, a.timeout)
        runs.append(r)
        if not a.quiet:
            print(
                f"run {i + 1:2d}: ready {r['ready_ms']:7.2f} ms  "
                f"(spawn {r['spawn_ms']:5.2f}, listening {r['connect_ms']:7.2f}, "
                f"{r['attempts']} probes, exit {r['exit_code']})",
                file=sys.stderr,
            )

    result = {
        "cmd": cmd,
        "path": a.path,
        "runs": runs,
        "spawn_ms": stats([r["spawn_ms"] for r in runs]),
        "connect_ms": stats([r["connect_ms"] for r in runs]),
        "ready_ms": stats([r["ready_ms"] for r in runs]),
        "nonzero_exits": sum(1 for r in runs if r["exit_code"] != 0),
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    for key, label in (("spawn_ms", "spawn"), ("connect_ms", "listening"), ("ready_ms", "ready (200)")):
        s = result[key]
        print(
            f"{label:12s} n={s['n']}  min {s['min']:.2f}  median {s['median']:.2f}  "
            f"p90 {s['p90']:.2f}  max {s['max']:.2f}  ms"
        )
    if result["nonzero_exits"]:
        print(f"warning: {result['nonzero_exits']} runs did not exit 0 on SIGTERM", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
