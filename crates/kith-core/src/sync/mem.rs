//! An in-memory [`SyncStore`] for tests and the simulator, shaped like the redb store should be.
//!
//! Invariant: `buckets` is always the XOR of the leaves of the stored documents, updated on every
//! write (as a redb store must do in the same write transaction), so the summary never loads a
//! document. Documents with empty heads are never stored. Like the redb store, it applies the
//! tombstone document: a document it names is never stored, edited or recreated, and storing
//! the tombstone document removes every document it names.

use std::cell::Cell;
use std::collections::BTreeMap;

use automerge::{ActorId, AutoCommit, Automerge, ChangeHash};

use super::reconcile::{bucket_of, leaf_digest, BucketHashes, Digest};
use super::session::Effect;
use super::{PeerId, StoreError, SyncStore};
use crate::tombstones::{self, TOMBSTONES_DOC};
use crate::DocId;

struct Entry {
    doc: Automerge,
    leaf: Digest,
}

/// See the module docs.
#[derive(Default)]
pub struct MemStore {
    docs: BTreeMap<DocId, Entry>,
    buckets: BucketHashes,
    states: BTreeMap<(PeerId, DocId), Vec<u8>>,
    loads: Cell<u64>,
    /// Set while a local edit landed during a session (the simulator): the announced heads
    /// then need only be contained in the stored document, which may be ahead of them.
    pub(crate) edited_during_session: bool,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores (or replaces) a document and updates the index. Empty documents are removed.
    pub fn put(&mut self, id: DocId, doc: Automerge) {
        if let Some(old) = self.docs.remove(&id) {
            self.buckets.toggle(&id, &old.leaf);
        }
        let heads = doc.get_heads();
        if heads.is_empty() {
            return;
        }
        let leaf = leaf_digest(&id, &heads);
        self.buckets.toggle(&id, &leaf);
        self.docs.insert(id, Entry { doc, leaf });
    }

    /// Edits a document (created if absent) as `actor`, like a local user command would.
    pub fn edit(
        &mut self,
        id: DocId,
        actor: ActorId,
        f: impl FnOnce(&mut AutoCommit) -> Result<(), automerge::AutomergeError>,
    ) -> Result<(), StoreError> {
        if self.deleted(&id) {
            return Ok(()); // the redb store refuses edits of a deleted document
        }
        let mut ac = match self.docs.get(&id) {
            Some(e) => AutoCommit::load(&e.doc.save()).map_err(|e| StoreError(e.to_string()))?,
            None => AutoCommit::new(),
        }
        .with_actor(actor);
        f(&mut ac).map_err(|e| StoreError(e.to_string()))?;
        let doc = ac.document().clone();
        self.put(id, doc);
        if id == TOMBSTONES_DOC {
            self.purge_tombstoned();
        }
        Ok(())
    }

    /// Whether the tombstone document names `id`.
    pub fn deleted(&self, id: &DocId) -> bool {
        *id != TOMBSTONES_DOC
            && self
                .docs
                .get(&TOMBSTONES_DOC)
                .is_some_and(|e| tombstones::is_deleted(&e.doc, id))
    }

    /// Removes every document the tombstone document names.
    fn purge_tombstoned(&mut self) {
        let gone: Vec<DocId> = self
            .docs
            .get(&TOMBSTONES_DOC)
            .map(|e| tombstones::read_tombstones(&e.doc).into_keys().collect())
            .unwrap_or_default();
        for id in gone {
            if let Some(old) = self.docs.remove(&id) {
                self.buckets.toggle(&id, &old.leaf);
            }
        }
    }

