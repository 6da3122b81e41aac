//! Sync bookkeeping: bucket hashes, leaves, per-peer sync states, the change sequence and
//! the quarantine, and the engine's `SyncStore` view of a transaction.
//!
//! Invariant: the bucket hashes are the XOR of the leaves of the documents in each bucket,
//! updated in the same transaction as the document.

use std::collections::BTreeMap;
use std::path::Path;

use automerge::{AutoCommit, ChangeHash};
use kith_core::sync::{bucket_of, leaf_digest, BucketHashes, Digest};
use kith_core::DocId;
use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

use crate::*;

/// What this device knows about syncing with one peer (value of the `peers` table).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerState {
    /// When the last sync with the peer completed (ms since the epoch), 0 if never.
    pub last_sync: i64,
    /// When the peer was last connected (ms), 0 if never.
    pub last_seen: i64,
    /// The address it was last reached at.
    pub last_addr: String,
    /// Every change with a sequence number up to this was in sync with the peer.
    pub synced_upto: u64,
    /// The last failure, if the last attempt failed.
    pub last_error: String,
}

/// A document a sync session with one peer had to skip (value of the `quarantine` table).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    /// Why (the engine's message).
    pub reason: String,
    /// When it was first skipped (ms since the epoch).
    pub since: i64,
    /// When it was last skipped.
    pub last: i64,
    /// How many sessions skipped it.
    pub count: u32,
}

pub(crate) fn leaf_of(id: &DocId, heads: &[[u8; 32]]) -> Digest {
    let hs: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
    leaf_digest(id, &hs)
}

pub(crate) fn heads_of(doc: &mut AutoCommit) -> Vec<[u8; 32]> {
    doc.get_heads().iter().map(|h| h.0).collect()
}

impl Reader {
    /// Number of documents changed after change `seq` (what a peer synced up to `seq` lacks).
    pub fn changes_after(&self, seq: u64) -> Result<u64> {
        let t = rt!(self, CHANGES);
        let n = t
            .range(seq.saturating_add(1)..)
            .map_err(|e| self.e(e))?
            .count();
        Ok(n as u64)
    }

    pub fn change_seq(&self) -> Result<u64> {
        q_change_seq(&self.txn, &self.path)
    }

    pub fn peer_states(&self) -> Result<BTreeMap<[u8; 32], PeerState>> {
        let t = rt!(self, PEERS);
        let mut out = BTreeMap::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.insert(*k.value(), dec(v.value(), "peer state")?);
        }
        Ok(out)
    }

    /// Every quarantined (peer, document), by peer then document id. A vault written before
    /// the table existed has none.
    pub fn quarantined(&self) -> Result<Vec<([u8; 32], DocId, Quarantined)>> {
        let t = match self.txn.open_table(QUARANTINE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.e(e)),
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let (peer, doc) = k.value();
            out.push((*peer, DocId(*doc), dec(v.value(), "quarantine entry")?));
        }
        Ok(out)
    }

    /// The root hash over all documents' heads (changes whenever any document changes).
    pub fn root_hash(&self) -> Result<[u8; 32]> {
        Ok(self.buckets()?.root())
    }

    pub(crate) fn buckets(&self) -> Result<BucketHashes> {
        let t = rt!(self, BUCKETS);
        let mut h = BucketHashes::empty();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            h.0[k.value() as usize] = *v.value();
        }
        Ok(h)
    }
}

pub(crate) fn sync_err(e: StoreError) -> kith_core::sync::StoreError {
    kith_core::sync::StoreError(e.to_string())
}

pub(crate) type SyncResult<T> = std::result::Result<T, kith_core::sync::StoreError>;

/// The reads the sync engine needs, on the tables of either a read or a write transaction.
pub(crate) fn sync_buckets<T: ReadableTable<u8, IdKey>>(
    t: &T,
    p: &Path,
) -> SyncResult<BucketHashes> {
    let mut h = BucketHashes::empty();
    for row in t.iter().map_err(|e| sync_err(map_redb(p, e)))? {
        let (k, v) = row.map_err(|e| sync_err(map_redb(p, e)))?;
        h.0[k.value() as usize] = *v.value();
    }
    Ok(h)
}

