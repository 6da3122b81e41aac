//! The network side of sharing (docs/design/sharing.md): person tickets and `kith/person/1`,
//! and the `kith/share/1` protocol, which runs the ordinary sync engine over one share's
//! scoped store.
//!
//! Invariants:
//! - The owner decides trust before any frame: the dialer must be a person (never an own
//!   device); anyone else is closed with code 3 and no data. A person with no live share gets
//!   an empty offer (so their client drops revoked slices) and nothing else.
//! - A share session sees only that share's projection documents (`ShareStore`); the owner
//!   applies nothing the recipient sends: a `StoreChanges` effect ends the session with code 9
//!   and is recorded.
//! - The recipient stores nothing until a session completed, and then only documents whose
//!   every change is by an actor the owner announced for the epoch.
//! - Every length from a peer is capped (`pair::read_frame`, `FrameDecoder`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge};
use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh::{EndpointAddr, EndpointId};
use kith_core::share::ShareStore;
use kith_core::sync::{Config, Effect, Event, Frame, FrameDecoder, PeerId, Role, Session, Summary};
use kith_core::DocId;
use serde::{Deserialize, Serialize};

use super::pair;
use crate::app::share::{OfferEntry, Sharing};
use crate::app::AppError;
use crate::store::Vault;

fn sharing(v: &Vault) -> Sharing<'_> {
    Sharing {
        vault: v,
        now: super::now_ms(),
    }
}

pub const PERSON_ALPN: &[u8] = b"kith/person/1";
pub const SHARE_ALPN: &[u8] = kith_core::share::ALPN;
pub const PERSON_TICKET_PREFIX: &str = "kithp1";
/// Close code: the share session tried to write into the owner's projections.
pub const READ_ONLY: u32 = 9;
/// Close code: not a person with a live share.
pub const UNKNOWN_PERSON: u32 = 3;
/// The share protocol version this build speaks: 2 adds the intro stream (sharing.md).
pub const VERSION: u8 = 2;
/// Most shares one offer may list.
const MAX_OFFER: usize = 1024;

const B32: data_encoding::Encoding = data_encoding::BASE32_NOPAD;

/// A person ticket: like a device ticket, under its own prefix.
pub fn encode_ticket(t: &pair::Ticket) -> String {
    let bytes = postcard::to_stdvec(t).expect("plain struct");
    format!(
        "{PERSON_TICKET_PREFIX}{}",
        B32.encode(&bytes).to_lowercase()
    )
}

