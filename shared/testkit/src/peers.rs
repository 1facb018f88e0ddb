//! Third parties and faults for the events-pipeline tests:
//!
//! * [`SmtpSink`]: a real SMTP server on loopback (Python's aiosmtpd, from
//!   the virtualenv `.ci/run` builds; `TICKETGW_TEST_PYTHON` names its
//!   interpreter) recording every message it accepts;
//! * [`Moto`]: an SQS-compatible server on loopback (moto in server mode);
//! * [`FakeHttp`]: a recording HTTP server answering like Twilio or
//!   Telegram;
//! * [`ChaosProxy`]: a TCP proxy whose connections can be cut and which can
//!   refuse new ones (a broker outage, a network partition);
//! * [`amqp_url`]: the RabbitMQ server for tests (`TEST_AMQP_URL`).
//!
//! Under CI (`CI` set) a missing peer fails the test; elsewhere the test
//! is skipped with a message.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use tokio::io::AsyncBufReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::AbortHandle;

fn required(what: &str) -> Option<()> {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {what} is not available: this test must not be skipped in CI"
    );
    crate::report_skip(&format!("{what} is not available: skipped"));
    None
}

/// The RabbitMQ server for tests, if configured (required under CI).
pub fn amqp_url() -> Option<String> {
    match std::env::var("TEST_AMQP_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => required("TEST_AMQP_URL (RabbitMQ)").map(|_| String::new()),
    }
}

/// The Python with aiosmtpd and moto (`TICKETGW_TEST_PYTHON`, or the
/// virtualenv `.ci/run` creates under ~/.cache).
pub fn test_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TICKETGW_TEST_PYTHON").map(PathBuf::from),
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/ticketgw-test-venv/bin/python")),
    ];
    for c in candidates.into_iter().flatten() {
        if c.exists() {
            return Some(c);
        }
    }
    required("the test Python (aiosmtpd, moto: run .ci/run or set TICKETGW_TEST_PYTHON)")
        .map(|_| PathBuf::new())
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_ready(child: &mut Child, what: &str) {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("READY") {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(ready, Ok(true)), "{what} did not start");
    // Keep draining so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
}

/// One message the SMTP sink accepted.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SinkRecord {
    pub message_id: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub size: u64,
    pub file: Option<String>,
    /// Unix time (seconds) the server accepted it.
    #[serde(default)]
    pub received: f64,
}

pub struct SmtpSink {
    pub port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free port; `None` outside CI without Python.
    pub async fn start(save_messages: bool) -> Option<SmtpSink> {
        let python = test_python()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("sink.jsonl");
        std::fs::write(&out, b"").expect("sink file");
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/smtp_sink.py");
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--out")
            .arg(&out)
            .arg("--stop-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if save_messages {
            cmd.arg("--save-dir").arg(dir.path().join("messages"));
        }
        let mut child = cmd.spawn().expect("start the SMTP sink");
        wait_ready(&mut child, "the SMTP sink (aiosmtpd)").await;
        Some(SmtpSink {
            port,
            out,
            _dir: dir,
            child,
        })
    }

    /// `smtp://127.0.0.1:<port>` (plain: loopback only).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far.
    pub fn records(&self) -> Vec<SinkRecord> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// moto's SQS-compatible server on loopback.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    pub async fn start() -> Option<Moto> {
        let python = test_python()?;
        let port = free_port();
        let mut child = Command::new(python)
            .args(["-c", "import sys; from moto.server import main; print('READY', flush=True); sys.exit(main(sys.argv[1:]))", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto");
        wait_ready(&mut child, "moto").await;
        let endpoint = format!("http://127.0.0.1:{port}");
        // READY is printed before the server binds: wait for the port.
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Some(Moto { endpoint, child });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto did not open its port");
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
struct FakeState {
    log: Arc<Mutex<Vec<Recorded>>>,
    reply: Arc<Mutex<(StatusCode, String)>>,
}

/// A recording HTTP server that answers every request with one configured
/// status and JSON body.
pub struct FakeHttp {
    pub base: String,
    state: FakeState,
    task: AbortHandle,
}

impl FakeHttp {
    pub async fn start(status: StatusCode, body: &str) -> FakeHttp {
        let state = FakeState {
            log: Arc::default(),
            reply: Arc::new(Mutex::new((status, body.to_owned()))),
        };
        let app = Router::new()
            .fallback(
                |State(s): State<FakeState>,
                 method: Method,
                 uri: Uri,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    s.log.lock().expect("log").push(Recorded {
                        method,
                        path: uri.path().to_owned(),
                        headers,
                        body,
                    });
                    let (status, body) = s.reply.lock().expect("reply").clone();
                    (status, [("content-type", "application/json")], body)
                },
            )
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })
        .abort_handle();
        FakeHttp {
            base: format!("http://{addr}"),
            state,
            task,
        }
    }

    pub fn set_reply(&self, status: StatusCode, body: &str) {
        *self.state.reply.lock().expect("reply") = (status, body.to_owned());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.log.lock().expect("log").clone()
    }
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP proxy to `target` that can cut every open connection and refuse
/// new ones.
pub struct ChaosProxy {
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
    task: AbortHandle,
}

impl ChaosProxy {
    pub async fn start(target: SocketAddr) -> ChaosProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let down: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let (c, d) = (conns.clone(), down.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if d.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let h = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                })
                .abort_handle();
                let mut all = c.lock().expect("conns");
                all.retain(|h| !h.is_finished());
                all.push(h);
            }
        })
        .abort_handle();
        ChaosProxy {
            addr,
            conns,
            down,
            task,
        }
    }

    /// Closes every open connection at once (both directions).
    pub fn cut(&self) -> usize {
        let all: Vec<AbortHandle> = std::mem::take(&mut *self.conns.lock().expect("conns"));
        let n = all.iter().filter(|h| !h.is_finished()).count();
        for h in all {
            h.abort();
        }
        n
    }

    /// While down, new connections are closed at once.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
        if down {
            self.cut();
        }
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

/// `amqp://user:pass@<addr>/<vhost>` for a proxy in front of the broker.
pub fn amqp_via(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("amqp", url));
    let (auth, after) = match rest.rsplit_once('@') {
        Some((a, r)) => (format!("{a}@"), r),
        None => (String::new(), rest),
    };
    let path = after.find('/').map(|i| &after[i..]).unwrap_or("/%2f");
    format!("{scheme}://{auth}{addr}{path}")
}

/// The broker's address from its URL.
pub fn amqp_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let host = rest.rsplit_once('@').map(|x| x.1).unwrap_or(rest);
    let host = host.split('/').next().unwrap_or("127.0.0.1:5672");
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5672")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&host)
        .expect("resolve the broker")
        .find(|a| a.is_ipv4())
        .expect("an IPv4 broker address")
}
