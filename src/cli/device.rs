//! Device and sync commands: `device id|invite|join|list|rename|remove`, `sync`, `daemon`,
//! `status`. Only these bind a network endpoint (and `status`, `device id|list|rename|remove`
//! do not).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use iroh::endpoint::Connection;
use iroh::{Endpoint, EndpointAddr, EndpointId};
use kith_core::devices::{self, DEVICES_DOC};
use kith_core::sync::{Summary, ALPN as SYNC_ALPN};
use serde::Serialize;

use super::output::io_err;
use super::{Ctx, Out};
use crate::app::{am_err, AppError};
use crate::net::{self, pair, session, NetConfig};
use crate::store::Vault;

/// Network flags shared by the commands that connect.
#[derive(Args, Debug, Clone, Default)]
pub struct NetArgs {
    /// Relays: off, default (n0's public relays), or the https:// URL of your own iroh relay
    /// [env: KITH_RELAY]
    #[arg(long, value_name = "off|default|URL")]
    pub relay: Option<String>,
    /// Local network discovery (mDNS): on or off [env: KITH_MDNS]
    #[arg(long, value_name = "on|off")]
    pub mdns: Option<String>,
    /// Listen on this address (and put it in pairing tickets), e.g. 127.0.0.1:7400
    /// [env: KITH_BIND]
    #[arg(long, value_name = "IP:PORT")]
    pub bind: Option<String>,
}

impl NetArgs {
    fn config(&self, ctx: &Ctx) -> Result<NetConfig, AppError> {
        NetConfig::resolve(
            &ctx.home,
            self.relay.as_deref(),
            self.mdns.as_deref(),
            self.bind.as_deref(),
        )
    }
}