pub(crate) fn sync_leaves<T: ReadableTable<IdKey, &'static [u8]>>(
    t: &T,
    bucket: u8,
    p: &Path,
) -> SyncResult<Vec<(DocId, Digest)>> {
    let mut lo = [0u8; 16];
    let mut hi = [0xffu8; 16];
    lo[0] = bucket;
    hi[0] = bucket;
    let mut out = Vec::new();
    for row in t
        .range::<&[u8; 16]>(&lo..=&hi)
        .map_err(|e| sync_err(map_redb(p, e)))?
    {
        let (k, v) = row.map_err(|e| sync_err(map_redb(p, e)))?;
        let m: DocMeta = dec(v.value(), "document metadata").map_err(sync_err)?;
        let id = DocId(*k.value());
        out.push((id, leaf_of(&id, &m.heads)));
    }
    Ok(out)
}

pub(crate) fn sync_load<T: ReadableTable<(IdKey, u32), &'static [u8]>>(
    t: &T,
    doc: &DocId,
    p: &Path,
) -> SyncResult<Option<automerge::Automerge>> {
    match load_chunks(t, doc.0, p).map_err(sync_err)? {
        Some(bytes) => automerge::Automerge::load(&bytes)
            .map(Some)
            .map_err(|e| kith_core::sync::StoreError(format!("document {doc}: {e}"))),
        None => Ok(None),
    }
}

pub(crate) fn sync_state_of<T: ReadableTable<(PeerKey, IdKey), &'static [u8]>>(
    t: &T,
    peer: &kith_core::sync::PeerId,
    doc: &DocId,
    p: &Path,
) -> SyncResult<Option<Vec<u8>>> {
    let v = t
        .get((&peer.0, &doc.0))
        .map_err(|e| sync_err(map_redb(p, e)))?;
    Ok(v.map(|v| v.value().to_vec()))
}

macro_rules! sync_store_impl {
    ($ty:ty) => {
        impl kith_core::sync::SyncStore for $ty {
            fn bucket_hashes(&self) -> SyncResult<BucketHashes> {
                let t = self
                    .txn
                    .open_table(BUCKETS)
                    .map_err(|e| sync_err(self.e(e)))?;
                sync_buckets(&t, &self.path)
            }

            fn doc_count(&self) -> SyncResult<u64> {
                let t = self.txn.open_table(DOCS).map_err(|e| sync_err(self.e(e)))?;
                t.len().map_err(|e| sync_err(self.e(e)))
            }

            fn bucket_leaves(&self, bucket: u8) -> SyncResult<Vec<(DocId, Digest)>> {
                let t = self.txn.open_table(DOCS).map_err(|e| sync_err(self.e(e)))?;
                sync_leaves(&t, bucket, &self.path)
            }

            fn load(&self, doc: &DocId) -> SyncResult<Option<automerge::Automerge>> {
                let t = self
                    .txn
                    .open_table(CHUNKS)
                    .map_err(|e| sync_err(self.e(e)))?;
                sync_load(&t, doc, &self.path)
            }

            fn sync_state(
                &self,
                peer: &kith_core::sync::PeerId,
                doc: &DocId,
            ) -> SyncResult<Option<Vec<u8>>> {
                let t = self
                    .txn
                    .open_table(SYNC_STATES)
                    .map_err(|e| sync_err(self.e(e)))?;
                sync_state_of(&t, peer, doc, &self.path)
            }

            fn load_bytes(&self, doc: &DocId) -> SyncResult<Option<Vec<u8>>> {
                let t = self
                    .txn
                    .open_table(CHUNKS)
                    .map_err(|e| sync_err(self.e(e)))?;
                load_chunks(&t, doc.0, &self.path).map_err(sync_err)
            }

            fn is_deleted(&self, doc: &DocId) -> SyncResult<bool> {
                let t = self
                    .txn
                    .open_table(TOMBSTONES)
                    .map_err(|e| sync_err(self.e(e)))?;
                let v = t.get(&doc.0).map_err(|e| sync_err(self.e(e)))?;
                Ok(v.is_some())
            }
        }
    };
}

sync_store_impl!(Reader);
// The engine can also read through a write transaction: a batch of frames is then handled and
// persisted in one transaction, each step seeing the changes of the steps before it.
sync_store_impl!(Writer);

impl Writer {
    pub(crate) fn toggle_bucket(
        &mut self,
        id: &DocId,
        old: Option<Digest>,
        new: Option<Digest>,
    ) -> Result<()> {
        let b = bucket_of(id);
        let mut t = wt!(self, BUCKETS);
        let mut cur = t
            .get(b)
            .map_err(|e| self.e(e))?
            .map(|v| *v.value())
            .unwrap_or([0u8; 16]);
        for leaf in [old, new].into_iter().flatten() {
            for (x, y) in cur.iter_mut().zip(leaf) {
                *x ^= y;
            }
        }
        if cur == [0u8; 16] {
            t.remove(b).map_err(|e| self.e(e))?;
        } else {
            t.insert(b, &cur).map_err(|e| self.e(e))?;
        }
        Ok(())
    }

