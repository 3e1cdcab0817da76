//! Real servers on loopback for integration tests, one module for all of them: an HTTP feed
//! server that speaks conditional GET and answers each path as scripted, a raw TCP responder for
//! what no HTTP framework will send (a stalled or trickling body), an SMTP server
//! (mailin-embedded) that receives real mail from lettre, and a webhook receiver.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod farm;
pub mod in_process;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use url::Url;

/// What the feed server answers on one path.
#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    pub body: Vec<u8>,
    /// Sent with every answer but a 304.
    pub content_type: Option<String>,
    /// Validators: sent with every answer; a 200 route answers 304 to a request presenting them.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// More response headers, sent as they are (`Location`, `Retry-After`, `Cache-Control`…).
    pub headers: Vec<(String, String)>,
    /// How long the server waits before it answers (a slow server); the request counts as
    /// seen as soon as it arrives.
    pub delay: Duration,
}

impl Route {
    /// A bare status: empty body, no headers.
    pub fn status(status: u16) -> Route {
        Route {
            status,
            body: Vec::new(),
            content_type: None,
            etag: None,
            last_modified: None,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// A redirect with `status` (301, 302, 308…) to `location`.
    pub fn redirect(status: u16, location: &str) -> Route {
        Route::status(status).header("location", location)
    }

    /// 200 with an RSS body and no validators.
    pub fn feed(body: impl Into<Vec<u8>>) -> Route {
        Route {
            content_type: Some("application/rss+xml".into()),
            ..Route::status(200).body(body)
        }
    }

    /// 200 with an RSS body, an ETag and a Last-Modified (so it answers 304 when unchanged).
    pub fn rss(body: impl Into<Vec<u8>>, etag: &str) -> Route {
        Route {
            etag: Some(etag.into()),
            last_modified: Some("Thu, 07 Oct 2021 10:00:00 GMT".into()),
            ..Route::feed(body)
        }
    }

    /// The same with one more response header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Route {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same, answered `delay` after the request arrives.
    pub fn after(mut self, delay: Duration) -> Route {
        self.delay = delay;
        self
    }

    /// The same with this body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Route {
        self.body = body.into();
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub status: u16,
}

#[derive(Default)]
struct FeedState {
    routes: HashMap<String, Route>,
    seen: Vec<Seen>,
}

/// An HTTP/1.1 server on 127.0.0.1 serving feed bytes with ETag / Last-Modified and 304s.
#[derive(Clone)]
pub struct FeedServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<FeedState>>,
}

impl FeedServer {
    pub async fn start() -> FeedServer {
        FeedServer::start_on(Ipv4Addr::LOCALHOST).await
    }

    /// The same on another loopback address: 127.0.0.2 is another host to an origin check.
    pub async fn start_on(ip: Ipv4Addr) -> FeedServer {
        let state: Arc<Mutex<FeedState>> = Arc::default();
        let st = state.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let st = st.clone();
            async move {
                let (delay, resp) = serve(&st, req);
                tokio::time::sleep(delay).await;
                resp
            }
        });
        let addr = serve_on(app, ip, "feed server").await;
        FeedServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// [`FeedServer::url`] as a parsed URL.
    pub fn parsed_url(&self, path: &str) -> Url {
        Url::parse(&self.url(path)).expect("a valid URL")
    }

    /// Answers `path` with `route` from now on.
    pub fn set(&self, path: &str, route: Route) -> &FeedServer {
        self.state
            .lock()
            .expect("lock")
            .routes
            .insert(path.to_string(), route);
        self
    }

    /// The requests for `path` so far.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.state
            .lock()
            .expect("lock")
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    /// How many requests arrived, for any path.
    pub fn requests(&self) -> usize {
        self.state.lock().expect("lock").seen.len()
    }
}

/// Serves `app` on a free port of 127.0.0.1 until the test process ends.
async fn serve_on_loopback(app: axum::Router, what: &'static str) -> SocketAddr {
    serve_on(app, Ipv4Addr::LOCALHOST, what).await
}

/// Serves `app` on a free port of `ip` (a loopback address) until the test process ends.
async fn serve_on(app: axum::Router, ip: Ipv4Addr, what: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((ip, 0))
        .await
        .unwrap_or_else(|e| panic!("bind {what}: {e}"));
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .unwrap_or_else(|e| panic!("{what} runs: {e}"));
    });
    addr
}

