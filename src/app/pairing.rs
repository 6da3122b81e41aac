//! Pairing a new device: the invite window and the join flow (`kith/pair/1`, then the first
//! sync). Progress is reported through a callback ([`PairEvent`]); nothing here prints.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iroh::endpoint::Connection;
use iroh::{EndpointAddr, EndpointId};
use kith_core::devices::{self, DEVICES_DOC};
use kith_core::sync::{Summary, ALPN as SYNC_ALPN};

use super::devices::device_name;
use super::sync::runtime;
use super::{am_err, AppError};
use crate::net::{self, pair, session, NetConfig};
use crate::store::Vault;

/// What a pairing flow reports as it goes.
#[derive(Debug)]
pub enum PairEvent {
    /// The ticket to show the user (invite); the window is open from now on.
    Ticket(String),
    /// Paired with a device (its name and id).
    Paired { name: String, id: String },
    /// The first sync with it is running: the counts so far (after each batch).
    Progress { name: String, summary: Summary },
    /// The first sync with it ended.
    Synced {
        name: String,
        summary: Summary,
        elapsed: Duration,
    },
    /// Something went wrong that does not end the flow (a refused attempt, a failed first sync
    /// on the inviting side).
    Warning(String),
}

/// Opens an invite window (`kith device invite`): reports the ticket, admits the first device
/// that joins with it, answers its first sync, and returns. `name` is this device's name as
/// given with `--name` (recorded), else the recorded one is used.
pub fn invite(
    vault: Arc<Vault>,
    home: &Path,
    cfg: NetConfig,
    now: i64,
    name: Option<String>,
    on_event: &mut dyn FnMut(PairEvent) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let explicit = name.is_some();
    let key = net::device_key(home)?;
    let me = key.public();
    // The name the joiner is told: --name (recorded as this device's name), else the recorded one.
    let name = match name {
        Some(n) => device_name(Some(n))?,
        None => net::default_device_name_for(&vault, &me),
    };
    if explicit {
        let mine = net::id_hex(&me);
        vault.write(now, |w| {
            let mut l = w.load_or_create(DEVICES_DOC)?;
            devices::add_device(&mut l.doc, &mine, &name, &mine, now).map_err(am_err)?;
            devices::rename_device(&mut l.doc, &mine, &name).map_err(am_err)?;
            w.save(l)?;
            Ok::<_, AppError>(())
        })?;
    }
    // With this home's daemon running, the daemon holds the configured port and its addresses
    // are the ones recorded for this device: the invite window listens on another port of the
    // same interface, and its short-lived addresses go into the ticket only, never into the
    // membership document (the joiner learns the daemon's from the first sync).
    let daemon_runs = super::daemon::running(home);
    let mut cfg = cfg;
    if daemon_runs {
        cfg.bind = cfg.bind.map(|b| std::net::SocketAddr::new(b.ip(), 0));
    }
    let rt = runtime()?;
    rt.block_on(async {
        let ep = net::bind(&cfg, key, vec![pair::ALPN.to_vec(), SYNC_ALPN.to_vec()]).await?;
        let addrs = net::listen_addrs(&ep);
        let advertised = if daemon_runs { Default::default() } else { addrs.clone() };
        net::blocking(&vault, {
            let name = name.clone();
            move |v| net::register_self(v, &me, &name, &advertised, now)
        })
        .await?;
        let secret: [u8; 16] = rand::random();
        let ticket = pair::Ticket {
            version: 1,
            device: *me.as_bytes(),
            addrs: addrs.iter().filter_map(|a| a.parse().ok()).collect(),
            secret,
            expires: net::now_ms() + pair::TICKET_LIFETIME_MS,
        };
        on_event(PairEvent::Ticket(ticket.encode()))?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(pair::TICKET_LIFETIME_MS as u64);
        let mut joined: Option<(EndpointId, String)> = None;
        // Each connection runs in its own task with a time limit, so a host that connects and
        // says nothing (or is slow) cannot block the ticket: the inviter keeps accepting.
        let used = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Attempt>();
        // Test hook: `KITH_TEST_INVITE_STAY_FOR=N` keeps the window open after the first sync
        // until N more pairing attempts were answered (so a test can reuse the ticket).
        let mut stay_for: u32 = std::env::var("KITH_TEST_INVITE_STAY_FOR")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut synced = false;
        loop {
            let incoming = tokio::select! {
                i = ep.accept() => i,
                Some(msg) = rx.recv() => {
                    match msg {
                        Attempt::Paired(Ok(Some(j))) => {
                            on_event(PairEvent::Paired { name: j.1.clone(), id: net::id_hex(&j.0) })?;
                            joined = Some(j);
                        }
                        Attempt::Paired(Ok(None)) => {}
                        Attempt::Paired(Err(e)) => {
                            on_event(PairEvent::Warning(e))?;
                            if synced {
                                stay_for = stay_for.saturating_sub(1);
                                if stay_for == 0 {
                                    break;
                                }
                            }
                        }
                        Attempt::Synced(peer, started, result) => {
                            if let Some((jid, jname)) = &joined {
                                if *jid == peer {
                                    on_event(match result {
                                        Ok(summary) => PairEvent::Synced { name: jname.clone(), summary, elapsed: started.elapsed() },
                                        Err(e) => PairEvent::Warning(format!("first sync with {jname} failed: {e}; run `kith sync` later")),
                                    })?;
                                    synced = true;
                                    if stay_for == 0 {
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    ep.close().await;
                    return Err(AppError::hint("no device joined before the ticket expired", "run `kith device invite` again"));
                }
                _ = tokio::signal::ctrl_c() => {
                    ep.close().await;
                    return Err(AppError::user("interrupted; the ticket is no longer valid"));
                }
            };
            let Some(incoming) = incoming else { break };
            let (tx, vault, used, name) = (tx.clone(), vault.clone(), used.clone(), name.clone());
            let expires = ticket.expires;
            tokio::spawn(async move {
                let Ok(Ok(conn)) = tokio::time::timeout(PAIR_ATTEMPT_TIMEOUT, incoming).await else {
                    return;
                };
                if conn.alpn() == pair::ALPN {
                    let r = tokio::time::timeout(
                        PAIR_ATTEMPT_TIMEOUT,
                        handle_join(&vault, &conn, &secret, expires, &used, &name),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        conn.close(1u32.into(), b"pairing timed out");
                        Err(format!(
                            "dropped a pairing attempt from {} that sent nothing for {} s",
                            &net::id_hex(&conn.remote_id())[..8],
                            PAIR_ATTEMPT_TIMEOUT.as_secs()
                        ))
                    });
                    let _ = tx.send(Attempt::Paired(r));
                } else if conn.alpn() == SYNC_ALPN || net::is_old_sync(conn.alpn()) {
                    let admitted = {
                        let c = conn.clone();
                        net::blocking(&vault, move |v| net::admit(v, &c)).await
                    };
                    if !admitted {
                        return;
                    }
                    let started = Instant::now();
                    let result = session::respond(vault.clone(), &conn).await;
                    let _ = tx.send(Attempt::Synced(conn.remote_id(), started, result));
                }
            });
        }
        ep.close().await;
        Ok(())
    })
}

/// How long one pairing attempt (handshake, request, reply) may take on the inviting side.
const PAIR_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// What a connection task of the invite window reports to it.
enum Attempt {
    Paired(Result<Option<(EndpointId, String)>, String>),
    Synced(EndpointId, Instant, Result<Summary, session::SessionError>),
}

/// Inviter side of one pairing attempt. Ok(Some) when the device was admitted. `used` is
/// claimed (atomically) by the first attempt with the right secret.
async fn handle_join(
    vault: &Arc<Vault>,
    conn: &Connection,
    secret: &[u8; 16],
    expires: i64,
    used: &std::sync::atomic::AtomicBool,
    my_name: &str,
) -> Result<Option<(EndpointId, String)>, String> {
    let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
    let req: pair::JoinRequest = match pair::read_frame(&mut recv).await {
        Ok(r) => r,
        Err(e) => {
            conn.close(1u32.into(), b"bad pairing request");
            return Err(format!("refused a malformed pairing request: {e}"));
        }
    };
    let refuse = |reason: &str| pair::JoinReply {
        ok: false,
        reason: reason.to_string(),
        name: String::new(),
    };
    let verdict = if !pair::secret_eq(&req.secret, secret) {
        Some(refuse("wrong ticket secret"))
    } else if net::now_ms() > expires {
        Some(refuse("this ticket expired"))
    } else if used.swap(true, std::sync::atomic::Ordering::SeqCst) {
        Some(refuse("this ticket was already used"))
    } else {
        None
    };
    if let Some(reply) = verdict {
        let _ = pair::write_frame(&mut send, &reply).await;
        let _ = send.finish();
        let reason = reply.reason.clone();
        tokio::time::sleep(Duration::from_millis(200)).await;
        conn.close(3u32.into(), reason.as_bytes());
        return Err(format!("refused a pairing attempt: {reason}"));
    }
    let peer = conn.remote_id();
    let peer_hex = net::id_hex(&peer);
    let name = req
        .name
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect::<String>();
    let addrs: std::collections::BTreeSet<String> = req
        .addrs
        .iter()
        .filter(|a| a.parse::<std::net::SocketAddr>().is_ok())
        .take(16)
        .cloned()
        .collect();
    let now = net::now_ms();
    let recorded = net::blocking(vault, {
        let name = name.clone();
        move |vault| {
            vault.write(now, |w| {
                let mut l = w.load_or_create(DEVICES_DOC)?;
                let removed = devices::trust_of(&l.doc, &peer_hex) == devices::Trust::Removed;
                if removed {
                    return Ok(false);
                }
                devices::add_device(&mut l.doc, &peer_hex, &name, "", now).map_err(am_err)?;
                devices::set_addrs(&mut l.doc, &peer_hex, &addrs).map_err(am_err)?;
                w.save(l)?;
                Ok::<_, AppError>(true)
            })
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    if !recorded {
        let _ = pair::write_frame(
            &mut send,
            &refuse("this device was removed from the vault; it cannot be added again"),
        )
        .await;
        let _ = send.finish();
        return Err("refused a removed device".into());
    }
    let reply = pair::JoinReply {
        ok: true,
        reason: String::new(),
        name: my_name.to_string(),
    };
    pair::write_frame(&mut send, &reply).await?;
    let _ = send.finish();
    // Wait for the joiner to read the reply before the connection goes.
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    Ok(Some((peer, name)))
}

/// Joins the device that printed `ticket` (`kith device join`), then runs the first sync.
/// Returns the inviter's id and name.
pub fn join(
    vault: Arc<Vault>,
    home: &Path,
    cfg: NetConfig,
    now: i64,
    ticket: &pair::Ticket,
    name: String,
    on_event: &mut dyn FnMut(PairEvent) -> Result<(), AppError>,
) -> Result<(String, String), AppError> {
    let key = net::device_key(home)?;
    let me = key.public();
    if me.as_bytes() == &ticket.device {
        return Err(AppError::user(
            "this ticket was printed by this very device; run `kith device join` on the other one",
        ));
    }
    let rt = runtime()?;
    rt.block_on(async {
        let ep = net::bind(&cfg, key, vec![SYNC_ALPN.to_vec()]).await?;
        let addrs = net::listen_addrs(&ep);
        net::blocking(&vault, {
            let (name, addrs) = (name.clone(), addrs.clone());
            move |v| net::register_self(v, &me, &name, &addrs, now)
        })
        .await?;
        let target: EndpointAddr = ticket.addr();
        let conn = tokio::time::timeout(Duration::from_secs(20), ep.connect(target.clone(), pair::ALPN))
            .await
            .map_err(|_| AppError::hint("could not reach the inviting device within 20 s", "is `kith device invite` still running there, and are both devices on a network that can reach each other?"))?
            .map_err(|e| AppError::hint(format!("could not reach the inviting device: {e}"), "is `kith device invite` still running there?"))?;
        // Test hook: a joiner that connects and then says nothing (a host blocking the ticket).
        if std::env::var_os("KITH_FAULT_PAIR_SILENT").is_some() {
            let _held = conn.open_bi().await;
            tokio::time::sleep(Duration::from_secs(60)).await;
            return Err(AppError::user("silent joiner gave up"));
        }
        let req = pair::JoinRequest { secret: ticket.secret, name: name.clone(), addrs: addrs.iter().cloned().collect() };
        let inviter_name = pair::request_join(&conn, &req).await?;
        conn.close(0u32.into(), b"paired");
        let inviter = net::id_hex(&target.id);
        on_event(PairEvent::Paired { name: inviter_name.clone(), id: inviter.clone() })?;
        let started = Instant::now();
        // The first sync brings the inviter's membership document, whose entry for the inviter
        // carries the addresses it advertises (its daemon's, when one runs there). The inviter
        // is recorded only after it, and the ticket's addresses (the invite window's) only when
        // that entry has none: an entry written here before the sync would compete with the
        // inviter's own, and could hide the daemon's addresses behind the window's.
        let result = match ep.connect(target, SYNC_ALPN).await {
            Ok(conn) => {
                let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel::<Summary>();
                let mut progress = move |s: &Summary| {
                    let _ = ptx.send(s.clone());
                };
                let session = session::initiate(vault.clone(), &conn, &mut progress);
                tokio::pin!(session);
                loop {
                    tokio::select! {
                        r = &mut session => break r.map_err(|e| e.to_string()),
                        Some(summary) = prx.recv() => {
                            on_event(PairEvent::Progress { name: inviter_name.clone(), summary })?;
                        }
                    }
                }
            }
            Err(e) => Err(format!("could not connect: {e}")),
        };
        ep.close().await;
        let now = net::now_ms();
        let ticket_addrs: std::collections::BTreeSet<String> = ticket.addrs.iter().map(|a| a.to_string()).collect();
        net::blocking(&vault, {
            let (inviter, inviter_name, joiner) = (inviter.clone(), inviter_name.clone(), net::id_hex(&me));
            move |vault| vault.write(now, |w| {
                let mut l = w.load_or_create(DEVICES_DOC)?;
                devices::add_device(&mut l.doc, &inviter, &inviter_name, &joiner, now).map_err(am_err)?;
                let known = devices::read_devices(&l.doc).get(&inviter).is_some_and(|d| !d.addrs.is_empty());
                if !known && !ticket_addrs.is_empty() {
                    devices::set_addrs(&mut l.doc, &inviter, &ticket_addrs).map_err(am_err)?;
                }
                w.save(l)?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
        match result {
            Ok(summary) => {
                on_event(PairEvent::Synced { name: inviter_name.clone(), summary, elapsed: started.elapsed() })?;
                Ok((inviter, inviter_name))
            }
            Err(e) => Err(AppError::hint(format!("paired, but the first sync failed: {e}"), "run `kith sync` to try again")),
        }
    })
}
