//! The scoped sync store: one share's documents, and nothing else, seen by the sync engine.
//!
//! Invariant: bucket hashes, counts and leaves are computed over the documents put here only,
//! so a share session reveals nothing about the rest of the vault; a document id not put here
//! gets exactly the answers an unknown id gets. Writes never happen here: the caller decides
//! what to do with the engine's `StoreChanges` effects (the owner refuses them, the recipient
//! checks their authors and stores them in its own table). A document put as saved bytes with
//! its leaf (`put_saved`) is loaded only when the engine needs its content, so a session that
//! finds nothing changed loads no document.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use automerge::Automerge;

use crate::sync::{bucket_of, leaf_digest, BucketHashes, Digest, PeerId, StoreError, SyncStore};
use crate::DocId;

struct Entry {
    leaf: Digest,
    /// The saved bytes, when the document was put saved (sent whole without loading).
    bytes: Option<Vec<u8>>,
    doc: OnceLock<Option<Automerge>>,
}

impl Entry {
    fn doc(&self) -> Option<&Automerge> {
        self.doc
            .get_or_init(|| self.bytes.as_deref().and_then(|b| Automerge::load(b).ok()))
            .as_ref()
    }
}

/// See the module docs.
#[derive(Default)]
pub struct ShareStore {
    docs: BTreeMap<DocId, Entry>,
    buckets: BucketHashes,
}

impl ShareStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a document. A document with no changes is not part of the store.
    pub fn put(&mut self, id: DocId, doc: Automerge) {
        let heads = doc.get_heads();
        if heads.is_empty() {
            self.remove(&id);
            return;
        }
        let leaf = leaf_digest(&id, &heads);
        self.insert(
            id,
            Entry {
                leaf,
                bytes: None,
                doc: OnceLock::from(Some(doc)),
            },
        );
    }

    /// Adds (or replaces) a document by its saved bytes and its leaf (`leaf_digest` of its
    /// heads), without loading it. The caller vouches that `leaf` is the bytes' leaf; bytes
    /// that do not load are a document the engine cannot find (`load` errs).
    pub fn put_saved(&mut self, id: DocId, bytes: Vec<u8>, leaf: Digest) {
        self.insert(
            id,
            Entry {
                leaf,
                bytes: Some(bytes),
                doc: OnceLock::new(),
            },
        );
    }

    fn remove(&mut self, id: &DocId) {
        if let Some(old) = self.docs.remove(id) {
            self.buckets.toggle(id, &old.leaf);
        }
    }

    fn insert(&mut self, id: DocId, e: Entry) {
        self.remove(&id);
        self.buckets.toggle(&id, &e.leaf);
        self.docs.insert(id, e);
    }

    /// The document (loaded on first use when it was put saved; `None` if its bytes do not
    /// load).
    pub fn get(&self, id: &DocId) -> Option<&Automerge> {
        self.docs.get(id).and_then(Entry::doc)
    }

    /// The leaf digest of a document in the store.
    pub fn leaf(&self, id: &DocId) -> Option<Digest> {
        self.docs.get(id).map(|e| e.leaf)
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
            .map(|(id, e)| (*id, e.leaf))
            .collect())
    }

    fn load(&self, doc: &DocId) -> Result<Option<Automerge>, StoreError> {
        match self.docs.get(doc) {
            None => Ok(None),
            Some(e) => match e.doc() {
                Some(d) => Ok(Some(d.clone())),
                None => Err(StoreError(format!(
                    "shared document {} is damaged",
                    doc.short()
                ))),
            },
        }
    }

    fn load_bytes(&self, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        match self.docs.get(doc) {
            Some(Entry { bytes: Some(b), .. }) => Ok(Some(b.clone())),
            Some(_) => Ok(self.load(doc)?.map(|d| d.save())),
            None => Ok(None),
        }
    }

    fn sync_state(&self, _peer: &PeerId, _doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        // Sync states are not kept between share sessions: a reconnect compares bucket hashes
        // first, so an unchanged share is still one round trip.
        Ok(None)
    }
}

/// The heads recorded in a saved document (`Automerge::save`: one document chunk), read
/// from its header without loading it: magic, checksum, chunk type 0, length, the actors,
/// then the heads. `None` for anything else (another chunk type, trailing bytes, a short
/// input), which the caller loads instead.
pub fn saved_heads(bytes: &[u8]) -> Option<Vec<automerge::ChangeHash>> {
    fn uleb(b: &[u8], at: &mut usize) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*at)?;
            *at += 1;
            v |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    if bytes.get(..4)? != MAGIC || *bytes.get(8)? != 0 {
        return None;
    }
    let mut at = 9;
    let len = usize::try_from(uleb(bytes, &mut at)?).ok()?;
    if at.checked_add(len)? != bytes.len() {
        return None; // not exactly one document chunk
    }
    let actors = uleb(bytes, &mut at)?;
    for _ in 0..actors {
        let n = usize::try_from(uleb(bytes, &mut at)?).ok()?;
        at = at.checked_add(n)?;
    }
    let heads = usize::try_from(uleb(bytes, &mut at)?).ok()?;
    let mut out = Vec::with_capacity(heads.min(64));
    for _ in 0..heads {
        let h: [u8; 32] = bytes.get(at..at.checked_add(32)?)?.try_into().ok()?;
        out.push(automerge::ChangeHash(h));
        at += 32;
    }
    Some(out)
}