pub fn decode_ticket(s: &str, now: i64) -> Result<pair::Ticket, AppError> {
    let s = s.trim();
    let hint = "copy the whole first line that `kith person invite` printed for you";
    if s.starts_with(pair::TICKET_PREFIX) && !s.starts_with(PERSON_TICKET_PREFIX) {
        return Err(AppError::hint(
            "this is a device pairing ticket, not a person ticket",
            "use `kith device join` for your own devices; a person runs `kith person invite`",
        ));
    }
    let Some(body) = s.strip_prefix(PERSON_TICKET_PREFIX) else {
        return Err(AppError::hint(
            "this is not a kith person ticket (it should start with kithp1)",
            hint,
        ));
    };
    let bytes = B32
        .decode(body.to_uppercase().as_bytes())
        .map_err(|_| AppError::hint("damaged or incomplete person ticket", hint))?;
    let t: pair::Ticket = postcard::from_bytes(&bytes)
        .map_err(|_| AppError::hint("damaged or incomplete person ticket", hint))?;
    if t.version != 1 || EndpointId::from_bytes(&t.device).is_err() {
        return Err(AppError::hint("damaged or incomplete person ticket", hint));
    }
    if now > t.expires {
        return Err(AppError::hint(
            format!(
                "the person ticket expired at {}",
                kith_core::time::format_unix_ms_utc(t.expires)
            ),
            "ask them to run `kith person invite` again",
        ));
    }
    Ok(t)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PersonRequest {
    pub secret: [u8; 16],
    pub addrs: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PersonReply {
    pub ok: bool,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Hello {
    version: u8,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Offer {
    shares: Vec<OfferEntry>,
}

pub fn ticket_addr(t: &pair::Ticket) -> EndpointAddr {
    t.addr()
}

pub fn addrs_of(addrs: &[String]) -> Vec<SocketAddr> {
    addrs.iter().filter_map(|a| a.parse().ok()).collect()
}

// ---------------------------------------------------------------------------------------------
// Owner side

/// Serves one `kith/share/1` connection (owner side). Returns what happened, for the log.
pub async fn serve_conn(vault: Arc<Vault>, conn: Connection) -> Result<String, String> {
    let key = super::id_hex(&conn.remote_id());
    // Trust before any frame: a person with a live share.
    let offer = {
        let (v, key) = (vault.clone(), key.clone());
        tokio::task::spawn_blocking(
            move || -> Result<Option<Vec<(OfferEntry, ShareStore)>>, String> {
                let app = sharing(&v);
                // Only a person paired on this device: one relayed by another own device
                // talks to that device.
                let persons = app.persons_paired_here().map_err(|e| e.to_string())?;
                if !persons.iter().any(|p| p.key == key) {
                    return Ok(None);
                }
                // A person with no live share gets an empty offer: that is how their client learns
                // of a revocation (and drops the slice). Nothing else is sent.
                Ok(Some(app.serve_shares(&key).map_err(|e| e.to_string())?))
            },
        )
        .await
        .map_err(|e| e.to_string())??
    };
    let Some(served) = offer else {
        conn.close(
            UNKNOWN_PERSON.into(),
            b"unknown person: nothing is shared with this key",
        );
        return Err(format!("refused {}: not a person", &key[..8]));
    };
    let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
    let hello: Hello = pair::read_frame(&mut recv).await?;
    if !(1..=VERSION).contains(&hello.version) {
        conn.close(2u32.into(), b"share protocol version");
        return Err(format!("share protocol version {}", hello.version));
    }
    let entries: Vec<OfferEntry> = served.iter().map(|(o, _)| o.clone()).collect();
    pair::write_frame(&mut send, &Offer { shares: entries }).await?;
    let _ = send.finish();
    let mut stores: Vec<(OfferEntry, ShareStore)> = served;
    let peer = PeerId(*conn.remote_id().as_bytes());
    let mut done = 0;
    // Version 2: after the share streams the recipient opens the intro stream (always last).
    let mut intro_pending = hello.version >= 2;
    let mut intro_note = String::new();
    while !stores.is_empty() || intro_pending {
        let Ok(Ok((send, mut recv))) =
            tokio::time::timeout(Duration::from_secs(30), conn.accept_bi()).await
        else {
            break;
        };
        let mut id = [0u8; 16];
        recv.read_exact(&mut id).await.map_err(|e| e.to_string())?;
        if intro_pending && id == super::intro::INTRO_STREAM {
            intro_pending = false;
            intro_note = super::intro::serve_intros(vault.clone(), &conn, &key, send, recv).await?;
            continue;
        }
        let Some(pos) = stores.iter().position(|(o, _)| o.id == id) else {
            conn.close(1u32.into(), b"share not offered");
            return Err("the person asked for a share not offered".into());
        };
        let (entry, mut store) = stores.swap_remove(pos);
        match run_engine(
            &mut store,
            Role::Responder,
            peer,
            send,
            recv,
            Side::Owner,
            None,
        )
        .await
        {
            Ok(_) => done += 1,
            Err(EngineError::WriteAttempt) => {
                let v = vault.clone();
                let sid = DocId(entry.id);
                let _ = tokio::task::spawn_blocking(move || sharing(&v).record_write_attempt(&sid))
                    .await;
                tracing::warn!(person = %&key[..8], share = %sid.short(), "refused a write into a share");
                conn.close(READ_ONLY.into(), b"read-only share: changes refused");
                return Err(format!(
                    "refused changes from person {} into share {} (read-only)",
                    &key[..8],
                    sid.short()
                ));
            }
            Err(e) => {
                // Let the engine's `Close` frame (why) reach the person before the connection
                // goes.
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
                return Err(e.to_string());
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    Ok(format!(
        "served {done} share(s) to {}{intro_note}",
        &key[..8]
    ))
}

// ---------------------------------------------------------------------------------------------
// Recipient side

/// What one pull from a person did.
#[derive(Debug, Default, Serialize)]
pub struct PullReport {
    pub person: String,
    pub shares: usize,
    pub docs_received: u64,
    pub dropped: usize,
    pub round_trips: u64,
    /// Intro documents received (requests asked of this user, or answers to its requests).
    pub intro_docs_received: u64,
    /// Round trips of the intro stream (apart from `round_trips`, which counts the shares).
    pub intro_round_trips: u64,
    /// Sync frames' bytes each way, over every share session.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub error: Option<String>,
}

/// Pulls every share a person offers (recipient side) over an open `kith/share/1` connection.
pub async fn pull(
    vault: Arc<Vault>,
    conn: &Connection,
    person_key: &str,
) -> Result<PullReport, String> {
    let mut report = PullReport::default();
    // Test hook: speak another protocol version (an older or a newer peer).
    let version = std::env::var("KITH_TEST_SHARE_VERSION")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(VERSION);
    // A refusal (a stranger) is the owner closing the connection with a reason. It can arrive
    // while the hello is still being written, and a write error says only "connection lost": every
    // failure of this first exchange is therefore reported with the close reason when there is one.
    let hello = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        pair::write_frame(&mut send, &Hello { version }).await?;
        pair::read_frame::<Offer>(&mut recv).await
    };
    let offer: Offer = match hello.await {
        Ok(o) => o,
        Err(e) => {
            let _ = tokio::time::timeout(Duration::from_millis(500), conn.closed()).await;
            return Err(close_reason(conn).unwrap_or(e));
        }
    };
    if offer.shares.len() > MAX_OFFER {
        return Err("the offer lists too many shares".into());
    }
    let wire = std::env::var_os("KITH_TEST_SHARE_WIRE").map(std::path::PathBuf::from);
    let keep: Vec<[u8; 16]> = offer.shares.iter().map(|o| o.id).collect();
    let peer = PeerId(*conn.remote_id().as_bytes());
    for entry in offer.shares {
        let sid = DocId(entry.id);
        let store = {
            let (v, key, e) = (vault.clone(), person_key.to_string(), entry.clone());
            tokio::task::spawn_blocking(move || -> Result<(bool, ShareStore), String> {
                let app = sharing(&v);
                let dropped = app.begin_received(&key, &e).map_err(|e| e.to_string())?;
                Ok((
                    dropped,
                    app.received_store(&sid).map_err(|e| e.to_string())?,
                ))
            })
            .await
            .map_err(|e| e.to_string())??
        };
        let (dropped, mut store) = store;
        if dropped {
            report.dropped += 1;
        }
        // Test hook: pretend to be a misbehaving recipient that edits a received document.
        if std::env::var_os("KITH_TEST_SHARE_TAMPER").is_some() {
            let first = store.ids().next().copied();
            if let Some(pid) = first {
                let mut d = automerge::AutoCommit::load(&store.get(&pid).expect("present").save())
                    .map_err(|e| e.to_string())?;
                use automerge::transaction::Transactable;
                let _ = d.put(automerge::ROOT, "name", "TAMPERED");
                d.commit();
                store.put(pid, d.document().clone());
            }
        }
        let (mut s, r) = conn.open_bi().await.map_err(|e| e.to_string())?;
        s.write_all(&entry.id).await.map_err(|e| e.to_string())?;
        let actors: Vec<ActorId> = entry
            .actors
            .iter()
            .map(|a| {
                ActorId::from(
                    data_encoding::HEXLOWER
                        .decode(a.as_bytes())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let out = run_engine(
            &mut store,
            Role::Initiator,
            peer,
            s,
            r,
            Side::Recipient(actors),
            wire.as_deref(),
        )
        .await;
        let (summary, changed) = match out {
            Ok(x) => x,
            Err(e) => {
                let _ = tokio::time::timeout(Duration::from_millis(500), conn.closed()).await;
                return Err(close_reason(conn).unwrap_or_else(|| e.to_string()));
            }
        };
        let epoch = entry.epoch;
        let docs: Vec<(DocId, Automerge)> = changed
            .iter()
            .filter_map(|id| store.get(id).map(|d| (*id, d.clone())))
            .collect();
        let v = vault.clone();
        tokio::task::spawn_blocking(move || {
            sharing(&v)
                .store_received(&sid, &docs, epoch, None)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        report.shares += 1;
        report.docs_received += summary.docs_received;
        report.round_trips += summary.round_trips;
        report.bytes_sent += summary.bytes_sent;
        report.bytes_received += summary.bytes_received;
    }
    // Introductions: this person's intro documents, both ways (version 2).
    let intros = if version >= 2 {
        super::intro::pull_intros(vault.clone(), conn, person_key).await
    } else {
        Ok((0, 0))
    };
    match intros {
        Ok((docs, trips)) => {
            report.intro_docs_received = docs;
            report.intro_round_trips = trips;
        }
        Err(e) if e.starts_with("refused:") => return Err(e),
        Err(e) => {
            let _ = tokio::time::timeout(Duration::from_millis(500), conn.closed()).await;
            return Err(close_reason(conn).unwrap_or(e));
        }
    }
    // Shares no longer offered were revoked: drop them (the caller compacts the file).
    let (v, key) = (vault.clone(), person_key.to_string());
    let gone = tokio::task::spawn_blocking(move || {
        sharing(&v)
            .drop_received_except(&key, &keep)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())??;
    report.dropped += gone;
    conn.close(0u32.into(), b"done");
    Ok(report)
}

fn close_reason(conn: &Connection) -> Option<String> {
    match conn.close_reason()? {
        iroh::endpoint::ConnectionError::ApplicationClosed(c) => {
            let code = u64::from(c.error_code);
            let reason = String::from_utf8_lossy(&c.reason).to_string();
            match code {
                0 => None,
                2 => Some(format!(
                    "refused: the other person's kith speaks an older share protocol ({reason}); introductions need both sides updated"
                )),
                3 => Some(format!("refused: {reason}")),
                9 => Some(format!("refused by the owner: {reason}")),
                c => Some(format!(
                    "the owner closed the session with code {c}: {reason}"
                )),
            }
        }
        other => Some(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// The engine over one stream pair

/// Test hook (`KITH_TEST_SHARE_WIRE`): appends the bytes received to a file, also those that
/// arrive after the session completed (a late `Close`).
fn test_wire(wire: Option<&std::path::Path>, bytes: &[u8]) {
    if let Some(path) = wire {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(bytes);
        }
    }
}

/// Test hook: `KITH_TEST_SHARE_ASK=<32 hex>` makes a recipient ask the owner for that
/// document id (a `Sync` frame carrying a fresh sync state, "send me everything") in each
/// share session, as a curious person's client could. The owner's answer is the engine's
/// answer to any id outside its scoped store (tests/cli/share2.rs compares the two).
fn test_ask() -> Option<Frame> {
    let hex = std::env::var("KITH_TEST_SHARE_ASK").ok()?;
    let id: DocId = hex.trim().parse().ok()?;
    tracing::debug!("test hook: asking for {}", id.short());
    let message = automerge::sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: vec![automerge::sync::Have::default()],
        changes: Vec::<Vec<u8>>::new().into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
    .encode();
    Some(Frame::Sync { doc: id, message })
}

pub(crate) enum Side {
    /// Applies nothing: a `StoreChanges` effect is a write attempt.
    Owner,
    /// Applies changes into the scoped store, refusing any actor not announced.
    Recipient(Vec<ActorId>),
    /// The intro stream: a change to a document authored here (`mine`) is a write attempt;
    /// any other document must be of kind `kind` and hold only changes by `actor`.
    Intro {
        mine: Vec<DocId>,
        actor: ActorId,
        kind: &'static str,
    },
}

impl Side {
    /// Checks a document as it would be after the peer's changes (receiving sides only).
    fn admit(&self, doc: &DocId, am: &Automerge) -> Result<(), EngineError> {
        match self {
            Side::Owner => Err(EngineError::WriteAttempt),
            Side::Recipient(actors) => {
                if kith_core::share::changes_only_by(am, actors) {
                    Ok(())
                } else {
                    Err(EngineError::ForeignActor)
                }
            }
            Side::Intro { mine, actor, kind } => {
                if mine.contains(doc) {
                    Err(EngineError::WriteAttempt)
                } else if kith_core::share::intro::kind_of(am).as_deref() != Some(*kind)
                    || !kith_core::share::changes_only_by(am, std::slice::from_ref(actor))
                {
                    Err(EngineError::ForeignActor)
                } else {
                    Ok(())
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    #[error("the person tried to write into a read-only share")]
    WriteAttempt,
    #[error("refused a change by an actor the owner did not announce for this epoch")]
    ForeignActor,
    #[error("{0}")]
    Sync(#[from] kith_core::sync::SyncError),
    #[error("connection lost: {0}")]
    Io(String),
    #[error("{0}")]
    Doc(String),
}

pub(crate) async fn run_engine(
    store: &mut ShareStore,
    role: Role,
    peer: PeerId,
    mut send: SendStream,
    mut recv: RecvStream,
    side: Side,
    wire: Option<&std::path::Path>,
) -> Result<(Summary, Vec<DocId>), EngineError> {
    let clock = Instant::now();
    let mut session = Session::new(role, peer, Config::default());
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending: Vec<Event> = Vec::new();
    let mut changed: Vec<DocId> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    if role == Role::Initiator {
        pending.push(Event::Start);
    }
    let mut ask = match side {
        Side::Recipient(_) => test_ask(),
        Side::Owner | Side::Intro { .. } => None,
    };
    loop {
        let mut out = Vec::new();
        let mut terminal = None;
        for ev in std::mem::take(&mut pending) {
            let now = clock.elapsed().as_millis() as u64;
            for e in session.handle(&*store, now, ev) {
                match e {
                    Effect::Send(f) => {
                        // Test hook (see `test_ask`): once the engine syncs documents, ask
                        // for one more id before its first document or idle frame.
                        if matches!(
                            f,
                            Frame::Sync { .. } | Frame::Docs { .. } | Frame::Idle { .. }
                        ) {
                            if let Some(f) = ask.take() {
                                out.extend_from_slice(&f.encode());
                            }
                        }
                        out.extend_from_slice(&f.encode())
                    }
                    Effect::StoreChanges { doc, bytes, .. } => match &side {
                        Side::Owner => return Err(EngineError::WriteAttempt),
                        Side::Recipient(_) | Side::Intro { .. } => {
                            if let Side::Intro { mine, .. } = &side {
                                if mine.contains(&doc) {
                                    return Err(EngineError::WriteAttempt);
                                }
                            }
                            let mut am = store.get(&doc).cloned().unwrap_or_else(Automerge::new);
                            am.load_incremental(&bytes)
                                .map_err(|e| EngineError::Doc(e.to_string()))?;
                            side.admit(&doc, &am)?;
                            store.put(doc, am);
                            if !changed.contains(&doc) {
                                changed.push(doc);
                            }
                        }
                    },
                    // A document the recipient lacks arrives whole (kith/sync/2): it must load,
                    // match the leaf the owner announced, and hold only the epoch's actors.
                    Effect::StoreWhole { doc, bytes, leaf } => match &side {
                        Side::Owner => return Err(EngineError::WriteAttempt),
                        Side::Recipient(_) | Side::Intro { .. } => {
                            if let Side::Intro { mine, .. } = &side {
                                if mine.contains(&doc) {
                                    return Err(EngineError::WriteAttempt);
                                }
                            }
                            let mut am = Automerge::load(&bytes)
                                .map_err(|e| EngineError::Doc(e.to_string()))?;
                            if kith_core::sync::leaf_digest(&doc, &am.get_heads()) != leaf {
                                return Err(EngineError::Doc(format!(
                                    "document {} does not match the version announced",
                                    doc.short()
                                )));
                            }
                            side.admit(&doc, &am)?;
                            if let Some(old) = store.get(&doc) {
                                let mut old = old.clone();
                                old.merge(&mut am)
                                    .map_err(|e| EngineError::Doc(e.to_string()))?;
                                am = old;
                            }
                            store.put(doc, am);
                            if !changed.contains(&doc) {
                                changed.push(doc);
                            }
                        }
                    },
                    Effect::Done(s) => terminal = Some(Ok(s)),
                    Effect::Fail(e) => terminal = Some(Err(e)),
                    Effect::SaveSyncState { .. } | Effect::Quarantine { .. } => {}
                }
            }
            if terminal.is_some() {
                break;
            }
        }
        if !out.is_empty() {
            send.write_all(&out)
                .await
                .map_err(|e| EngineError::Io(e.to_string()))?;
        }
        match terminal {
            Some(Ok(summary)) => {
                let _ = send.finish();
                let _ = tokio::time::timeout(Duration::from_secs(10), async {
                    let mut b = [0u8; 1024];
                    while let Ok(Some(n)) = recv.read(&mut b).await {
                        test_wire(wire, &b[..n]);
                    }
                })
                .await;
                return Ok((summary, changed));
            }
            Some(Err(e)) => {
                let _ = send.finish();
                return Err(EngineError::Sync(e));
            }
            None => {}
        }
        let read = tokio::select! {
            _ = tick.tick() => None,
            r = recv.read(&mut buf) => Some(r),
        };
        match read {
            None => pending.push(Event::Tick),
            Some(Ok(Some(n))) => {
                test_wire(wire, &buf[..n]);
                decoder.push(&buf[..n]);
                loop {
                    match decoder.next_frame() {
                        Ok(Some(f)) => pending.push(Event::Received(f)),
                        Ok(None) => break,
                        Err(e) => {
                            pending.push(Event::DecodeError(e));
                            break;
                        }
                    }
                }
            }
            Some(Ok(None)) => {
                return Err(EngineError::Io(
                    "the peer ended the session before it was complete".into(),
                ))
            }
            Some(Err(e)) => return Err(EngineError::Io(e.to_string())),
        }
    }
}
