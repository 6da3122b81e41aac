//! The daemon's push policy, as a pure type: which of the user's devices to push to, and when.
//!
//! The daemon watches the vault's change counter (`change_seq`): a device is pushed to when the
//! counter moved since the last push to it that succeeded, no push to it is running (one
//! session per peer), and it is not waiting out a backoff after a failure (1 s, doubling, at
//! most 60 s). A success clears the backoff and records the counter *at the start* of the
//! push, so an edit made during it triggers another round. No I/O and no clock here: the
//! caller passes `now`.

use std::collections::HashMap;
use std::hash::Hash;
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

/// How often the daemon looks at the change counter (one small read; the membership document
/// is loaded only when the counter moved or a push ended).
const POLL: Duration = Duration::from_millis(100);

/// Runs the daemon until SIGINT or SIGTERM: answers sessions from trusted devices and pushes
/// changes to them by [`PushPolicy`]. `vault` is already open; the caller holds the daemon
/// lock.
pub fn serve(
    vault: Arc<Vault>,
    home: &std::path::Path,
    cfg: NetConfig,
    now: i64,
    on_event: &mut dyn FnMut(DaemonEvent) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let key = net::device_key(home)?;
    let me = key.public();
    runtime()?.block_on(async {
        let ep = net::bind(
            &cfg,
            key,
            vec![SYNC_ALPN.to_vec(), net::share::SHARE_ALPN.to_vec()],
        )
        .await?;
        let addrs = net::listen_addrs(&ep);
        let name = net::default_device_name_for(&vault, &me);
        net::register_self(&vault, &me, &name, &addrs, now)?;
        on_event(DaemonEvent::Ready {
            id: net::id_hex(&me),
            addrs: addrs.iter().cloned().collect(),
        })?;
        // Accept loop; failures come back to this loop to be reported.
        let (fail_tx, mut fail_rx) = tokio::sync::mpsc::unbounded_channel::<DaemonEvent>();
        let acc_vault = vault.clone();
        let acc_ep = ep.clone();
        let accepter = tokio::spawn(async move {
            while let Some(incoming) = acc_ep.accept().await {
                let v = acc_vault.clone();
                let fail_tx = fail_tx.clone();
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    // Persons' share sessions: their own trust check (docs/design/sharing.md).
                    if conn.alpn() == net::share::SHARE_ALPN {
                        if let Err(e) = net::share::serve_conn(v, conn).await {
                            tracing::info!("share session: {e}");
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
        type Push = tokio::task::JoinHandle<SyncReport>;
        let mut running: HashMap<EndpointId, (String, Push)> = HashMap::new();
        let mut seen_seq: Option<u64> = None;
        let mut peers: Vec<(iroh::EndpointAddr, String)> = Vec::new();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| AppError::user(format!("cannot watch for SIGTERM: {e}")))?;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                Some(ev) = fail_rx.recv() => { on_event(ev)?; continue; }
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
            }
            let done: Vec<EndpointId> = running
                .iter()
                .filter(|(_, (_, h))| h.is_finished())
                .map(|(id, _)| *id)
                .collect();
            let any_done = !done.is_empty();
            for id in done {
                let Some((name, handle)) = running.remove(&id) else {
                    continue;
                };
                let (ok, error) = match handle.await {
                    Ok(r) => (r.ok, r.error),
                    Err(e) => (false, e.to_string()),
                };
                if let Some(retry) = policy.finished(&id, ok, Instant::now()) {
                    on_event(DaemonEvent::PushFailed { name, error, retry })?;
                }
            }
            let Ok(seq) = net::blocking(&vault, |v| v.read().and_then(|r| r.change_seq())).await
            else {
                continue;
            };
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
                let h = tokio::spawn(sync_one(
                    vault.clone(),
                    ep.clone(),
                    addr.clone(),
                    name.clone(),
                    Duration::from_secs(5),
                    None,
                ));
                policy.started(addr.id, seq);
                running.insert(addr.id, (name.clone(), h));
            }
        }
        for (_, (_, h)) in running {
            h.abort();
        }
        accepter.abort();
        ep.close().await;
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