/// The answer to `req`, and how long to wait before sending it.
fn serve(state: &Mutex<FeedState>, req: Request<Body>) -> (Duration, Response<Body>) {
    let mut st = state.lock().expect("lock");
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let route = st.routes.get(&path).cloned();
    let delay = route.as_ref().map_or(Duration::ZERO, |r| r.delay);
    let (status, resp) = match route {
        None => (
            404,
            Response::builder()
                .status(404)
                .body(Body::from("not found")),
        ),
        Some(r) => {
            let inm = headers.get("if-none-match").and_then(|v| v.to_str().ok());
            let ims = headers
                .get("if-modified-since")
                .and_then(|v| v.to_str().ok());
            let fresh = match (&r.etag, inm, &r.last_modified, ims) {
                (Some(e), Some(h), _, _) => e == h,
                (_, None, Some(lm), Some(h)) => lm == h,
                _ => false,
            };
            let mut b = Response::builder();
            if let Some(e) = &r.etag {
                b = b.header("etag", e);
            }
            if let Some(lm) = &r.last_modified {
                b = b.header("last-modified", lm);
            }
            for (k, v) in &r.headers {
                b = b.header(k, v);
            }
            if fresh && r.status == 200 {
                (304, b.status(304).body(Body::empty()))
            } else {
                if let Some(ct) = &r.content_type {
                    b = b.header("content-type", ct);
                }
                (
                    r.status,
                    b.status(r.status).body(Body::from(r.body.clone())),
                )
            }
        }
    };
    st.seen.push(Seen {
        path,
        headers,
        status,
    });
    let resp = resp.unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    });
    (delay, resp)
}

/// How [`raw_server`] sends the body after the response head.
#[derive(Clone)]
pub enum RawBody {
    /// Nothing more, connection held open (for up to 30 s).
    Stall,
    /// One byte per interval (at most 100 bytes).
    Trickle(Duration),
    /// These bytes, then close.
    Bytes(Vec<u8>),
}

/// A raw TCP responder on 127.0.0.1, for what an HTTP framework will not send (a stalled or
/// trickling body, a body without Content-Length): reads the request head, writes `head`
/// verbatim, then the body as told. Serves at most four connections; returns its feed URL.
pub async fn raw_server(head: &'static str, body: RawBody) -> Url {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind raw responder");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..4 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16_384 {
                    match tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                match body {
                    RawBody::Stall => tokio::time::sleep(Duration::from_secs(30)).await,
                    RawBody::Trickle(every) => {
                        for _ in 0..100 {
                            if sock.write_all(b"x").await.is_err() {
                                return;
                            }
                            tokio::time::sleep(every).await;
                        }
                    }
                    RawBody::Bytes(bytes) => {
                        let _ = sock.write_all(&bytes).await;
                        let _ = sock.shutdown().await;
                    }
                }
            });
        }
    });
    Url::parse(&format!("http://{addr}/feed.xml")).expect("valid url")
}

/// One received message.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
    /// When its conversation began (MAIL FROM): the sender was alive then.
    pub began: std::time::Instant,
    /// When the server accepted it (the end of DATA).
    pub at: std::time::Instant,
}

impl Mail {
    pub fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.data).expect("a parseable message")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        use mailparse::MailHeaderMap;
        self.parsed().headers.get_first_value(name)
    }

    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// The decoded text/plain body.
    pub fn text(&self) -> String {
        let p = self.parsed();
        let part = if p.subparts.is_empty() {
            &p
        } else {
            p.subparts
                .iter()
                .find(|s| s.ctype.mimetype == "text/plain")
                .expect("a text/plain part")
        };
        part.get_body().expect("decodable body")
    }
}

/// How the SMTP server answers RCPT TO.
pub const ACCEPT: u16 = 250;

#[derive(Clone)]
struct SmtpHandler {
    inbox: Arc<Mutex<Vec<Mail>>>,
    rcpt_code: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
    began: std::time::Instant,
}

impl mailin_embedded::Handler for SmtpHandler {
    fn mail(
        &mut self,
        _ip: std::net::IpAddr,
        _domain: &str,
        from: &str,
    ) -> mailin_embedded::Response {
        self.from = from.to_string();
        self.began = std::time::Instant::now();
        self.to.clear();
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn rcpt(&mut self, to: &str) -> mailin_embedded::Response {
        match self.rcpt_code.load(Ordering::SeqCst) {
            ACCEPT => {
                self.to.push(to.to_string());
                mailin_embedded::response::OK
            }
            code => mailin_embedded::Response::custom(code, "test server refuses".to_string()),
        }
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        self.inbox.lock().expect("lock").push(Mail {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
            began: self.began,
            at: std::time::Instant::now(),
        });
        mailin_embedded::response::OK
    }
}

/// A real SMTP server on 127.0.0.1 (mailin-embedded, plain SMTP, no STARTTLS offered).
pub struct SmtpServer {
    pub port: u16,
    inbox: Arc<Mutex<Vec<Mail>>>,
    rcpt_code: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
}

impl SmtpServer {
    /// Starts on a free port.
    pub fn start() -> SmtpServer {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("bind smtp"))
    }