    pub(crate) fn rebuild_buckets(&mut self) -> Result<()> {
        let p = self.path.clone();
        let mut hashes = BucketHashes::empty();
        {
            let t = wt!(self, DOCS);
            for row in t.iter().map_err(|e| map_redb(&p, e))? {
                let (k, v) = row.map_err(|e| map_redb(&p, e))?;
                let m: DocMeta = dec(v.value(), "document metadata")?;
                let id = DocId(*k.value());
                hashes.toggle(&id, &leaf_of(&id, &m.heads));
            }
        }
        let mut t = wt!(self, BUCKETS);
        for (b, h) in hashes.0.iter().enumerate() {
            if *h != [0u8; 16] {
                t.insert(b as u8, h).map_err(|e| map_redb(&p, e))?;
            }
        }
        Ok(())
    }

    /// Records that a document changed (locally or from a peer), for `kith status`.
    pub(crate) fn record_change(&mut self, id: DocId) -> Result<()> {
        let p = self.path.clone();
        let seq = {
            let mut t = wt!(self, META);
            let cur = t
                .get("change_seq")
                .map_err(|e| map_redb(&p, e))?
                .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
                .unwrap_or(0)
                + 1;
            t.insert("change_seq", cur.to_le_bytes().as_slice())
                .map_err(|e| map_redb(&p, e))?;
            cur
        };
        let mut of = wt!(self, CHANGE_OF);
        let old = of
            .insert(&id.0, seq)
            .map_err(|e| map_redb(&p, e))?
            .map(|v| v.value());
        let mut ch = wt!(self, CHANGES);
        if let Some(o) = old {
            ch.remove(o).map_err(|e| map_redb(&p, e))?;
        }
        ch.insert(seq, &id.0).map_err(|e| map_redb(&p, e))?;
        Ok(())
    }

    /// The change counter: every document change so far has a sequence number at most this.
    pub fn change_seq(&self) -> Result<u64> {
        q_change_seq(&self.txn, &self.path)
    }

    /// The documents whose last change came after change `seq` (each once). A document
    /// deleted for good since then is not listed, but the tombstone document is.
    pub fn changed_after(&self, seq: u64) -> Result<Vec<DocId>> {
        let t = wt!(self, CHANGES);
        let mut out = Vec::new();
        for row in t.range(seq.saturating_add(1)..).map_err(|e| self.e(e))? {
            let (_, id) = row.map_err(|e| self.e(e))?;
            out.push(DocId(*id.value()));
        }
        Ok(out)
    }

    /// Applies changes received from a peer: `created` means `bytes` is a whole saved document
    /// not yet stored here; otherwise they are changes to load into the stored document.
    pub fn apply_remote(&mut self, id: DocId, created: bool, bytes: &[u8]) -> Result<()> {
        // A document deleted for good is never stored again, whoever sends it.
        if self.is_deleted(id)? {
            return Ok(());
        }
        let existing = self.load(id)?;
        let l = match existing {
            Some(mut l) => {
                l.doc
                    .load_incremental(bytes)
                    .map_err(|e| StoreError::BadDocument(id, e.to_string()))?;
                l
            }
            None => {
                let _ = created;
                let mut doc = AutoCommit::new().with_actor(self.actor.clone());
                doc.load_incremental(bytes)
                    .map_err(|e| StoreError::BadDocument(id, e.to_string()))?;
                Loaded {
                    id,
                    doc,
                    before: None,
                    meta: None,
                }
            }
        };
        self.save(l)?;
        // An item received after its contacts were deleted loses those links (or goes too).
        if self.links_deleted_contact(id)? {
            self.settle_links(&[id])?;
        }
        Ok(())
    }

    pub fn save_sync_state(&mut self, peer: [u8; 32], id: DocId, state: &[u8]) -> Result<()> {
        if self.is_deleted(id)? {
            return Ok(());
        }
        let mut t = wt!(self, SYNC_STATES);
        t.insert((&peer, &id.0), state).map_err(|e| self.e(e))?;
        Ok(())
    }

