//! The scoped sync store: one share's documents, and nothing else, seen by the sync engine.
//!
//! Invariant: bucket hashes, counts and leaves are computed over the documents put here only,
//! so a share session reveals nothing about the rest of the vault; a document id not put here
//! gets exactly the answers an unknown id gets. Writes never happen here: the caller decides
//! what to do with the engine's `StoreChanges` effects (the owner refuses them, the recipient
//! checks their authors and stores them in its own table).

use std::collections::BTreeMap;

use automerge::Automerge;

use crate::sync::{bucket_of, leaf_digest, BucketHashes, Digest, PeerId, StoreError, SyncStore};
use crate::DocId;

/// See the module docs.
#[derive(Default)]
pub struct ShareStore {
    docs: BTreeMap<DocId, (Automerge, Digest)>,
    buckets: BucketHashes,
}

impl ShareStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a document. A document with no changes is not part of the store.
    pub fn put(&mut self, id: DocId, doc: Automerge) {
        if let Some((_, old)) = self.docs.remove(&id) {
            self.buckets.toggle(&id, &old);
        }
        let heads = doc.get_heads();
        if heads.is_empty() {
            return;
        }
        let leaf = leaf_digest(&id, &heads);
        self.buckets.toggle(&id, &leaf);
        self.docs.insert(id, (doc, leaf));
    }

    pub fn get(&self, id: &DocId) -> Option<&Automerge> {
        self.docs.get(id).map(|(d, _)| d)
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &DocId> {
        self.docs.keys()
    }
}

impl SyncStore for ShareStore {
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
            .map(|(id, (_, leaf))| (*id, *leaf))
            .collect())
    }

    fn load(&self, doc: &DocId) -> Result<Option<Automerge>, StoreError> {
        Ok(self.docs.get(doc).map(|(d, _)| d.clone()))
    }

    fn sync_state(&self, _peer: &PeerId, _doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        // Sync states are not kept between share sessions: a reconnect compares bucket hashes
        // first, so an unchanged share is still one round trip.
        Ok(None)
    }
}
