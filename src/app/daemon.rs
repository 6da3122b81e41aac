//! The daemon (`serve`) and its push policy (`PushPolicy`, a pure type: which of the user's
//! devices to push to, and when).
//!
//! The daemon sleeps until a kith process commits to the vault (a datagram on the socket next
//! to it, see `store::notify`), then reads the vault's change counter (`change_seq`). A device
//! is pushed to when the counter moved since the last push to it that succeeded, no push to it
//! is running (one session per peer), and it is not waiting out a backoff after a failure (1 s,
//! doubling, at most 60 s). A success clears the backoff and records the counter *at the
//! start* of the push, so an edit made during it triggers another round. A push that moves
//! nothing while a newer change waits is aborted and counts as failed, so a stuck session
//! never holds back later changes. `PushPolicy` does no I/O and reads no clock: the caller
//! passes `now`.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iroh::EndpointId;
use kith_core::sync::ALPN as SYNC_ALPN;

use super::sync::{runtime, sync_one, SyncReport};
use super::AppError;
use crate::net::{self, session, NetConfig};
use crate::store::Vault;

/// The first retry delay after a failed push.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest retry delay.
pub const MAX_RETRY: Duration = Duration::from_secs(60);

/// Push bookkeeping per peer `P`.
#[derive(Debug)]
pub struct PushPolicy<P> {
    /// The change counter each peer holds everything up to (the start of its last good push).
    pushed: HashMap<P, u64>,
    /// When a failed peer may be tried again, and the delay that was applied.
    retry: HashMap<P, (Instant, Duration)>,
    /// Running pushes: the change counter at their start.
    running: HashMap<P, u64>,
}

impl<P> Default for PushPolicy<P> {
    fn default() -> Self {
        PushPolicy {
            pushed: HashMap::new(),
            retry: HashMap::new(),
            running: HashMap::new(),
        }
    }
}

impl<P: Eq + Hash + Clone> PushPolicy<P> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The peers among `peers` to start a push to now, given the vault's change counter `seq`.
    pub fn due(&self, peers: impl IntoIterator<Item = P>, seq: u64, now: Instant) -> Vec<P> {
        peers
            .into_iter()
            .filter(|p| {
                !self.running.contains_key(p)
                    && self.pushed.get(p) != Some(&seq)
                    && self.retry.get(p).is_none_or(|(at, _)| now >= *at)
            })
            .collect()
    }

    /// A push to `peer` started at change counter `seq`.
    pub fn started(&mut self, peer: P, seq: u64) {
        self.running.insert(peer, seq);
    }

    pub fn is_running(&self, peer: &P) -> bool {
        self.running.contains_key(peer)
    }

    /// The earliest time after `now` at which a failed peer may be tried again (the daemon
    /// sleeps until then at most).
    pub fn next_retry(&self, now: Instant) -> Option<Instant> {
        self.retry
            .iter()
            .filter(|(p, (at, _))| *at > now && !self.running.contains_key(p))
            .map(|(_, (at, _))| *at)
            .min()
    }

    /// A push to `peer` ended. Returns the delay before the next try when it failed.
    pub fn finished(&mut self, peer: &P, ok: bool, now: Instant) -> Option<Duration> {
        let seq = self.running.remove(peer)?;
        if ok {
            self.retry.remove(peer);
            self.pushed.insert(peer.clone(), seq);
            None
        } else {
            let delay = self
                .retry
                .get(peer)
                .map(|(_, d)| (*d * 2).min(MAX_RETRY))
                .unwrap_or(FIRST_RETRY);
            self.retry.insert(peer.clone(), (now + delay, delay));
            Some(delay)
        }
    }
}

/// The daemon's lock file in a home.
pub fn lock_path(home: &Path) -> PathBuf {
    home.join("daemon.lock")
}