    /// Starts on a given port (to bring a "down" server up where the daemon expects it).
    pub fn start_on_port(port: u16) -> SmtpServer {
        Self::start_on(TcpListener::bind(("127.0.0.1", port)).expect("bind smtp port"))
    }

    /// Starts on a free port offering STARTTLS with the given PEM files (leaf certificate,
    /// key, CA chain).
    pub fn start_starttls(cert: &Path, key: &Path, chain: &Path) -> SmtpServer {
        let tls = mailin_embedded::SslConfig::Trusted {
            cert_path: cert.to_str().expect("utf-8").to_string(),
            key_path: key.to_str().expect("utf-8").to_string(),
            chain_path: chain.to_str().expect("utf-8").to_string(),
        };
        Self::start_with(TcpListener::bind("127.0.0.1:0").expect("bind smtp"), tls)
    }

    fn start_on(listener: TcpListener) -> SmtpServer {
        Self::start_with(listener, mailin_embedded::SslConfig::None)
    }

    fn start_with(listener: TcpListener, tls: mailin_embedded::SslConfig) -> SmtpServer {
        let port = listener.local_addr().expect("addr").port();
        let inbox: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let rcpt_code = Arc::new(AtomicU16::new(ACCEPT));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let handler = SmtpHandler {
            inbox: inbox.clone(),
            rcpt_code: rcpt_code.clone(),
            delay_ms: delay_ms.clone(),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
            began: std::time::Instant::now(),
        };
        let mut server = mailin_embedded::Server::new(handler);
        server
            .with_name("smtp.test")
            .with_num_threads(2)
            .with_tcp_listener(listener)
            .with_ssl(tls)
            .expect("TLS set-up of the test SMTP server");
        // The server thread lives until the test process exits.
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpServer {
            port,
            inbox,
            rcpt_code,
            delay_ms,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.inbox.lock().expect("lock").clone()
    }

    /// Makes the server wait this long before accepting each message (after DATA).
    pub fn delay_each_message(&self, d: Duration) {
        self.delay_ms.store(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// Makes RCPT TO answer `code` (250 accepts; 450 is temporary, 550 permanent).
    pub fn answer_rcpt_with(&self, code: u16) {
        self.rcpt_code.store(code, Ordering::SeqCst);
    }
}

/// An RSS body with `n` items that all match `Kabulov`, newest first, dated recently.
pub fn kabulov_feed(n: usize, prefix: &str) -> String {
    let now = chrono::Utc::now();
    let items: String = (0..n)
        .map(|i| {
            let date = (now - chrono::Duration::minutes(i as i64)).to_rfc2822();
            format!(
                "<item><guid>{prefix}-{i}</guid><title>{prefix} story {i:02}</title>\
                 <link>http://news.test/{prefix}/{i}</link><pubDate>{date}</pubDate>\
                 <description>Envoy Zamir Kabulov said &lt;b&gt;{i}&lt;/b&gt; things about the so-called \
                 \u{201c}Moscow\n\nformat\u{201d} talks.</description></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>News</title>{items}</channel></rss>"
    )
}

/// A port that nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Path of a fixture file.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn read_fixture(name: &str) -> Vec<u8> {
    let path = fixture(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A temporary folder holding `feedwatch.toml` with `text` (relative paths in it, such as the
/// database's, land in the folder); the folder is removed when the first value drops.
pub fn config_dir(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), text);
    (dir, cfg)
}

/// Writes `text` as `feedwatch.toml` in `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let cfg = dir.join("feedwatch.toml");
    std::fs::write(&cfg, text).expect("write config");
    cfg
}

/// A path as a command-line argument.
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Output of one run of the feedwatch binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the real binary with `args`, bounded by a timeout.
pub async fn feedwatch(args: &[&str]) -> Run {
    feedwatch_with(args, &[], None).await
}

/// [`feedwatch`] with more environment variables, and standard output sent to `stdout` instead
/// of captured when given (then `Run::stdout` is empty).
pub async fn feedwatch_with(
    args: &[&str],
    env: &[(&str, &str)],
    stdout: Option<std::process::Stdio>,
) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedwatch"));
    cmd.args(args)
        .env_remove("FEEDWATCH_CONFIG")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    if let Some(out) = stdout {
        cmd.stdout(out);
    }
    let child = cmd.output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("feedwatch finished within 60 s")
        .expect("feedwatch ran");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running `feedwatch run` process; killed (SIGKILL) when dropped.
pub struct Daemon {
    pub child: tokio::process::Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `feedwatch --config CFG run`, logging to `log`.
    pub fn start(config: &Path, log: &Path) -> Daemon {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let out = err.try_clone().expect("clone log handle");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedwatch"))
            .args([
                "--config",
                config.to_str().expect("utf-8"),
                "--log-level",
                "debug",
                "run",
            ])
            .env_remove("FEEDWATCH_CONFIG")
            .env_remove("RUST_LOG")
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("daemon starts");
        Daemon {
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("daemon still running")
    }

    /// SIGTERM, then waits (bounded) for a clean exit; returns the exit code.
    pub async fn terminate(mut self) -> Option<i32> {
        send_signal(self.pid(), libc::SIGTERM);
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("daemon stopped within 20 s of SIGTERM")
            .expect("wait");
        status.code()
    }

    /// SIGKILL: the crash case.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill -9");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Sends `signal` to process `pid` through libc, so the tests need no `kill` program.
pub fn send_signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
    // SAFETY: kill(2) takes two integers and touches no memory of this process.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        result,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// Waits up to `secs` seconds until `cond` holds.
pub async fn eventually_within(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..secs * 20 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {secs} s waiting for: {what}");
}

/// One request a [`WebhookReceiver`] got.
#[derive(Clone, Debug)]
pub struct Hook {
    pub headers: HeaderMap,
    pub body: String,
    pub at: std::time::Instant,
    pub status: u16,
}

/// A scripted answer: status and headers.
type Answer = (u16, Vec<(String, String)>);

/// A real HTTP receiver on 127.0.0.1 that records POSTs and answers from a script: the n-th
/// request gets the n-th (status, headers) entry; after the script, 200 (or the status set by
/// [`WebhookReceiver::answer_all_with`]).
#[derive(Clone)]
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    hooks: Arc<Mutex<Vec<Hook>>>,
    script: Arc<Mutex<std::collections::VecDeque<Answer>>>,
    otherwise: Arc<AtomicU16>,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let hooks: Arc<Mutex<Vec<Hook>>> = Arc::default();
        let script: Arc<Mutex<std::collections::VecDeque<Answer>>> = Arc::default();
        let otherwise = Arc::new(AtomicU16::new(200));
        let (hooks_in, script_in, otherwise_in) =
            (hooks.clone(), script.clone(), otherwise.clone());
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let (hooks, script) = (hooks_in.clone(), script_in.clone());
            let otherwise = otherwise_in.load(Ordering::SeqCst);
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let (status, headers) = script
                    .lock()
                    .expect("lock")
                    .pop_front()
                    .unwrap_or((otherwise, vec![]));
                hooks.lock().expect("lock").push(Hook {
                    headers: parts.headers,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                    at: std::time::Instant::now(),
                    status,
                });
                let mut b = Response::builder().status(status);
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                b.body(Body::empty())
                    .unwrap_or_else(|_| Response::new(Body::empty()))
            }
        });
        let addr = serve_on_loopback(app, "webhook receiver").await;
        WebhookReceiver {
            addr,
            hooks,
            script,
            otherwise,
        }
    }

    /// Answers `status` to every request beyond the script from now on (200 at first).
    pub fn answer_all_with(&self, status: u16) {
        self.otherwise.store(status, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Queues the answers for the next requests.
    pub fn answer(&self, status: u16, headers: &[(&str, &str)]) {
        self.script.lock().expect("lock").push_back((
            status,
            headers
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        ));
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().expect("lock").clone()
    }
}

/// Waits up to 10 s until `cond` holds.
pub async fn eventually(what: &str, cond: impl FnMut() -> bool) {
    eventually_within(10, what, cond).await;
}

/// A throw-away CA and a `localhost` leaf certificate signed by it, as PEM files in `dir`:
/// (ca.pem, leaf.pem, leaf.key). rustls refuses a self-signed certificate that is its own CA,
/// hence the two levels.
pub fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "feedwatch test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf certificate");
    let paths = (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    );
    std::fs::write(&paths.0, ca.pem()).expect("write CA");
    std::fs::write(&paths.1, leaf.pem()).expect("write leaf");
    std::fs::write(&paths.2, leaf_key.serialize_pem()).expect("write key");
    paths
}

/// A TCP listener on 127.0.0.1 that accepts connections and never says a word: an SMTP server
/// that never greets (or a hung webhook receiver). Holds every connection open until the test
/// process ends, and counts them.
pub struct SilentListener {
    pub port: u16,
    accepted: Arc<AtomicU64>,
}

impl SilentListener {
    pub async fn start() -> SilentListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind silent listener");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(sock);
            }
        });
        SilentListener { port, accepted }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Fills the filesystem holding `filler` with that file until a write fails (a full disk).
pub fn fill(filler: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(filler).expect("create filler");
    let block = vec![0u8; 64 * 1024];
    for _ in 0..10_000 {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    // Whatever is left below one block.
    for _ in 0..65_536 {
        if f.write_all(&[0]).is_err() || f.flush().is_err() {
            return;
        }
    }
}
