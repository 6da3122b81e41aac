//! `kith web`: a local web UI served from the user's own vault.
//!
//! Invariants: it listens on 127.0.0.1 unless `--bind` says otherwise; every request must carry
//! the session cookie (obtained by opening the printed URL with its random token), a Host header
//! naming this server (no DNS rebinding), and, when it changes anything, the per-server CSRF
//! token as a form field; no CORS headers are ever sent and every byte (HTML, CSS, script) is
//! served by kith itself under a strict Content-Security-Policy. Pages call the same `app`
//! functions as the CLI; vault calls run on the blocking pool. Open pages follow the vault live:
//! `/events` (Server-Sent Events) reports the change counter, polled while a page listens.

mod intro;
mod live;
mod network;
mod opp;
mod pages;
mod shares;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::app::{App, AppError};
use crate::cli::{Ctx, Out};

/// Largest form body accepted (a note may be 1 MiB of text, encoded).
const MAX_FORM: usize = 4 << 20;

/// `kith web` arguments.
#[derive(clap::Args, Debug)]
pub struct WebArgs {
    /// Port to listen on (0: any free port)
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Do not open a browser; only print the URL
    #[arg(long)]
    pub no_open: bool,
    /// Address to listen on (default 127.0.0.1). Anything but loopback exposes the UI to the
    /// network, guarded only by the token
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
}

/// The server's state: the open vault and the secrets of this run.
pub(crate) struct Web {
    app: Mutex<App>,
    /// In the printed URL; exchanged for the session cookie.
    token: String,
    /// The cookie's value.
    session: String,
    /// The hidden field every state-changing form carries.
    csrf: String,
    /// Host header values accepted.
    hosts: Vec<String>,
    /// The Origin a browser sends with our own forms.
    origin: String,
    /// The vault's change counter when the latest page was rendered (`data-seq` of the page,
    /// compared by the live-update script with what `/events` reports).
    seq: AtomicU64,
    /// Set when the server stops: ends the live-update streams.
    stop: tokio::sync::watch::Sender<bool>,
}

fn random_hex() -> String {
    data_encoding::HEXLOWER.encode(&rand::random::<[u8; 32]>())
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Web {
    /// Runs `f` on the vault on the blocking pool, with the clock read now.
    pub(crate) async fn with_app<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&App) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let st = self.clone();
        tokio::task::spawn_blocking(move || {
            // The app reads its clock on every call, so each request sees the time it runs at.
            let app = st
                .app
                .lock()
                .map_err(|_| AppError::user("the web server's vault handle was poisoned"))?;
            if let Ok(seq) = app.vault.read().and_then(|r| r.change_seq()) {
                st.seq.store(seq, Ordering::Relaxed);
            }
            f(&app)
        })
        .await
        .map_err(|e| AppError::user(format!("a request failed: {e}")))?
    }

    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// The change counter read by the latest request, before it ran.
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// The vault's change counter now (without touching [`Web::seq`]); `None` when it cannot be
    /// read.
    pub(crate) async fn change_seq(self: &Arc<Self>) -> Option<u64> {
        let st = self.clone();
        tokio::task::spawn_blocking(move || {
            let app = st.app.lock().ok()?;
            app.vault.read().and_then(|r| r.change_seq()).ok()
        })
        .await
        .ok()
        .flatten()
    }

    /// A receiver that changes to `true` when the server stops.
    pub(crate) fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stop.subscribe()
    }
}

/// A web server bound to its port, ready to serve: `kith web` and `kith daemon --web` build one,
/// print [`Prepared::url`], then run [`Prepared::serve`] on their tokio runtime.
pub struct Prepared {
    listener: std::net::TcpListener,
    st: Arc<Web>,
    /// The address to open, with the token.
    pub url: String,
}