#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Print this device's id
    Id,
    /// Print a one-time pairing ticket and wait for the other device to join
    Invite {
        /// This device's name (default: the host name)
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Join another device of yours with the ticket it printed
    Join {
        ticket: String,
        /// This device's name (default: the host name)
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// List your devices
    #[command(visible_alias = "ls")]
    List,
    /// Rename a device (this one by default)
    Rename {
        /// New name
        name: String,
        /// The device (id prefix); default: this device
        #[arg(long)]
        device: Option<String>,
    },
    /// Remove a device: every one of your devices refuses it from then on
    Remove {
        /// The device (id prefix)
        device: String,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AppError::user(format!("cannot start the async runtime: {e}")))
}

fn open_shared(ctx: &Ctx) -> Result<Arc<Vault>, AppError> {
    Ok(Arc::new(ctx.open()?.vault))
}

pub fn device(ctx: &Ctx, cmd: DeviceCommand, out: &mut Out) -> Result<(), AppError> {
    match cmd {
        DeviceCommand::Id => {
            let key = net::device_key(&ctx.home)?;
            let id = net::id_hex(&key.public());
            if ctx.json {
                out.json(&serde_json::json!({ "id": id })).map_err(io_err)
            } else {
                out.line(id).map_err(io_err)
            }
        }
        DeviceCommand::Invite { name, net } => invite(ctx, name, net, out),
        DeviceCommand::Join { ticket, name, net } => join(ctx, &ticket, name, net, out),
        DeviceCommand::List => list(ctx, out),
        DeviceCommand::Rename { name, device } => rename(ctx, &name, device.as_deref(), out),
        DeviceCommand::Remove { device } => remove(ctx, &device, out),
    }
}

fn device_name(name: Option<String>) -> Result<String, AppError> {
    let n = name.unwrap_or_else(net::default_device_name);
    let n = n.trim().to_string();
    if n.is_empty() || n.chars().any(char::is_control) {
        return Err(AppError::user("a device name must be non-empty text"));
    }
    Ok(n)
}

fn sync_summary_line(name: &str, s: &Summary, elapsed: Duration) -> String {
    format!(
        "{name}: {} documents differed, {} sent, {} received ({} new); {} bytes sent, {} received; {} round trips; {:.2} s",
        s.docs_differing,
        s.docs_sent,
        s.docs_received,
        s.docs_created,
        s.bytes_sent,
        s.bytes_received,
        s.round_trips,
        elapsed.as_secs_f64()
    )
}

fn invite(
    ctx: &Ctx,
    name: Option<String>,
    netargs: NetArgs,
    out: &mut Out,
) -> Result<(), AppError> {
    let explicit = name.is_some();
    let cfg = netargs.config(ctx)?;
    let vault = open_shared(ctx)?;
    let key = net::device_key(&ctx.home)?;
    let me = key.public();
    // The name the joiner is told: --name (recorded as this device's name), else the recorded one.
    let name = match name {
        Some(n) => device_name(Some(n))?,
        None => net::default_device_name_for(&vault, &me),
    };
    if explicit {
        let mine = net::id_hex(&me);
        vault.write(ctx.now, |w| {
            let mut l = w.load_or_create(DEVICES_DOC)?;
            devices::add_device(&mut l.doc, &mine, &name, &mine, ctx.now).map_err(am_err)?;
            devices::rename_device(&mut l.doc, &mine, &name).map_err(am_err)?;
            w.save(l)?;
            Ok::<_, AppError>(())
        })?;
    }
    let rt = runtime()?;
    rt.block_on(async {
        let ep = net::bind(&cfg, key, vec![pair::ALPN.to_vec(), SYNC_ALPN.to_vec()]).await?;
        let addrs = net::listen_addrs(&ep);
        // The invite window is short-lived: the addresses this device advertises to its other
        // devices stay those already recorded (a running daemon's); the ticket carries the
        // window's own addresses for the joiner's first contact.
        let recorded = tokio::task::block_in_place(|| {
            vault.read().ok().and_then(|r| r.load(DEVICES_DOC).ok().flatten())
        })
        .and_then(|doc| devices::read_devices(&doc).remove(&net::id_hex(&me)))
        .is_some_and(|d| !d.addrs.is_empty());
        let advertised = if recorded { Default::default() } else { addrs.clone() };
        net::register_self(&vault, &me, &name, &advertised, ctx.now)?;
        let secret: [u8; 16] = rand::random();
        let ticket = pair::Ticket {
            version: 1,
            device: *me.as_bytes(),
            addrs: addrs.iter().filter_map(|a| a.parse().ok()).collect(),
            secret,
            expires: net::now_ms() + pair::TICKET_LIFETIME_MS,
        };
        out.line(ticket.encode()).map_err(io_err)?;
        out.flush().map_err(io_err)?;
        out.note("waiting for the other device: run `kith device join TICKET` there (the ticket works once, for 10 minutes)");
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
                            out.note(format!("paired with {} ({}); syncing…", j.1, &net::id_hex(&j.0)[..8]));
                            joined = Some(j);
                        }
                        Attempt::Paired(Ok(None)) => {}
                        Attempt::Paired(Err(e)) => {
                            out.warn(e);
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
                                    match result {
                                        Ok(s) => out.note(sync_summary_line(jname, &s, started.elapsed())),
                                        Err(e) => out.warn(format!("first sync with {jname} failed: {e}; run `kith sync` later")),
                                    }
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
                } else if conn.alpn() == SYNC_ALPN {
                    if !net::admit(&vault, &conn) {
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
    vault: &Vault,
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
    let me = net::id_hex(&conn.remote_id());
    let _ = me;
    let recorded = tokio::task::block_in_place(|| {
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
    })
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

fn join(
    ctx: &Ctx,
    ticket: &str,
    name: Option<String>,
    netargs: NetArgs,
    out: &mut Out,
) -> Result<(), AppError> {
    let ticket = pair::Ticket::decode(ticket, net::now_ms())?;
    let name = device_name(name)?;
    let cfg = netargs.config(ctx)?;
    let vault = open_shared(ctx)?;
    let key = net::device_key(&ctx.home)?;
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
        net::register_self(&vault, &me, &name, &addrs, ctx.now)?;
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
        let now = net::now_ms();
        let ticket_addrs: std::collections::BTreeSet<String> = ticket.addrs.iter().map(|a| a.to_string()).collect();
        vault.write(now, |w| {
            let mut l = w.load_or_create(DEVICES_DOC)?;
            devices::add_device(&mut l.doc, &inviter, &inviter_name, &net::id_hex(&me), now).map_err(am_err)?;
            // Known limit: this entry is created concurrently with the inviter's own, and the
            // readers see one of the two; so it carries the ticket's addresses too (with a
            // daemon running there, those are the invite window's, not the daemon's).
            if !ticket_addrs.is_empty() {
                devices::set_addrs(&mut l.doc, &inviter, &ticket_addrs).map_err(am_err)?;
            }
            w.save(l)?;
            Ok::<_, AppError>(())
        })?;
        out.note(format!("paired with {inviter_name} ({}); syncing…", &inviter[..8]));
        let started = Instant::now();
        let conn = ep
            .connect(target, SYNC_ALPN)
            .await
            .map_err(|e| AppError::hint(format!("paired, but the first sync could not connect: {e}"), "run `kith sync` to try again"))?;
        let result = session::initiate(vault.clone(), &conn, &mut |_| {}).await;
        ep.close().await;
        match result {
            Ok(s) => {
                out.note(sync_summary_line(&inviter_name, &s, started.elapsed()));
                if ctx.json {
                    out.json(&serde_json::json!({"paired_with": inviter, "name": inviter_name})).map_err(io_err)?;
                }
                Ok(())
            }
            Err(e) => Err(AppError::hint(format!("paired, but the first sync failed: {e}"), "run `kith sync` to try again")),
        }
    })
}

#[derive(Serialize)]
struct DeviceRow {
    id: String,
    name: String,
    this_device: bool,
    removed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_sync: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_address: Option<String>,
    addrs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unsent_changes: Option<u64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    last_error: String,
    /// Documents a sync with this device had to skip (see docs/design/sync-protocol.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    quarantined: Vec<QuarantineRow>,
    #[serde(skip)]
    seen_ms: i64,
    #[serde(skip)]
    sync_ms: i64,
}

#[derive(Serialize)]
struct QuarantineRow {
    doc: String,
    reason: String,
    since: String,
    last: String,
    count: u32,
}

/// "3 minutes ago" (relative to now), or "never".
fn ago(ms: i64, never: &str) -> String {
    if ms <= 0 {
        return never.to_string();
    }
    let secs = (net::now_ms() - ms) / 1000;
    let (n, unit) = match secs {
        s if s < 0 => return kith_core::time::format_unix_ms_utc(ms),
        s if s < 60 => return "just now".to_string(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

fn ms_text(ms: i64) -> Option<String> {
    (ms > 0).then(|| kith_core::time::format_unix_ms_utc(ms))
}

fn device_rows(ctx: &Ctx) -> Result<Vec<DeviceRow>, AppError> {
    let app = ctx.open_read()?;
    let r = app.vault.read()?;
    // A read command: a device without a key yet gets none from listing.
    let mine = match net::existing_device_key(&ctx.home)? {
        Some(k) => net::id_hex(&k.public()),
        None => String::new(),
    };
    let states = r.peer_states()?;
    let mut quarantine: HashMap<String, Vec<QuarantineRow>> = HashMap::new();
    for (peer, doc, q) in r.quarantined()? {
        quarantine
            .entry(data_encoding::HEXLOWER.encode(&peer))
            .or_default()
            .push(QuarantineRow {
                doc: doc.to_string(),
                reason: q.reason,
                since: kith_core::time::format_unix_ms_utc(q.since),
                last: kith_core::time::format_unix_ms_utc(q.last),
                count: q.count,
            });
    }
    let mut rows = Vec::new();
    let devs = match r.load(DEVICES_DOC)? {
        Some(doc) => devices::read_devices(&doc),
        None => Default::default(),
    };
    if !mine.is_empty() && !devs.contains_key(&mine) {
        rows.push(DeviceRow {
            id: mine.clone(),
            name: net::default_device_name(),
            this_device: true,
            removed: false,
            last_seen: None,
            last_sync: None,
            last_address: None,
            addrs: vec![],
            unsent_changes: None,
            last_error: String::new(),
            quarantined: Vec::new(),
            seen_ms: 0,
            sync_ms: 0,
        });
    }
    for (hex, d) in devs {
        let st = net::parse_id(&hex)
            .and_then(|id| states.get(id.as_bytes()).cloned())
            .unwrap_or_default();
        let this = hex == mine;
        let unsent = if this || d.removed {
            None
        } else {
            Some(r.changes_after(st.synced_upto)?)
        };
        rows.push(DeviceRow {
            quarantined: quarantine.remove(&hex).unwrap_or_default(),
            seen_ms: st.last_seen,
            sync_ms: st.last_sync,
            id: hex,
            name: d.name,
            this_device: this,
            removed: d.removed,
            last_seen: ms_text(st.last_seen),
            last_sync: ms_text(st.last_sync),
            last_address: (!st.last_addr.is_empty())
                .then(|| st.last_addr.clone())
                .or_else(|| d.addrs.iter().next().cloned()),
            addrs: d.addrs.into_iter().collect(),
            unsent_changes: unsent,
            last_error: st.last_error,
        });
    }
    Ok(rows)
}

fn list(ctx: &Ctx, out: &mut Out) -> Result<(), AppError> {
    let rows = device_rows(ctx)?;
    if ctx.json {
        return out.json(&rows).map_err(io_err);
    }
    let mut table = vec![vec![
        "NAME".into(),
        "ID".into(),
        "LAST SEEN".into(),
        "LAST ADDRESS".into(),
        "".into(),
    ]];
    for d in &rows {
        let flag = if d.this_device {
            "this device"
        } else if d.removed {
            "removed"
        } else {
            ""
        };
        table.push(vec![
            d.name.clone(),
            d.id[..16].to_string(),
            ago(d.seen_ms, if d.this_device { "-" } else { "never" }),
            d.last_address.clone().unwrap_or_else(|| "-".into()),
            flag.to_string(),
        ]);
    }
    out.table(&table).map_err(io_err)
}

/// Resolves a device id prefix among recorded devices.
fn resolve_device(ctx: &Ctx, prefix: &str) -> Result<String, AppError> {
    // The name `device list` shows, when exactly one device has it.
    let rows = device_rows(ctx)?;
    let by_name: Vec<&DeviceRow> = rows
        .iter()
        .filter(|d| d.name.eq_ignore_ascii_case(prefix.trim()))
        .collect();
    match by_name.len() {
        1 => return Ok(by_name[0].id.clone()),
        0 => {}
        n => {
            return Err(AppError::hint(
                format!("{n} devices are named '{prefix}'"),
                "give the device's id (a prefix of 4+ hex digits) from `kith device list`",
            ))
        }
    }
    let p = prefix.trim().to_lowercase();
    if p.len() < 4 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::hint(
            format!("no device is named '{prefix}', and it is not a device id"),
            "use a name or at least 4 hex digits of an id from `kith device list`",
        ));
    }
    let hits: Vec<&DeviceRow> = rows.iter().filter(|d| d.id.starts_with(&p)).collect();
    match hits.len() {
        1 => Ok(hits[0].id.clone()),
        0 => Err(AppError::hint(
            format!("no device matches '{prefix}'"),
            "see `kith device list`",
        )),
        n => Err(AppError::hint(
            format!("'{prefix}' matches {n} devices"),
            "give more digits of the id",
        )),
    }
}

fn rename(ctx: &Ctx, name: &str, device: Option<&str>, out: &mut Out) -> Result<(), AppError> {
    let name = device_name(Some(name.to_string()))?;
    let me = net::id_hex(&net::device_key(&ctx.home)?.public());
    let target = match device {
        Some(p) => resolve_device(ctx, p)?,
        None => me.clone(),
    };
    let vault = ctx.open()?.vault;
    vault.write(ctx.now, |w| {
        let mut l = w.load_or_create(DEVICES_DOC)?;
        if target == me {
            devices::add_device(&mut l.doc, &me, &name, &me, ctx.now).map_err(am_err)?;
        }
        devices::rename_device(&mut l.doc, &target, &name).map_err(am_err)?;
        w.save(l)?;
        Ok::<_, AppError>(())
    })?;
    out.note(format!("renamed {} to {name}", &target[..8]));
    Ok(())
}

fn remove(ctx: &Ctx, device: &str, out: &mut Out) -> Result<(), AppError> {
    let target = resolve_device(ctx, device)?;
    let me = net::id_hex(&net::device_key(&ctx.home)?.public());
    if target == me {
        return Err(AppError::hint(
            "this is the device you are on",
            "remove it from another of your devices",
        ));
    }
    let vault = ctx.open()?.vault;
    vault.write(ctx.now, |w| {
        let mut l = w.load_or_create(DEVICES_DOC)?;
        devices::remove_device(&mut l.doc, &target, &me, ctx.now).map_err(am_err)?;
        w.save(l)?;
        Ok::<_, AppError>(())
    })?;
    out.note(format!(
        "removed {}: this device refuses it now, and your other devices will once they sync. It keeps the data it already had.",
        &target[..16]
    ));
    Ok(())
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub net: NetArgs,
    /// Give up on a device that does not answer within this many seconds
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

#[derive(Serialize)]
struct SyncReport {
    device: String,
    name: String,
    ok: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
    docs_differing: u64,
    docs_sent: u64,
    docs_received: u64,
    bytes_sent: u64,
    bytes_received: u64,
    round_trips: u64,
    millis: u64,
}

async fn sync_one(
    vault: Arc<Vault>,
    ep: Endpoint,
    addr: EndpointAddr,
    name: String,
    timeout: Duration,
    progress: bool,
) -> SyncReport {
    let started = Instant::now();
    let device = net::id_hex(&addr.id);
    let mut report = SyncReport {
        device,
        name: name.clone(),
        ok: false,
        error: String::new(),
        docs_differing: 0,
        docs_sent: 0,
        docs_received: 0,
        bytes_sent: 0,
        bytes_received: 0,
        round_trips: 0,
        millis: 0,
    };
    let conn = match tokio::time::timeout(timeout, ep.connect(addr, SYNC_ALPN)).await {
        Err(_) => {
            report.error = format!("not reachable within {} s", timeout.as_secs());
            return report;
        }
        Ok(Err(e)) => {
            report.error = format!("not reachable: {e}");
            return report;
        }
        Ok(Ok(c)) => c,
    };
    let mut last_draw = Instant::now();
    let mut on_progress = |s: &Summary| {
        if progress && last_draw.elapsed() > Duration::from_millis(200) {
            last_draw = Instant::now();
            eprint!(
                "\r{name}: {} documents received, {} sent, {} KB",
                s.docs_received,
                s.docs_sent,
                (s.bytes_received + s.bytes_sent) / 1024
            );
            let _ = std::io::stderr().flush();
        }
    };
    let result = session::initiate(vault, &conn, &mut on_progress).await;
    if progress {
        eprint!("\r\x1b[2K");
    }
    report.millis = started.elapsed().as_millis() as u64;
    match result {
        Ok(s) => {
            report.ok = true;
            report.docs_differing = s.docs_differing;
            report.docs_sent = s.docs_sent;
            report.docs_received = s.docs_received;
            report.bytes_sent = s.bytes_sent;
            report.bytes_received = s.bytes_received;
            report.round_trips = s.round_trips;
        }
        Err(e) => {
            report.error = e.to_string();
        }
    }
    report
}

pub fn sync(ctx: &Ctx, a: SyncArgs, out: &mut Out) -> Result<(), AppError> {
    let mut cfg = a.net.config(ctx)?;
    // `sync` only dials out: keep the configured interface but let the OS pick the port, so it
    // works while this device's daemon listens on the configured one.
    cfg.bind = cfg.bind.map(|b| std::net::SocketAddr::new(b.ip(), 0));
    let vault = open_shared(ctx)?;
    let key = net::device_key(&ctx.home)?;
    let me = key.public();
    let peers = net::trusted_peers(&vault, &me)?;
    if peers.is_empty() {
        return Err(AppError::hint(
            "no other device to sync with",
            "pair one with `kith device invite` here and `kith device join TICKET` there",
        ));
    }
    let progress = std::io::stderr().is_terminal() && !ctx.json;
    let rt = runtime()?;
    let reports = rt.block_on(async {
        let ep = net::bind(&cfg, key, vec![SYNC_ALPN.to_vec()]).await?;
        let mut tasks = Vec::new();
        for (addr, name) in peers {
            tasks.push(tokio::spawn(sync_one(
                vault.clone(),
                ep.clone(),
                addr,
                name,
                Duration::from_secs(a.timeout),
                progress,
            )));
        }
        let mut reports = Vec::new();
        for t in tasks {
            if let Ok(r) = t.await {
                reports.push(r);
            }
        }
        ep.close().await;
        Ok::<_, AppError>(reports)
    })?;
    let any_ok = reports.iter().any(|r| r.ok);
    let removed = reports
        .iter()
        .find(|r| !r.ok && r.error.contains("this device was removed"));
    if let (false, Some(r)) = (any_ok, removed) {
        if ctx.json {
            out.json(&reports).map_err(io_err)?;
        }
        return Err(AppError::user(format!(
            "{} refused to sync: this device was removed from your vault (it keeps the data it had)",
            r.name
        )));
    }
    if ctx.json {
        out.json(&reports).map_err(io_err)?;
    } else {
        for r in &reports {
            if r.ok {
                out.note(format!(
                    "{}: {} documents differed, {} sent, {} received; {} bytes sent, {} received; {} round trips; {:.2} s",
                    r.name, r.docs_differing, r.docs_sent, r.docs_received, r.bytes_sent, r.bytes_received, r.round_trips, r.millis as f64 / 1000.0
                ));
            } else {
                out.note(format!("{} ({}): {}", r.name, &r.device[..8], r.error));
            }
        }
    }
    if any_ok {
        Ok(())
    } else {
        Err(AppError::hint(
            "no device could be reached",
            "is `kith daemon` running on another device, and can this one reach it?",
        ))
    }
}

/// `kith daemon --help`: how to keep it running as a user service.
const DAEMON_SERVICE_HELP: &str = "\
Run it as a user service so it starts at login and restarts after a failure:

  Linux (systemd):  copy docs/service/kith.service to ~/.config/systemd/user/, then
                    systemctl --user daemon-reload
                    systemctl --user enable --now kith.service
                    (logs: journalctl --user -u kith -f)
  macOS (launchd):  copy docs/service/com.kith.daemon.plist to ~/Library/LaunchAgents/, then
                    launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/com.kith.daemon.plist

Both files are in kith's source tree; set the path of the kith binary in them first. The
daemon stops cleanly on Ctrl-C or SIGTERM.";

#[derive(Args, Debug)]
#[command(after_long_help = DAEMON_SERVICE_HELP)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub net: NetArgs,
}

/// The time for a daemon log line (the real clock: a log is read later).
fn stamp() -> String {
    kith_core::time::format_unix_ms_utc(jiff::Timestamp::now().as_millisecond())
}

/// Holds `<home>/daemon.lock` (an advisory lock the OS releases when the process ends) for the
/// daemon's life: a second daemon on the same home is refused, whatever port it would use.
fn lock_daemon(ctx: &Ctx) -> Result<std::fs::File, AppError> {
    let path = ctx.home.join("daemon.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| AppError::user(format!("cannot open {}: {e}", path.display())))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(AppError::hint(
            format!(
                "a kith daemon is already running for {}",
                ctx.home.display()
            ),
            "stop it first, or use it: one daemon per home",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(AppError::user(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

pub fn daemon(ctx: &Ctx, a: DaemonArgs, out: &mut Out) -> Result<(), AppError> {
    let cfg = a.net.config(ctx)?;
    let vault = open_shared(ctx)?;
    let _lock = lock_daemon(ctx)?;
    let key = net::device_key(&ctx.home)?;
    let me = key.public();
    let rt = runtime()?;
    rt.block_on(async {
        let ep = net::bind(&cfg, key, vec![SYNC_ALPN.to_vec()]).await?;
        let addrs = net::listen_addrs(&ep);
        net::register_self(
            &vault,
            &me,
            &net::default_device_name_for(&vault, &me),
            &addrs,
            ctx.now,
        )?;
        out.line(format!(
            "{} kith daemon ready: device {} listening on {}",
            stamp(),
            net::id_hex(&me),
            if addrs.is_empty() {
                "relay/discovery".to_string()
            } else {
                addrs.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        ))
        .map_err(io_err)?;
        out.flush().map_err(io_err)?;
        // Accept loop.
        let acc_vault = vault.clone();
        let acc_ep = ep.clone();
        let accepter = tokio::spawn(async move {
            while let Some(incoming) = acc_ep.accept().await {
                let v = acc_vault.clone();
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    if conn.alpn() != SYNC_ALPN || !net::admit(&v, &conn) {
                        return;
                    }
                    if let Err(e) = session::respond(v, &conn).await {
                        eprintln!(
                            "{} sync from {} failed: {e}",
                            stamp(),
                            &net::id_hex(&conn.remote_id())[..8]
                        );
                    }
                });
            }
        });
        // Push loop: when the vault changes (an edit by another kith command, or data received),
        // sync with every trusted device; retry failures with backoff.
        let mut last_root: HashMap<EndpointId, [u8; 32]> = HashMap::new();
        let mut backoff: HashMap<EndpointId, (Instant, Duration)> = HashMap::new();
        // One push per peer at a time, all peers in parallel (an unreachable device does not
        // delay the others).
        type Push = tokio::task::JoinHandle<SyncReport>;
        let mut in_flight: HashMap<EndpointId, ([u8; 32], String, Push)> = HashMap::new();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| AppError::user(format!("cannot watch for SIGTERM: {e}")))?;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
            }
            // Collect finished pushes.
            let done: Vec<EndpointId> = in_flight
                .iter()
                .filter(|(_, (_, _, h))| h.is_finished())
                .map(|(id, _)| *id)
                .collect();
            for id in done {
                let (root, name, handle) = in_flight.remove(&id).expect("listed");
                match handle.await {
                    Ok(r) if r.ok => {
                        backoff.remove(&id);
                        // What was pushed: the root when the session started (an edit made
                        // meanwhile triggers another round).
                        last_root.insert(id, root);
                    }
                    Ok(r) => {
                        let next = backoff
                            .get(&id)
                            .map(|(_, d)| (*d * 2).min(Duration::from_secs(60)))
                            .unwrap_or(Duration::from_secs(1));
                        backoff.insert(id, (Instant::now() + next, next));
                        eprintln!(
                            "{} sync with {name} failed: {}; retrying in {} s",
                            stamp(),
                            r.error,
                            next.as_secs()
                        );
                    }
                    Err(_) => {}
                }
            }
            let root =
                match tokio::task::block_in_place(|| vault.read().and_then(|r| r.root_hash())) {
                    Ok(r) => r,
                    Err(_) => continue,
                };
            let peers = match net::trusted_peers(&vault, &me) {
                Ok(p) => p,
                Err(_) => continue,
            };
            for (addr, name) in peers {
                let id = addr.id;
                if last_root.get(&id) == Some(&root) || in_flight.contains_key(&id) {
                    continue;
                }
                if let Some((at, _)) = backoff.get(&id) {
                    if Instant::now() < *at {
                        continue;
                    }
                }
                let h = tokio::spawn(sync_one(
                    vault.clone(),
                    ep.clone(),
                    addr,
                    name.clone(),
                    Duration::from_secs(5),
                    false,
                ));
                in_flight.insert(id, (root, name, h));
            }
        }
        for (_, (_, _, h)) in in_flight {
            h.abort();
        }
        accepter.abort();
        ep.close().await;
        out.note(format!("{} kith daemon stopped", stamp()));
        Ok(())
    })
}

pub fn status(ctx: &Ctx, out: &mut Out) -> Result<(), AppError> {
    let rows = device_rows(ctx)?;
    if ctx.json {
        return out.json(&rows).map_err(io_err);
    }
    let mut table = vec![vec![
        "NAME".into(),
        "ID".into(),
        "LAST SYNC".into(),
        "UNSENT".into(),
        "".into(),
    ]];
    for d in &rows {
        let note = if d.this_device {
            "this device".to_string()
        } else if d.removed {
            "removed".to_string()
        } else {
            d.last_error.clone()
        };
        table.push(vec![
            d.name.clone(),
            d.id[..16].to_string(),
            ago(d.sync_ms, if d.this_device { "-" } else { "never" }),
            d.unsent_changes
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            note,
        ]);
    }
    out.table(&table).map_err(io_err)?;
    for d in &rows {
        for q in &d.quarantined {
            out.warn(format!(
                "document {} is quarantined in syncs with {} ({} time{}, since {}): {}; each sync tries it again",
                q.doc,
                d.name,
                q.count,
                if q.count == 1 { "" } else { "s" },
                q.since,
                q.reason
            ));
        }
    }
    if rows.len() <= 1 {
        out.note("no other devices yet: pair one with `kith device invite` here and `kith device join TICKET` there");
    }
    Ok(())
}
