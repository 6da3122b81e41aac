//! `kith/slices/1`: received slices between the user's own devices (docs/design/sharing.md,
//! "The recipient's own devices"). After a device session, the device that dialled asks the
//! other for the slices persons shared with the user and syncs each one's documents with the
//! ordinary engine over the same scoped store a share session uses.
//!
//! Invariants:
//! - Only an own device (membership document, `net::admit`) is answered; anyone else is closed
//!   with the device-sync close codes before any frame.
//! - Both sides store a slice's documents only through `Sharing::store_received`, after a
//!   completed session, and only documents whose every change is by an actor the owner
//!   announced for the epoch (`Side::Recipient` on both ends).
//! - Epochs only move forward and tombstones are final (`Sharing::begin_relayed`).
//! - Every length from a peer is capped (`pair::read_frame`, `FrameDecoder`).

use std::sync::Arc;
use std::time::Duration;

use automerge::{ActorId, Automerge};
use iroh::endpoint::{Connection, SendStream};
use iroh::{Endpoint, EndpointAddr};
use kith_core::share::ShareStore;
use kith_core::sync::{PeerId, Role};
use kith_core::DocId;
use serde::{Deserialize, Serialize};

use super::intro::INTRO_STREAM;
use super::pair;
use super::share::{run_engine, Side};
use crate::app::intro::Intros;
use crate::app::intro_relay::{self, Known, RelayPerson};
use crate::app::share::Sharing;
use crate::app::slices::{RelayEntry, RelayStep, ServedShare};
use crate::store::Vault;

pub const SLICES_ALPN: &[u8] = b"kith/slices/1";
/// Most received shares one offer may list.
const MAX_OFFER: usize = 4096;

fn sharing(v: &Vault) -> Sharing<'_> {
    Sharing {
        vault: v,
        now: super::now_ms(),
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Hello {
    version: u8,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Offer {
    slices: Vec<RelayEntry>,
    /// The shares the answering device serves (so the other can say where they are served).
    served: Vec<ServedShare>,
}

/// What one `kith/slices/1` pull from an own device did (in `kith sync --json`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct SlicesReport {
    /// Slices whose documents were synced.
    pub shares: usize,
    pub docs_received: u64,
    /// Slices whose documents were dropped here (an older epoch, or revoked).
    pub dropped: usize,
    pub round_trips: u64,
    /// Persons paired on the other device that were new or changed here.
    pub persons: usize,
    /// Intro documents received on the intro stream, and its round trips.
    pub intro_docs_received: u64,
    pub intro_round_trips: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The intro stream's first frames: the persons paired on the sender, and every person it
/// knows with their intro actors (after applying the other side's list).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct IntroRelayHello {
    paired: Vec<RelayPerson>,
    known: Vec<Known>,
}

fn intros(v: &Vault) -> Intros<'_> {
    Intros {
        vault: v,
        now: super::now_ms(),
    }
}