/// Opens the vault and binds `ip:port` (synchronously, so a port in use is reported before
/// anything else starts). The vault handle is this server's own: redb's multi-writer mode
/// serialises it with every other handle (the daemon's, other commands').
pub fn prepare(ctx: &Ctx, ip: IpAddr, port: u16) -> Result<Prepared, AppError> {
    let app = ctx.open()?;
    let listener = std::net::TcpListener::bind(SocketAddr::new(ip, port)).map_err(|e| {
        AppError::hint(
            format!("cannot listen on {ip}:{port}: {e}"),
            "choose another port with --port, or 0 for any free port",
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| AppError::user(format!("cannot listen: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| AppError::user(format!("cannot listen: {e}")))?
        .port();
    let host = match ip {
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("{v4}:{port}"),
    };
    let mut hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    if !hosts.contains(&host) {
        hosts.push(host.clone());
    }
    let st = Arc::new(Web {
        app: Mutex::new(app),
        token: random_hex(),
        session: random_hex(),
        csrf: random_hex(),
        origin: format!("http://{host}"),
        hosts,
        seq: AtomicU64::new(0),
        stop: tokio::sync::watch::channel(false).0,
    });
    let url = format!("http://{host}/?token={}", st.token);
    Ok(Prepared { listener, st, url })
}

impl Prepared {
    /// Serves until SIGINT or SIGTERM, then ends the live-update streams and lets the requests
    /// in flight finish. Must run inside a tokio runtime.
    pub async fn serve(self) -> Result<(), AppError> {
        let listener = tokio::net::TcpListener::from_std(self.listener)
            .map_err(|e| AppError::user(format!("cannot listen: {e}")))?;
        let st = self.st;
        let stopper = st.clone();
        let router = pages::routes()
            .merge(intro::routes())
            .merge(opp::routes())
            .layer(middleware::from_fn_with_state(st.clone(), guard))
            .with_state(st);
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                stop_signal().await;
                // Open event streams would otherwise hold the graceful shutdown forever.
                let _ = stopper.stop.send(true);
            })
            .await
            .map_err(|e| AppError::user(format!("the web server failed: {e}")))
    }
}

/// `kith web`: serves until SIGINT or SIGTERM.
pub fn run(ctx: &Ctx, a: WebArgs, out: &mut Out) -> Result<(), AppError> {
    let ip = a.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    if !ip.is_loopback() {
        out.warn(format!(
            "serving on {ip}, not only this machine: anyone who can reach it and learns the URL can read and change your vault"
        ));
    }
    let server = prepare(ctx, ip, a.port)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AppError::user(format!("cannot start the web server: {e}")))?;
    out.line(&server.url).map_err(crate::cli::io_err)?;
    out.flush().map_err(crate::cli::io_err)?;
    if !a.no_open {
        open_browser(&server.url);
    }
    rt.block_on(server.serve())?;
    out.note("kith web: stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    let int = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = int.await;
                    return;
                }
            };
        tokio::select! {
            _ = int => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = int.await;
}

/// Best effort: the platform's opener; the URL is printed either way.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// A refusal: a short text page with the security headers.
fn refuse(status: StatusCode, msg: &str) -> Response {
    let mut r = (status, format!("{msg}\n")).into_response();
    secure_headers(&mut r);
    r
}

fn secure_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: with it a browser sends `Origin: null` on our own forms, which the
        // Origin check refuses. `same-origin` still tells other sites nothing.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn cookie_session(req: &Request) -> Option<String> {
    for v in req.headers().get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(';') {
            if let Some(s) = part.trim().strip_prefix("kith=") {
                return Some(s.to_string());
            }
        }
    }
    None
}

/// The checks every request passes: Host, token or cookie, and for a POST the Origin and the
/// CSRF field. Adds the security headers to every response.
async fn guard(State(st): State<Arc<Web>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !st.hosts.iter().any(|h| h == host) {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden: this server only answers to the address kith web printed",
        );
    }
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    if let Some((_, token)) = query.iter().find(|(k, _)| k == "token") {
        if !same_secret(token, &st.token) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "unauthorized: this token is not the one kith web printed",
            );
        }
        // Trade the token for the cookie and drop it from the address bar.
        let rest: Vec<&(String, String)> = query.iter().filter(|(k, _)| k != "token").collect();
        let mut to = req.uri().path().to_string();
        if !rest.is_empty() {
            to.push('?');
            to.push_str(&serde_urlencoded::to_string(rest).unwrap_or_default());
        }
        let mut r = Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, to)
            .header(
                header::SET_COOKIE,
                format!("kith={}; HttpOnly; SameSite=Strict; Path=/", st.session),
            )
            .body(Body::empty())
            .unwrap_or_default();
        secure_headers(&mut r);
        return r;
    }
    if !cookie_session(&req).is_some_and(|s| same_secret(&s, &st.session)) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized: open the address `kith web` printed (it carries the token)",
        );
    }
    let req = if req.method() == Method::POST {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            if origin.as_bytes() != st.origin.as_bytes() {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "forbidden: the form came from another site",
                );
            }
        }
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the form is too large (at most 4 MiB)",
            );
        };
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let ok = fields
            .iter()
            .any(|(k, v)| k == "csrf" && same_secret(v, &st.csrf));
        if !ok {
            return refuse(
                StatusCode::FORBIDDEN,
                "forbidden: the form lacks this server's CSRF token; reload the page and try again",
            );
        }
        Request::from_parts(parts, Body::from(bytes))
    } else if req.method() == Method::GET || req.method() == Method::HEAD {
        req
    } else {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    };
    let mut r = next.run(req).await;
    secure_headers(&mut r);
    r
}