/// Takes `<home>/daemon.lock`, an advisory lock the OS releases when the process ends, for the
/// daemon's life: a second daemon on the same home is refused, whatever port it would use. The
/// file stays empty (only the lock matters), so it needs no atomic write.
pub fn lock(home: &Path) -> Result<std::fs::File, AppError> {
    let path = lock_path(home);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| AppError::user(format!("cannot open {}: {e}", path.display())))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(AppError::hint(
            format!("a kith daemon is already running for {}", home.display()),
            "stop it first, or use it: one daemon per home",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(AppError::user(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// Whether a daemon runs on this home now (it holds the lock). Creates nothing.
pub fn running(home: &Path) -> bool {
    let Ok(f) = std::fs::OpenOptions::new()
        .write(true)
        .open(lock_path(home))
    else {
        return false;
    };
    matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// What a running daemon reports (the CLI turns these into log lines).
#[derive(Debug)]
pub enum DaemonEvent {
    /// Listening: this device's id and the addresses it listens on.
    Ready {
        id: String,
        addrs: Vec<String>,
    },
    /// A session another device started failed.
    ResponderFailed {
        peer: String,
        error: String,
    },
    /// A push failed; the next try is after `retry`.
    PushFailed {
        name: String,
        error: String,
        retry: Duration,
    },
    Stopped,
}

/// How often the daemon looks at the change counter when it cannot get change notifications
/// (the socket could not be bound): a slow fallback poll. `KITH_DAEMON_POLL_MS` sets it.
const FALLBACK_POLL: Duration = Duration::from_secs(1);
/// While a push runs, how often the daemon checks that it still moves.
const STALL_CHECK: Duration = Duration::from_secs(1);
/// A push that moved no byte for this long while a newer change waits is aborted, so that the
/// change goes out in a new session (one session per peer must not mean one stuck session
/// per peer). `KITH_DAEMON_STALL_MS` sets it.
const PUSH_STALL: Duration = Duration::from_secs(10);

fn env_ms(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
}

/// Binds the change-notification socket (see `store::notify`). The caller holds the daemon
/// lock, so a socket file already there was left by a daemon that died: it is replaced.
/// `KITH_DAEMON_NOTIFY=off` (benchmarks, tests) leaves the daemon on the fallback poll.
fn bind_notifier(path: &Path) -> Option<tokio::net::UnixDatagram> {
    if std::env::var("KITH_DAEMON_NOTIFY").is_ok_and(|v| v == "off") {
        return None;
    }
    let _ = std::fs::remove_file(path);
    let sock = tokio::net::UnixDatagram::bind(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Some(sock)
}

/// A push in flight.
struct Push {
    name: String,
    /// Tells this push's completion from that of an aborted one.
    generation: u64,
    /// The change counter at its start.
    seq: u64,
    /// Bytes moved so far (both ways) and when that number last grew.
    moved: Arc<std::sync::Mutex<(u64, Instant)>>,
    handle: tokio::task::JoinHandle<()>,
}

/// A task run on the daemon's runtime beside sync (the web UI of `kith daemon --web`). It
/// watches SIGINT/SIGTERM itself; after the daemon stops it is given 5 s to finish, then
/// dropped.
pub type Companion =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), AppError>> + Send>>;

/// Runs the daemon until SIGINT or SIGTERM: answers sessions from trusted devices and pushes
/// changes to them by [`PushPolicy`]. `vault` is already open; the caller holds the daemon
/// lock ([`lock`]).
///
/// It sleeps until something happens: a datagram on the notification socket (any kith process
/// committed a write to this vault), a push ending, a retry coming due, or, while a push runs,
/// the once-a-second check that it still moves. Idle, it does no work at all.
pub fn serve(
    vault: Arc<Vault>,
    home: &std::path::Path,
    cfg: NetConfig,
    now: i64,
    on_event: &mut dyn FnMut(DaemonEvent) -> Result<(), AppError>,
) -> Result<(), AppError> {
    serve_with(vault, home, cfg, now, None, on_event)
}

/// [`serve`], with a [`Companion`] task started beside it.
pub fn serve_with(
    vault: Arc<Vault>,
    home: &std::path::Path,
    cfg: NetConfig,
    now: i64,
    companion: Option<Companion>,
    on_event: &mut dyn FnMut(DaemonEvent) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let key = net::device_key(home)?;
    let me = key.public();
    let stall = env_ms("KITH_DAEMON_STALL_MS").unwrap_or(PUSH_STALL);
    let fallback = env_ms("KITH_DAEMON_POLL_MS").unwrap_or(FALLBACK_POLL);
    let sock_path = vault.notify_socket();
    runtime()?.block_on(async {
        let mut notifier = bind_notifier(&sock_path);
        let companion = companion.map(tokio::spawn);
        let ep = net::bind(
            &cfg,
            key,
            vec![
                SYNC_ALPN.to_vec(),
                net::share::SHARE_ALPN.to_vec(),
                net::slices::SLICES_ALPN.to_vec(),
            ],
        )
        .await?;
        let addrs = net::listen_addrs(&ep);
        net::blocking(&vault, {
            let addrs = addrs.clone();
            move |v| {
                let name = net::default_device_name_for(v, &me);
                net::register_self(v, &me, &name, &addrs, now)
            }
        })
        .await?;
        on_event(DaemonEvent::Ready {
            id: net::id_hex(&me),
            addrs: addrs.iter().cloned().collect(),
        })?;
        // Accept loop; failures come back to this loop to be reported.
        let (fail_tx, mut fail_rx) = tokio::sync::mpsc::unbounded_channel::<DaemonEvent>();
        let acc_vault = vault.clone();
        let acc_ep = ep.clone();
        // Test hook: `KITH_FAULT_SILENT_RESPONSES=N` makes the first N admitted sessions hang
        // (the stream is accepted, nothing is read or written): a stalled peer.
        let silent = Arc::new(std::sync::atomic::AtomicU32::new(
            std::env::var("KITH_FAULT_SILENT_RESPONSES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ));
        let accepter = tokio::spawn(async move {
            while let Some(incoming) = acc_ep.accept().await {
                let v = acc_vault.clone();
                let fail_tx = fail_tx.clone();
                let silent = silent.clone();
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    // Persons' share sessions: their own trust check (docs/design/sharing.md).
                    if conn.alpn() == net::share::SHARE_ALPN {
                        if let Err(e) = net::share::serve_conn(v, conn).await {
                            tracing::info!("share session: {e}");
                        }
                        return;
                    }
                    // Received slices for an own device (it checks the membership itself).
                    if conn.alpn() == net::slices::SLICES_ALPN {
                        match net::slices::serve_conn(v, conn).await {
                            Ok(m) => tracing::info!("slices session: {m}"),
                            Err(e) => tracing::info!("slices session: {e}"),
                        }
                        return;
                    }
                    let admitted = {
                        let (v, c) = (v.clone(), conn.clone());
                        net::blocking(&v, move |v| net::admit(v, &c)).await
                    };
                    if conn.alpn() != SYNC_ALPN || !admitted {
                        return;
                    }
                    use std::sync::atomic::Ordering::SeqCst;
                    if silent
                        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        let _held = conn.accept_bi().await;
                        tokio::time::sleep(Duration::from_secs(300)).await;
                        return;
                    }
                    if let Err(e) = session::respond(v, &conn).await {
                        let _ = fail_tx.send(DaemonEvent::ResponderFailed {
                            peer: net::id_hex(&conn.remote_id())[..8].to_string(),
                            error: e.to_string(),
                        });
                    }
                });
            }
        });
        // Push loop: when the vault changes (an edit by another kith command, or data
        // received), sync with every trusted device, in parallel, one session per device.
        let mut policy: PushPolicy<EndpointId> = PushPolicy::new();
        let (done_tx, mut done_rx) =
            tokio::sync::mpsc::unbounded_channel::<(EndpointId, u64, SyncReport)>();
        let mut running: HashMap<EndpointId, Push> = HashMap::new();
        // Received slices go to own devices when they change (`net::slices::push_to`), under
        // the same policy keyed by the slices mark instead of the change counter.
        let mut slice_policy: PushPolicy<EndpointId> = PushPolicy::new();
        let (slice_tx, mut slice_rx) = tokio::sync::mpsc::unbounded_channel::<(EndpointId, bool)>();
        let mut generation = 0u64;
        let mut seen_seq: Option<u64> = None;
        let mut peers: Vec<(iroh::EndpointAddr, String)> = Vec::new();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| AppError::user(format!("cannot watch for SIGTERM: {e}")))?;
        let mut buf = [0u8; 64];
        // The first round runs at once: changes made while no daemon ran go out now.
        let mut first = true;
        loop {
            let mut ended: Vec<(EndpointId, u64, SyncReport)> = Vec::new();
            if !first {
                let now = Instant::now();
                let mut wake = match (policy.next_retry(now), slice_policy.next_retry(now)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if !running.is_empty() {
                    wake = Some(wake.map_or(now + STALL_CHECK, |w| w.min(now + STALL_CHECK)));
                }
                if notifier.is_none() {
                    wake = Some(wake.map_or(now + fallback, |w| w.min(now + fallback)));
                }
                let sleep = async {
                    match wake {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => std::future::pending().await,
                    }
                };
                let notified = async {
                    match &notifier {
                        Some(s) => s.recv(&mut buf).await.is_ok(),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    ok = notified => {
                        if !ok {
                            // The socket broke: fall back to the slow poll.
                            notifier = None;
                        }
                    }
                    Some(d) = done_rx.recv() => ended.push(d),
                    Some((id, ok)) = slice_rx.recv() => { slice_policy.finished(&id, ok, Instant::now()); }
                    _ = sleep => {}
                    Some(ev) = fail_rx.recv() => { on_event(ev)?; continue; }
                    _ = tokio::signal::ctrl_c() => break,
                    _ = term.recv() => break,
                }
            }
            first = false;
            // Coalesce: every notification and completion that arrived meanwhile.
            if let Some(s) = &notifier {
                while s.try_recv(&mut buf).is_ok() {}
            }
            while let Ok(d) = done_rx.try_recv() {
                ended.push(d);
            }
            while let Ok((id, ok)) = slice_rx.try_recv() {
                slice_policy.finished(&id, ok, Instant::now());
            }
            let any_done = !ended.is_empty();
            for (id, gen, report) in ended {
                if running.get(&id).is_none_or(|p| p.generation != gen) {
                    continue; // a push that was aborted as stalled
                }
                let Some(p) = running.remove(&id) else {
                    continue;
                };
                if let Some(retry) = policy.finished(&id, report.ok, Instant::now()) {
                    on_event(DaemonEvent::PushFailed {
                        name: p.name,
                        error: report.error,
                        retry,
                    })?;
                }
            }
            let Ok(seq) = net::blocking(&vault, |v| v.read().and_then(|r| r.change_seq())).await
            else {
                continue;
            };
            // A push that moves nothing while a newer change waits is given up, so the change
            // goes out in a new session.
            let stalled: Vec<EndpointId> = running
                .iter()
                .filter(|(_, p)| {
                    seq > p.seq && p.moved.lock().is_ok_and(|m| m.1.elapsed() >= stall)
                })
                .map(|(id, _)| *id)
                .collect();
            for id in stalled {
                let Some(p) = running.remove(&id) else {
                    continue;
                };
                p.handle.abort();
                if let Some(retry) = policy.finished(&id, false, Instant::now()) {
                    on_event(DaemonEvent::PushFailed {
                        name: p.name,
                        error: format!(
                            "nothing moved for {:.1} s while a newer change waited; aborted",
                            stall.as_secs_f64()
                        ),
                        retry,
                    })?;
                }
            }
            // The membership (and the addresses learnt) is reloaded only when something changed.
            if seen_seq != Some(seq) || any_done {
                match net::blocking(&vault, move |v| net::trusted_peers(v, &me)).await {
                    Ok(p) => {
                        peers = p;
                        seen_seq = Some(seq);
                    }
                    Err(_) => continue,
                }
            }
            let due = policy.due(peers.iter().map(|(a, _)| a.id), seq, Instant::now());
            for (addr, name) in peers.iter().filter(|(a, _)| due.contains(&a.id)) {
                generation += 1;
                let moved = Arc::new(std::sync::Mutex::new((0u64, Instant::now())));
                let progress: super::sync::Progress = {
                    let moved = moved.clone();
                    Arc::new(move |_: &str, s: &kith_core::sync::Summary| {
                        let total = s.bytes_sent + s.bytes_received;
                        if let Ok(mut m) = moved.lock() {
                            if total != m.0 {
                                *m = (total, Instant::now());
                            }
                        }
                    })
                };
                let (id, gen, done_tx) = (addr.id, generation, done_tx.clone());
                let push = sync_one(
                    vault.clone(),
                    ep.clone(),
                    addr.clone(),
                    name.clone(),
                    Duration::from_secs(5),
                    Some(progress),
                );
                let handle = tokio::spawn(async move {
                    let report = push.await;
                    let _ = done_tx.send((id, gen, report));
                });
                policy.started(addr.id, seq);
                running.insert(
                    addr.id,
                    Push {
                        name: name.clone(),
                        generation: gen,
                        seq,
                        moved,
                        handle,
                    },
                );
            }
            // Received slices that changed here (a `kith share sync`, a push from another own
            // device) go to the own devices not given this mark yet.
            let mark = net::blocking(&vault, |v| super::share::Sharing { vault: v, now: 0 }.slices_mark())
                .await
                .unwrap_or(0);
            if mark != 0 {
                let due = slice_policy.due(peers.iter().map(|(a, _)| a.id), mark, Instant::now());
                for (addr, name) in peers.iter().filter(|(a, _)| due.contains(&a.id)) {
                    slice_policy.started(addr.id, mark);
                    let (v, ep, addr, name, tx) =
                        (vault.clone(), ep.clone(), addr.clone(), name.clone(), slice_tx.clone());
                    tokio::spawn(async move {
                        let id = addr.id;
                        let out = net::slices::push_to(v, ep, addr).await;
                        match &out {
                            Ok(m) => tracing::info!("slices pushed to {name}: {m}"),
                            Err(e) => tracing::warn!("slices push to {name} failed: {e}"),
                        }
                        let _ = tx.send((id, out.is_ok()));
                    });
                }
            }
        }
        for (_, p) in running {
            p.handle.abort();
        }
        accepter.abort();
        ep.close().await;
        if notifier.is_some() {
            let _ = std::fs::remove_file(&sock_path);
        }
        if let Some(h) = companion {
            let abort = h.abort_handle();
            match tokio::time::timeout(Duration::from_secs(5), h).await {
                Ok(Ok(Err(e))) => return Err(e),
                Ok(_) => {}
                Err(_) => abort.abort(),
            }
        }
        on_event(DaemonEvent::Stopped)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_each_change_once_per_peer() {
        let mut p = PushPolicy::new();
        let t = Instant::now();
        assert_eq!(p.due(["a", "b"], 5, t), vec!["a", "b"]);
        p.started("a", 5);
        p.started("b", 5);
        // One session per peer: nothing new while both run, even after another change.
        assert!(p.due(["a", "b"], 6, t).is_empty());
        assert_eq!(p.finished(&"a", true, t), None);
        // `a` got everything up to 5; the change to 6 made meanwhile is pushed again.
        assert_eq!(p.due(["a", "b"], 6, t), vec!["a"]);
        assert!(p.due(["a", "b"], 5, t).is_empty());
        p.started("a", 6);
        p.finished(&"a", true, t);
        assert!(p.due(["a"], 6, t).is_empty(), "idle: nothing to push");
        // A peer that appears later (paired meanwhile) gets a push.
        assert_eq!(p.due(["a", "c"], 6, t), vec!["c"]);
    }

    #[test]
    fn failures_back_off_doubling_up_to_a_minute_and_success_resets() {
        let mut p = PushPolicy::new();
        let t0 = Instant::now();
        let mut t = t0;
        let mut delays = Vec::new();
        for _ in 0..9 {
            assert_eq!(p.due(["a"], 1, t), vec!["a"]);
            p.started("a", 1);
            let d = p.finished(&"a", false, t).expect("a failure gives a delay");
            // Not before the delay is over, even when the vault changes.
            assert!(p.due(["a"], 2, t + d - Duration::from_millis(1)).is_empty());
            delays.push(d.as_secs());
            t += d;
        }
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        p.started("a", 1);
        assert_eq!(p.finished(&"a", true, t), None);
        p.started("a", 2);
        assert_eq!(p.finished(&"a", false, t), Some(FIRST_RETRY));
    }

    #[test]
    fn a_finish_without_a_start_is_ignored() {
        let mut p: PushPolicy<&str> = PushPolicy::new();
        assert_eq!(p.finished(&"x", false, Instant::now()), None);
        assert_eq!(p.due(["x"], 0, Instant::now()), vec!["x"]);
        assert!(!p.is_running(&"x"));
    }
}