    pub fn peer_state(&self, peer: [u8; 32]) -> Result<PeerState> {
        let t = wt!(self, PEERS);
        let v = t.get(&peer).map_err(|e| self.e(e))?;
        match v {
            Some(v) => dec(v.value(), "peer state"),
            None => Ok(PeerState::default()),
        }
    }

    pub fn set_peer_state(&mut self, peer: [u8; 32], st: &PeerState) -> Result<()> {
        let mut t = wt!(self, PEERS);
        t.insert(&peer, enc(st).as_slice()).map_err(|e| self.e(e))?;
        Ok(())
    }

    /// Records that a session with `peer` skipped document `id`, and why.
    pub fn quarantine(&mut self, peer: [u8; 32], id: DocId, reason: &str) -> Result<()> {
        let now = self.now;
        let mut t = wt!(self, QUARANTINE);
        let mut q: Quarantined = match t.get((&peer, &id.0)).map_err(|e| map_redb(&self.path, e))? {
            Some(v) => dec(v.value(), "quarantine entry")?,
            None => Quarantined {
                since: now,
                ..Quarantined::default()
            },
        };
        q.reason = reason.to_string();
        q.last = now;
        q.count = q.count.saturating_add(1);
        t.insert((&peer, &id.0), enc(&q).as_slice())
            .map_err(|e| map_redb(&self.path, e))?;
        Ok(())
    }

    /// After a completed session with `peer`: every document it did not skip again is in
    /// sync (or no longer differs), so its quarantine entry goes.
    pub fn clear_quarantine(
        &mut self,
        peer: [u8; 32],
        keep: &std::collections::BTreeSet<DocId>,
    ) -> Result<()> {
        let p = self.path.clone();
        let mut t = wt!(self, QUARANTINE);
        let gone: Vec<Id> = t
            .range((&peer, &[0u8; 16])..=(&peer, &[0xffu8; 16]))
            .map_err(|e| map_redb(&p, e))?
            .filter_map(|r| r.ok())
            .map(|(k, _)| *k.value().1)
            .filter(|d| !keep.contains(&DocId(*d)))
            .collect();
        for d in gone {
            t.remove((&peer, &d)).map_err(|e| map_redb(&p, e))?;
        }
        Ok(())
    }
}

/// A document a peer sent whole (sync protocol v2), loaded once and indexed before the write
/// transaction: [`WholeDoc::prepare`] may run on any thread (the driver runs it on both cores
/// while the transaction is not open yet); [`WholeDoc::verify`] checks its heads against the
/// leaf the peer announced; [`Writer::store_whole`] then stores the bytes exactly as received,
/// with no reload and no re-save.
pub struct WholeDoc {
    heads: Vec<[u8; 32]>,
    kind: u8,
    index: kith_core::index::DocIndex,
}

impl WholeDoc {
    /// Loads the bytes and derives the index entries. `Err` is why they are refused.
    pub fn prepare(bytes: &[u8]) -> std::result::Result<WholeDoc, String> {
        let doc =
            automerge::Automerge::load(bytes).map_err(|e| format!("it does not load: {e}"))?;
        let (kind, index) = kith_core::index::derive(&doc);
        let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
        if heads.is_empty() {
            return Err("it has no changes".into());
        }
        Ok(WholeDoc {
            heads,
            kind: kind.map(|k| k.code()).unwrap_or(0),
            index,
        })
    }

    /// Checks that the document's heads give the leaf the peer announced for `id`.
    pub fn verify(&self, id: &DocId, leaf: &Digest) -> std::result::Result<(), String> {
        if leaf_of(id, &self.heads) == *leaf {
            Ok(())
        } else {
            Err("its heads are not the ones the peer announced".into())
        }
    }
}