    /// Carries out the store-side effects of a session with `peer`; other effects are ignored.
    /// Checks that the changes bring the document to the announced heads.
    pub fn apply(&mut self, peer: &PeerId, effect: &Effect) -> Result<(), StoreError> {
        match effect {
            Effect::StoreChanges {
                doc,
                created,
                bytes,
                heads,
            } => {
                // A document deleted for good is never stored again, whoever sends it.
                if self.deleted(doc) {
                    return Ok(());
                }
                let mut am = match (self.docs.get(doc), created) {
                    (Some(e), _) => e.doc.clone(),
                    (None, true) => Automerge::new(),
                    (None, false) => {
                        return Err(StoreError(format!("changes for unknown document {doc}")))
                    }
                };
                am.load_incremental(bytes)
                    .map_err(|e| StoreError(e.to_string()))?;
                let mut got = am.get_heads();
                let mut want = heads.clone();
                got.sort();
                want.sort();
                let contained = want.iter().all(|h| am.get_change_meta_by_hash(h).is_some());
                if got != want && !(self.edited_during_session && contained) {
                    return Err(StoreError(format!(
                        "document {doc}: stored heads differ from the announced heads"
                    )));
                }
                self.put(*doc, am);
                if *doc == TOMBSTONES_DOC {
                    self.purge_tombstoned();
                }
            }
            Effect::StoreWhole { doc, bytes, leaf } => {
                if let Err(reason) = self.store_whole(doc, bytes, leaf) {
                    return Err(StoreError(format!("document {doc} refused: {reason}")));
                }
            }
            Effect::SaveSyncState { doc, state } if !self.deleted(doc) => {
                self.states.insert((*peer, *doc), state.clone());
            }
            Effect::SaveSyncState { .. }
            | Effect::Send(_)
            | Effect::Done(_)
            | Effect::Fail(_)
            | Effect::Quarantine { .. } => {}
        }
        Ok(())
    }

    /// Carries out [`Effect::StoreWhole`]: verifies the bytes ([`super::verify_whole`]) and
    /// stores the document, merged into the stored copy if there is one. `Err` is the reason
    /// to feed back as [`super::Event::Rejected`]; nothing was stored then.
    pub fn store_whole(&mut self, doc: &DocId, bytes: &[u8], leaf: &Digest) -> Result<(), String> {
        if self.deleted(doc) {
            return Ok(());
        }
        let got = super::verify_whole(doc, bytes, leaf)?;
        let am = match self.docs.get(doc) {
            Some(e) => {
                let mut am = e.doc.clone();
                am.merge(&mut got.clone()).map_err(|e| e.to_string())?;
                am
            }
            None => got,
        };
        self.put(*doc, am);
        if *doc == TOMBSTONES_DOC {
            self.purge_tombstoned();
        }
        Ok(())
    }

    pub fn heads(&self, id: &DocId) -> Option<Vec<ChangeHash>> {
        self.docs.get(id).map(|e| e.doc.get_heads())
    }

    pub fn doc(&self, id: &DocId) -> Option<&Automerge> {
        self.docs.get(id).map(|e| &e.doc)
    }

    pub fn ids(&self) -> impl Iterator<Item = &DocId> {
        self.docs.keys()
    }

    pub fn root(&self) -> [u8; 32] {
        self.buckets.root()
    }

    /// How many times [`SyncStore::load`] was called (tests check that untouched docs stay unloaded).
    pub fn loads(&self) -> u64 {
        self.loads.get()
    }
}

impl SyncStore for MemStore {
    fn bucket_hashes(&self) -> Result<BucketHashes, StoreError> {
        Ok(self.buckets.clone())
    }

    fn doc_count(&self) -> Result<u64, StoreError> {
        Ok(self.docs.len() as u64)
    }

    fn bucket_leaves(&self, bucket: u8) -> Result<Vec<(DocId, Digest)>, StoreError> {
        let mut lo = [0u8; 16];
        lo[0] = bucket;
        Ok(self
            .docs
            .range(DocId(lo)..)
            .take_while(|(id, _)| bucket_of(id) == bucket)
            .map(|(id, e)| (*id, e.leaf))
            .collect())
    }

    fn load(&self, doc: &DocId) -> Result<Option<Automerge>, StoreError> {
        self.loads.set(self.loads.get() + 1);
        Ok(self.docs.get(doc).map(|e| e.doc.clone()))
    }

    fn sync_state(&self, peer: &PeerId, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.states.get(&(*peer, *doc)).cloned())
    }

    fn is_deleted(&self, doc: &DocId) -> Result<bool, StoreError> {
        Ok(self.deleted(doc))
    }
}
