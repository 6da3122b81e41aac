//! What every local change records about itself: the command that made it (the change's
//! message) and when (the change's time, seconds since the epoch). `kith history` reads them
//! back from Automerge's own change graph; there is no second log.
//!
//! Invariant: a change this process commits through [`commit_pending`] (which `Writer::save`
//! calls) carries the process's origin tag and the transaction's clock. The tag is set once
//! per process by the CLI (the command's name: `set`, `edit`, `import`, ...); it defaults to
//! `kith`. Changes received from a peer are stored as they came.

use std::sync::RwLock;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit};

static ORIGIN: RwLock<String> = RwLock::new(String::new());

/// Sets the tag every change committed by this process carries (one word, e.g. `import`).
pub fn set_commit_origin(tag: &str) {
    if let Ok(mut o) = ORIGIN.write() {
        *o = tag.to_string();
    }
}

/// The tag changes committed now carry.
pub fn commit_origin() -> String {
    match ORIGIN.read() {
        Ok(o) if !o.is_empty() => o.clone(),
        _ => "kith".to_string(),
    }
}

/// Commits the document's pending operations, if any, as one change carrying the origin tag
/// and `now_ms` (milliseconds; stored as seconds, Automerge's unit).
pub fn commit_pending(doc: &mut AutoCommit, now_ms: i64) {
    if doc.pending_ops() > 0 {
        doc.commit_with(
            CommitOptions::default()
                .with_message(commit_origin())
                .with_time(now_ms.div_euclid(1000)),
        );
    }
}

/// The actor for a fork of a document edited on this device (`kith edit` writes on a fork at
/// the version the user saw): the vault's actor followed by 4 random bytes. A fork cannot reuse
/// the vault's actor (its sequence numbers would collide with changes made after that
/// version), and this keeps the device recognisable: [`same_device`].
pub fn fork_actor(vault_actor: &ActorId) -> ActorId {
    let mut bytes = vault_actor.to_bytes().to_vec();
    bytes.truncate(16);
    bytes.extend_from_slice(&rand::random::<[u8; 4]>());
    ActorId::from(bytes)
}

/// Whether a change's actor belongs to the vault whose actor is `vault_actor` (itself or one
/// of its [`fork_actor`]s).
pub fn same_device(actor: &ActorId, vault_actor: &ActorId) -> bool {
    let a = actor.to_bytes();
    let v = vault_actor.to_bytes();
    a.len() >= v.len() && a[..v.len()] == *v
}

impl crate::Vault {
    /// This vault's actor: every change made on this device carries it (or a [`fork_actor`]).
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }
}
