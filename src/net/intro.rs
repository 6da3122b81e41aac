//! The intro stream of `kith/share/1` version 2 (docs/design/sharing.md, "Introductions"):
//! after the share streams, the recipient (the asker) opens one more bi-stream that starts
//! with [`INTRO_STREAM`]; both sides announce their intro actor and run the ordinary sync
//! engine over a scoped store holding that person's intro documents only (requests one way,
//! the owner's answers the other).
//!
//! Invariants:
//! - The store holds one person's intro documents and nothing else: counts and hashes cover
//!   them alone.
//! - A change to a document authored here is a write attempt: refused (code 9 on the owner),
//!   recorded, and reported; any other document must be of the kind the other side authors and
//!   hold only changes by its pinned intro actor.
//! - Nothing is stored before the session completed (`Intros::store_intro_received`, which
//!   checks again in the write transaction).

use std::sync::Arc;

use automerge::Automerge;
use iroh::endpoint::{Connection, RecvStream, SendStream};
use kith_core::share::intro::{ANSWERS_KIND, REQUEST_KIND};
use kith_core::sync::{PeerId, Role};
use kith_core::DocId;
use serde::{Deserialize, Serialize};

use super::pair;
use super::share::{run_engine, EngineError, Side, READ_ONLY};
use crate::app::intro::{IntroSession, Intros};
use crate::store::Vault;

/// The 16 bytes that open the intro stream (where a share stream has its share id).
pub const INTRO_STREAM: [u8; 16] = *b"kith/intro/1\0\0\0\0";

/// Each side's first frame on the intro stream: its intro actor for the other person.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct IntroHello {
    actor: String,
}

fn intros(v: &Vault) -> Intros<'_> {
    Intros {
        vault: v,
        now: super::now_ms(),
    }
}

async fn blocking<T: Send + 'static>(
    v: &Arc<Vault>,
    f: impl FnOnce(&Vault) -> Result<T, crate::app::AppError> + Send + 'static,
) -> Result<T, String> {
    let v = v.clone();
    tokio::task::spawn_blocking(move || f(&v).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

/// Test hook (`KITH_TEST_INTRO_TAMPER`): pretend to be a misbehaving peer that edits a
/// document the other side authored before the session.
fn tamper(s: &mut IntroSession) {
    if std::env::var_os("KITH_TEST_INTRO_TAMPER").is_none() {
        return;
    }
    let theirs = s.store.ids().find(|id| !s.mine.contains(id)).copied();
    if let Some(id) = theirs {
        let Some(doc) = s.store.get(&id) else { return };
        if let Ok(mut d) = automerge::AutoCommit::load(&doc.save()) {
            use automerge::transaction::Transactable;
            let _ = d.put(automerge::ROOT, "why", "TAMPERED");
            d.commit();
            s.store.put(id, d.document().clone());
        }
    }
}

/// Asker side: runs the intro stream on an open share connection. Returns (documents
/// received, round trips).
pub async fn pull_intros(
    vault: Arc<Vault>,
    conn: &Connection,
    person: &str,
) -> Result<(u64, u64), String> {
    let key = person.to_string();
    let mut sess = blocking(&vault, move |v| intros(v).session(&key)).await?;
    tamper(&mut sess);
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(&INTRO_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    pair::write_frame(
        &mut send,
        &IntroHello {
            actor: sess.actor.clone(),
        },
    )
    .await?;
    let theirs: IntroHello = pair::read_frame(&mut recv).await?;
    let key = person.to_string();
    let actor = blocking(&vault, move |v| intros(v).pin_actor(&key, &theirs.actor)).await?;
    let peer = PeerId(*conn.remote_id().as_bytes());
    let side = Side::Intro {
        mine: sess.mine.clone(),
        actor,
        kind: ANSWERS_KIND,
    };
    let out = run_engine(
        &mut sess.store,
        Role::Initiator,
        peer,
        send,
        recv,
        side,
        None,
    )
    .await;
    let (summary, changed) = match out {
        Ok(x) => x,
        Err(EngineError::WriteAttempt) => {
            refuse_write(
                &vault,
                conn,
                person,
                b"intro requests are the asker's: changes refused",
            )
            .await;
            return Err(
                "refused: the other person tried to change your introduction request".into(),
            );
        }
        Err(e) => return Err(e.to_string()),
    };
    store_changed(&vault, person, ANSWERS_KIND, &sess, &changed).await?;
    Ok((summary.docs_received, summary.round_trips))
}

/// A write into a document authored here: recorded, and the connection closed with code 9.
async fn refuse_write(vault: &Arc<Vault>, conn: &Connection, person: &str, reason: &[u8]) {
    let key = person.to_string();
    let _ = blocking(vault, move |v| intros(v).record_intro_write_attempt(&key)).await;
    conn.close(READ_ONLY.into(), reason);
}

/// After a completed session: stores the documents received from the person (of kind
/// `kind`, checked again by `Intros::store_intro_received`).
async fn store_changed(
    vault: &Arc<Vault>,
    person: &str,
    kind: &'static str,
    sess: &IntroSession,
    changed: &[DocId],
) -> Result<(), String> {
    let docs: Vec<(DocId, Automerge)> = changed
        .iter()
        .filter_map(|id| sess.store.get(id).map(|d| (*id, d.clone())))
        .collect();
    let key = person.to_string();
    blocking(vault, move |v| {
        intros(v).store_intro_received(&key, kind, &docs)
    })
    .await
}

/// Owner side: serves the intro stream of a person's connection (already admitted). Returns a
/// note for the log.
pub async fn serve_intros(
    vault: Arc<Vault>,
    conn: &Connection,
    person: &str,
    mut send: SendStream,
    mut recv: RecvStream,
) -> Result<String, String> {
    let theirs: IntroHello = pair::read_frame(&mut recv).await?;
    let key = person.to_string();
    let mut sess = blocking(&vault, move |v| intros(v).session(&key)).await?;
    tamper(&mut sess);
    pair::write_frame(
        &mut send,
        &IntroHello {
            actor: sess.actor.clone(),
        },
    )
    .await?;
    let key = person.to_string();
    let actor = match blocking(&vault, move |v| intros(v).pin_actor(&key, &theirs.actor)).await {
        Ok(a) => a,
        Err(e) => {
            conn.close(READ_ONLY.into(), b"intro actor changed: refused");
            return Err(e);
        }
    };
    let peer = PeerId(*conn.remote_id().as_bytes());
    let side = Side::Intro {
        mine: sess.mine.clone(),
        actor,
        kind: REQUEST_KIND,
    };
    let out = run_engine(
        &mut sess.store,
        Role::Responder,
        peer,
        send,
        recv,
        side,
        None,
    )
    .await;
    let changed = match out {
        Ok((_, changed)) => changed,
        Err(EngineError::WriteAttempt) => {
            tracing::warn!(person = %&person[..8], "refused a write into an intro answer");
            refuse_write(
                &vault,
                conn,
                person,
                b"intro answers are read-only: changes refused",
            )
            .await;
            return Err(format!(
                "refused changes from person {} to intro answers (read-only)",
                &person[..8]
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    store_changed(&vault, person, REQUEST_KIND, &sess, &changed).await?;
    Ok(format!("; {} intro request(s) received", changed.len()))
}