impl Writer {
    /// Stores a verified document received whole: its bytes as they are, its metadata, leaf,
    /// bucket, change number and index entries, in this transaction. A document that exists
    /// here after all (another command created it meanwhile), the membership and the tombstone
    /// documents take the general path, `apply_remote` (loaded and merged), so nothing stored
    /// is replaced.
    ///
    /// The contacts whose derived state (last contact, cadence) the document affects are added
    /// to `refresh` instead of being recomputed here: the caller calls
    /// [`Writer::refresh_contacts`] with them once, before the transaction commits, so a batch
    /// of thousands of notes recomputes each contact once, not once per note.
    pub fn store_whole(
        &mut self,
        id: DocId,
        bytes: &[u8],
        w: WholeDoc,
        refresh: &mut std::collections::BTreeSet<DocId>,
    ) -> Result<()> {
        if self.is_deleted(id)? {
            return Ok(());
        }
        let exists = {
            let t = wt!(self, DOCS);
            let v = t.get(&id.0).map_err(|e| self.e(e))?;
            v.is_some()
        };
        if exists
            || id == kith_core::tombstones::TOMBSTONES_DOC
            || id == kith_core::devices::DEVICES_DOC
        {
            return self.apply_remote(id, true, bytes);
        }
        let p = self.path.clone();
        let ord = self.next_ord()?;
        {
            let mut t = wt!(self, ORDS);
            t.insert(ord, &id.0).map_err(|e| map_redb(&p, e))?;
        }
        self.toggle_bucket(&id, None, Some(leaf_of(&id, &w.heads)))?;
        self.record_change(id)?;
        {
            let mut chunks = wt!(self, CHUNKS);
            chunks
                .insert((&id.0, 0), bytes)
                .map_err(|e| map_redb(&p, e))?;
        }
        let meta = DocMeta {
            kind: w.kind,
            ord,
            next_seq: 1,
            snapshot_len: bytes.len() as u64,
            incremental_len: 0,
            heads: w.heads,
        };
        {
            let mut docs = wt!(self, DOCS);
            docs.insert(&id.0, enc(&meta).as_slice())
                .map_err(|e| map_redb(&p, e))?;
        }
        self.apply_index_with_ord(id, ord, None, &w.index, false)?;
        if let Some(item) = &w.index.item {
            refresh.extend(item.contacts.iter().copied());
        }
        if w.index.contact.is_some() {
            refresh.insert(id);
        }
        // An item received after its contacts were deleted loses those links (or goes too).
        if self.links_deleted_contact(id)? {
            self.settle_links(&[id])?;
        }
        Ok(())
    }

    /// [`Writer::store_whole`] of many verified documents at once, each table opened once for
    /// the batch and its rows inserted in key order (`Writer::insert_rows`, import's path): the
    /// tables end as `store_whole` of each in turn leaves them. Documents in the tombstone set
    /// are dropped; one that exists here after all, and the membership and tombstone
    /// documents, take `store_whole`'s general path. The ids must be distinct.
    pub fn store_whole_batch(
        &mut self,
        docs: Vec<(DocId, Vec<u8>, WholeDoc)>,
        refresh: &mut std::collections::BTreeSet<DocId>,
    ) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let p = self.path.clone();
        let mut fresh: Vec<crate::batch::NewDoc> = Vec::with_capacity(docs.len());
        let mut general = Vec::new();
        {
            let tomb = wt!(self, TOMBSTONES);
            let metas = wt!(self, DOCS);
            for (id, bytes, w) in docs {
                if tomb.get(&id.0).map_err(|e| map_redb(&p, e))?.is_some() {
                    continue;
                }
                let exists = metas.get(&id.0).map_err(|e| map_redb(&p, e))?.is_some();
                if exists
                    || id == kith_core::tombstones::TOMBSTONES_DOC
                    || id == kith_core::devices::DEVICES_DOC
                {
                    general.push((id, bytes, w));
                    continue;
                }
                fresh.push(crate::batch::NewDoc {
                    id,
                    kind: kith_core::Kind::from_code(w.kind),
                    index: w.index,
                    bytes,
                    heads: w.heads,
                });
            }
        }
        let affected = self.insert_rows(&fresh)?;
        refresh.extend(affected.into_iter().map(DocId));
        // An item received after its contacts were deleted loses those links (or goes too).
        let mut orphans = Vec::new();
        {
            let tomb = wt!(self, TOMBSTONES);
            for d in &fresh {
                if let Some(item) = &d.index.item {
                    for c in &item.contacts {
                        if tomb.get(&c.0).map_err(|e| map_redb(&p, e))?.is_some() {
                            orphans.push(d.id);
                            break;
                        }
                    }
                }
            }
        }
        if !orphans.is_empty() {
            self.settle_links(&orphans)?;
        }
        for (id, bytes, w) in general {
            self.store_whole(id, &bytes, w, refresh)?;
        }
        Ok(())
    }

    /// Recomputes the derived state (last contact, cadence) of these contacts: what
    /// [`Writer::store_whole`] left for the end of the batch.
    pub fn refresh_contacts(&mut self, contacts: &std::collections::BTreeSet<DocId>) -> Result<()> {
        let ids: Vec<Id> = contacts.iter().map(|c| c.0).collect();
        self.refresh_contact_states(&ids)
    }
}