/// Puller side of the intro stream (after the slices): persons both ways, then the intro
/// documents of the persons both devices know with the same intro actors. Returns (persons
/// changed here, documents received, round trips).
async fn pull_intros(vault: &Arc<Vault>, conn: &Connection) -> Result<(usize, u64, u64), String> {
    let device = super::id_hex(&conn.remote_id());
    let paired = super::blocking(vault, |v| intros(v).relay_persons())
        .await
        .map_err(|e| e.to_string())?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(&INTRO_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    let hello = IntroRelayHello {
        paired,
        known: Vec::new(),
    };
    pair::write_frame(&mut send, &hello).await?;
    let theirs: IntroRelayHello = pair::read_frame(&mut recv).await?;
    let persons = super::blocking(vault, move |v| {
        intros(v).apply_relayed_persons(&device, &theirs.paired)
    })
    .await
    .map_err(|e| e.to_string())?;
    let mine = super::blocking(vault, |v| intros(v).known())
        .await
        .map_err(|e| e.to_string())?;
    pair::write_frame(
        &mut send,
        &IntroRelayHello {
            paired: Vec::new(),
            known: mine.clone(),
        },
    )
    .await?;
    let scope = intro_relay::scope(&mine, &theirs.known);
    let peer = PeerId(*conn.remote_id().as_bytes());
    let (n, rt) = sync_intros(vault, scope, Role::Initiator, peer, send, recv).await?;
    Ok((persons, n, rt))
}

/// Answering side of the intro stream (the puller's first frame not read yet).
async fn answer_intros(
    vault: &Arc<Vault>,
    conn: &Connection,
    mut send: SendStream,
    mut recv: iroh::endpoint::RecvStream,
) -> Result<(), String> {
    let device = super::id_hex(&conn.remote_id());
    let theirs: IntroRelayHello = pair::read_frame(&mut recv).await?;
    let (paired, mine) = super::blocking(vault, move |v| {
        let i = intros(v);
        i.apply_relayed_persons(&device, &theirs.paired)?;
        Ok::<_, crate::app::AppError>((i.relay_persons()?, i.known()?))
    })
    .await
    .map_err(|e| e.to_string())?;
    pair::write_frame(
        &mut send,
        &IntroRelayHello {
            paired,
            known: mine.clone(),
        },
    )
    .await?;
    let theirs: IntroRelayHello = pair::read_frame(&mut recv).await?;
    let scope = intro_relay::scope(&mine, &theirs.known);
    let peer = PeerId(*conn.remote_id().as_bytes());
    sync_intros(vault, scope, Role::Responder, peer, send, recv).await?;
    Ok(())
}

/// The engine over the scoped store of the intro documents in `scope`; what the other device
/// sent is stored (merged) after the session completed. Returns (received, round trips).
async fn sync_intros(
    vault: &Arc<Vault>,
    scope: Vec<Known>,
    role: Role,
    peer: PeerId,
    send: SendStream,
    recv: iroh::endpoint::RecvStream,
) -> Result<(u64, u64), String> {
    let sc = scope.clone();
    let (mut store, actors) = super::blocking(vault, move |v| intros(v).relay_store(&sc))
        .await
        .map_err(|e| e.to_string())?;
    let side = Side::Recipient(actors);
    let (summary, changed) = run_engine(&mut store, role, peer, send, recv, side, None)
        .await
        .map_err(|e| e.to_string())?;
    let docs = changed_docs(&store, &changed);
    if !docs.is_empty() {
        super::blocking(vault, move |v| intros(v).store_relayed(&scope, &docs))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok((summary.docs_received, summary.round_trips))
}

fn actors_of(hex: &[String]) -> Vec<ActorId> {
    hex.iter()
        .map(|a| {
            ActorId::from(
                data_encoding::HEXLOWER
                    .decode(a.as_bytes())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// The documents of `store` a session changed, to store after it completed.
fn changed_docs(store: &ShareStore, changed: &[DocId]) -> Vec<(DocId, Automerge)> {
    changed
        .iter()
        .filter_map(|d| store.get(d).map(|am| (*d, am.clone())))
        .collect()
}

/// `Hello` version of a push: "pull from me over this connection" (the dialling device has
/// slices to give; the answering one runs its ordinary pull, roles swapped).
const PUSH: u8 = 2;

/// Answers an own device's `kith/slices/1` connection: a pull (version 1: this device offers
/// its slices) or a push (version 2: this device pulls from the dialler over the same
/// connection).
pub async fn serve_conn(vault: Arc<Vault>, conn: Connection) -> Result<String, String> {
    let admitted = {
        let (v, c) = (vault.clone(), conn.clone());
        super::blocking(&v, move |v| super::admit(v, &c)).await
    };
    if !admitted {
        return Err("refused a slices session: not an own device".into());
    }
    let (send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
    let hello: Hello = pair::read_frame(&mut recv).await?;
    match hello.version {
        1 => answer(vault, &conn, send).await,
        PUSH => {
            drop(send);
            let mut report = SlicesReport::default();
            pull(vault, &conn, &mut report).await?;
            conn.close(0u32.into(), b"done");
            Ok(format!(
                "pulled slices pushed by an own device: {} document(s) received, {} slice(s) dropped",
                report.docs_received, report.dropped
            ))
        }
        v => {
            conn.close(2u32.into(), b"slices protocol version");
            Err(format!("slices protocol version {v}"))
        }
    }
}

/// Pushes this device's received slices to an own device (the daemon, when
/// `Sharing::slices_mark` moved): asks it to pull over this connection, then answers its pull.
pub async fn push_to(
    vault: Arc<Vault>,
    ep: Endpoint,
    addr: EndpointAddr,
) -> Result<String, String> {
    let conn = tokio::time::timeout(Duration::from_secs(10), ep.connect(addr, SLICES_ALPN))
        .await
        .map_err(|_| "not reachable within 10 s".to_string())?
        .map_err(|e| format!("not reachable: {e}"))?;
    let work = async {
        let (mut send, _recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        pair::write_frame(&mut send, &Hello { version: PUSH }).await?;
        let _ = send.finish();
        let (send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
        let hello: Hello = pair::read_frame(&mut recv).await?;
        if hello.version != 1 {
            return Err(format!("slices protocol version {}", hello.version));
        }
        answer(vault, &conn, send).await
    };
    match tokio::time::timeout(Duration::from_secs(120), work).await {
        Ok(r) => r,
        Err(_) => Err("timed out".into()),
    }
}

/// The answering side of a pull, after the puller's `Hello`: the offer, then one engine
/// session per slice the puller asks for.
async fn answer(
    vault: Arc<Vault>,
    conn: &Connection,
    mut send: SendStream,
) -> Result<String, String> {
    let (slices, served) = super::blocking(&vault, |v| {
        let s = sharing(v);
        Ok::<_, crate::app::AppError>((s.relay_offer()?, s.served_offer()?))
    })
    .await
    .map_err(|e| e.to_string())?;
    pair::write_frame(&mut send, &Offer { slices, served }).await?;
    let _ = send.finish();
    let peer = PeerId(*conn.remote_id().as_bytes());
    let mut done = 0;
    loop {
        let Ok(Ok((send, mut recv))) =
            tokio::time::timeout(Duration::from_secs(30), conn.accept_bi()).await
        else {
            break;
        };
        let mut id = [0u8; 16];
        recv.read_exact(&mut id).await.map_err(|e| e.to_string())?;
        if id == INTRO_STREAM {
            answer_intros(&vault, conn, send, recv).await?;
            continue;
        }
        let sid = DocId(id);
        let (rec, mut store) = super::blocking(&vault, move |v| {
            let s = sharing(v);
            Ok::<_, crate::app::AppError>((s.received_record(&sid)?, s.received_store(&sid)?))
        })
        .await
        .map_err(|e| e.to_string())?;
        let Some(rec) = rec else {
            conn.close(1u32.into(), b"slice not offered");
            return Err("an own device asked for a slice not offered".into());
        };
        let side = Side::Recipient(actors_of(&rec.actors));
        match run_engine(&mut store, Role::Responder, peer, send, recv, side, None).await {
            Ok((_, changed)) => {
                let docs = changed_docs(&store, &changed);
                let (epoch, updated) = (rec.epoch, rec.updated);
                super::blocking(&vault, move |v| {
                    sharing(v).store_received(&sid, &docs, epoch, Some(updated))
                })
                .await
                .map_err(|e| e.to_string())?;
                done += 1;
            }
            Err(e) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
                return Err(e.to_string());
            }
        }
    }
    Ok(format!("synced {done} slice(s) with an own device"))
}

/// Pulls the slices an own device holds (after a device session with it). Never fails: the
/// report says how it went.
pub async fn pull_from(vault: Arc<Vault>, ep: Endpoint, addr: EndpointAddr) -> SlicesReport {
    let conn =
        match tokio::time::timeout(Duration::from_secs(10), ep.connect(addr, SLICES_ALPN)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return SlicesReport {
                    error: Some(format!("not reachable: {e}")),
                    ..Default::default()
                }
            }
            Err(_) => {
                return SlicesReport {
                    error: Some("not reachable within 10 s".into()),
                    ..Default::default()
                }
            }
        };
    let mut report = SlicesReport::default();
    let out = tokio::time::timeout(Duration::from_secs(120), pull(vault, &conn, &mut report)).await;
    match out {
        Ok(Ok(())) => conn.close(0u32.into(), b"done"),
        Ok(Err(e)) => report.error = Some(e),
        Err(_) => report.error = Some("timed out".into()),
    }
    report
}

async fn pull(
    vault: Arc<Vault>,
    conn: &Connection,
    report: &mut SlicesReport,
) -> Result<(), String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    pair::write_frame(&mut send, &Hello { version: 1 }).await?;
    let offer: Offer = pair::read_frame(&mut recv).await?;
    if offer.slices.len() > MAX_OFFER || offer.served.len() > MAX_OFFER {
        return Err("the offer lists too many slices".into());
    }
    let peer = PeerId(*conn.remote_id().as_bytes());
    let (device, served) = (super::id_hex(&conn.remote_id()), offer.served);
    super::blocking(&vault, move |v| {
        sharing(v).record_served_elsewhere(&device, &served)
    })
    .await
    .map_err(|e| e.to_string())?;
    for entry in offer.slices {
        let sid = DocId(entry.id);
        let e = entry.clone();
        let step = super::blocking(&vault, move |v| sharing(v).begin_relayed(&e))
            .await
            .map_err(|e| e.to_string())?;
        match step {
            RelayStep::Skip => continue,
            RelayStep::Revoked { dropped } => {
                report.dropped += usize::from(dropped);
                continue;
            }
            RelayStep::Sync { dropped } => report.dropped += usize::from(dropped),
        }
        let mut store = super::blocking(&vault, move |v| sharing(v).received_store(&sid))
            .await
            .map_err(|e| e.to_string())?;
        let (mut s, r) = conn.open_bi().await.map_err(|e| e.to_string())?;
        s.write_all(&entry.id).await.map_err(|e| e.to_string())?;
        let side = Side::Recipient(actors_of(&entry.actors));
        let (summary, changed) = run_engine(&mut store, Role::Initiator, peer, s, r, side, None)
            .await
            .map_err(|e| e.to_string())?;
        let docs = changed_docs(&store, &changed);
        let (epoch, updated) = (entry.epoch, entry.updated);
        super::blocking(&vault, move |v| {
            sharing(v).store_received(&sid, &docs, epoch, Some(updated))
        })
        .await
        .map_err(|e| e.to_string())?;
        report.shares += 1;
        report.docs_received += summary.docs_received;
        report.round_trips += summary.round_trips;
    }
    let (persons, docs, rt) = pull_intros(&vault, conn).await?;
    report.persons = persons;
    report.intro_docs_received = docs;
    report.intro_round_trips = rt;
    Ok(())
}
