//! Document chunks: a snapshot plus incremental changes per document, loaded and saved.
//!
//! Invariant: the chunks of a document, concatenated in sequence order, load to the document
//! last saved; compaction replaces them by one snapshot without changing the document.

use std::collections::BTreeMap;
use std::path::Path;

use automerge::AutoCommit;
use kith_core::index::{self, DocIndex};
use kith_core::tombstones::{self, TOMBSTONES_DOC};
use kith_core::{model, DocId, Kind};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::*;

/// Metadata of one document (value of the `docs` table, postcard-encoded).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocMeta {
    pub kind: u8,
    pub ord: u32,
    /// Sequence number the next incremental chunk gets; the snapshot is chunk 0.
    pub next_seq: u32,
    pub snapshot_len: u64,
    pub incremental_len: u64,
    pub heads: Vec<[u8; 32]>,
}

/// How a vault file's bytes are used ([`Vault::space`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Space {
    /// The file's size.
    pub file: u64,
    /// Pages in use (the rest of the file is free pages).
    pub allocated: u64,
    /// Keys, values and table metadata: what a perfectly dense file would hold.
    pub stored: u64,
}

impl Space {
    /// The pages in use hold much less than they could ([`REPACK_PERCENT`]): B-tree leaves
    /// filled in random key order, values rounded up to whole pages. Rewriting every table in
    /// key order ([`Vault::optimize`]) pays.
    pub fn underfilled(&self) -> bool {
        self.allocated * 100 > REPACK_PERCENT * self.stored
    }

    /// More of the file is free pages than redb's growth explains ([`SHRINK_PERCENT`]):
    /// moving the pages in use to the front and truncating pays.
    pub fn mostly_free(&self) -> bool {
        self.file * 100 > SHRINK_PERCENT * self.allocated
    }

    /// Worth compacting: at least [`SPARSE_MIN_BYTES`] and underfilled or mostly free.
    pub fn sparse(&self) -> bool {
        self.file >= SPARSE_MIN_BYTES && (self.underfilled() || self.mostly_free())
    }
}

/// [`Vault::compact_if_sparse`] repacks the tables when their pages are more than this percent
/// of the bytes they hold. A vault just repacked is about 107%; one built by many transactions
/// (the benchmark builder, a first sync) 150–190%; one written by one large import in random
/// id order about 148% (leaves two thirds full), which 150 left unrepacked at 3.6x its JSON.
pub const REPACK_PERCENT: u64 = 130;
/// ...and shrinks the file when it is more than this percent of the pages in use. redb grows a
/// file below 4 GiB by doubling it, so a file being written is normally up to 200% of its
/// pages in use; judging by the file size alone made every write after a compaction (which
/// doubles the file again) look sparse and repack the whole vault.
pub const SHRINK_PERCENT: u64 = 225;
/// Files smaller than this are never compacted (not worth the rewrite).
pub const SPARSE_MIN_BYTES: u64 = 4 << 20;
/// A write that leaves the file this many halves of its size at the last space check (3: half
/// as large again) has the vault check it when the handle is dropped ([`Vault::keep_compact`]).
pub const GROWTH_HALVES: u64 = 3;
/// The `meta` key holding the file size (u64 LE) after the last space check.
pub const SPACE_CHECKED: &str = "space_checked";

/// A document loaded for editing, with the index it had before the edit.
pub struct Loaded {
    pub id: DocId,
    pub doc: AutoCommit,
    pub(crate) before: Option<DocIndex>,
    pub(crate) meta: Option<DocMeta>,
}

/// A loaded contact whose index has not been derived yet ([`Writer::load_contact`]): it can be
/// read, but only saved once [`Unindexed::indexed`] has recorded the index it had.
pub struct Unindexed(Loaded);

impl Unindexed {
    pub fn doc(&self) -> &AutoCommit {
        &self.0.doc
    }

    /// The document ready for editing, with the index derived from `read`, the value
    /// `load_contact` returned (before any edit of the document).
    pub fn indexed(self, read: &model::Contact) -> Loaded {
        let mut l = self.0;
        l.before = Some(if model::doc_kind(&l.doc) == Some(Kind::Contact) {
            index::contact_index(read)
        } else {
            index::derive(&l.doc).1
        });
        l
    }
}

impl Vault {
    /// Rewrites every table in key order and then shrinks the file (`kith reindex` runs it).
    ///
    /// B-tree leaves filled by inserts in random key order (document ids, terms) end up about
    /// two thirds full, and bulk loading leaves free pages behind; a table copied in key order
    /// has full leaves, and redb's `compact` then moves the pages in use to the front of the
    /// file and truncates it. The contents of every table are unchanged.
    pub fn optimize(&mut self) -> Result<()> {
        let p = self.path.clone();
        let txn = self.begin_write()?;
        repack_all(&txn, &p)?;
        txn.commit().map_err(|e| map_redb(&p, e))?;
        self.shrink()
    }

    /// Moves the pages in use to the front of the file and truncates it (redb's `compact`).
    fn shrink(&mut self) -> Result<()> {
        let p = self.path.clone();
        let Db::Rw(db) = &mut self.db else {
            return Err(StoreError::Internal(
                "the vault was opened read-only".into(),
            ));
        };
        // Each pass moves pages towards the front; stop when one makes no progress.
        for _ in 0..8 {
            match db.compact() {
                Ok(true) => continue,
                Ok(false) => break,
                // Another process is reading or writing: the repacked file is still valid, it
                // is just not truncated this time.
                Err(redb::CompactionError::TransactionInProgress) => break,
                Err(e) => return Err(map_redb(&p, e)),
            }
        }
        Ok(())
    }

    /// How the file's bytes are used, from redb's statistics (one pass over the tables' pages).
    pub fn space(&self) -> Result<Space> {
        let p = self.path.clone();
        let txn = self.begin_write()?;
        let s = txn.stats().map_err(|e| map_redb(&p, e))?;
        txn.abort().map_err(|e| map_redb(&p, e))?;
        Ok(Space {
            file: file_size(&p),
            allocated: s.allocated_pages() * s.page_size() as u64,
            stored: s.stored_bytes() + s.metadata_bytes(),
        })
    }

    /// Keeps the file compact as part of normal operation. After a write that stored many
    /// documents (an import, a restore, a sync), the caller asks; when the file is at least
    /// [`SPARSE_MIN_BYTES`] and its tables' pages are underfilled ([`Space::underfilled`]),
    /// every table is rewritten in key order and the file shrunk ([`Vault::optimize`]); when
    /// only the file is mostly free pages ([`Space::mostly_free`]), it is just shrunk. Returns
    /// the space before and, when it compacted, after.
    pub fn compact_if_sparse(&mut self) -> Result<(Space, Option<Space>)> {
        // A check is running: dropping the handle need not run another.
        self.grown
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let before = self.space()?;
        if !before.sparse() {
            return Ok((before, None));
        }
        if before.underfilled() {
            self.optimize()?;
        } else {
            self.shrink()?;
        }
        Ok((before, Some(self.space()?)))
    }

    /// After a commit: marks the handle for a space check when the file is at least
    /// [`SPARSE_MIN_BYTES`] and half as large again as at the last check. Costs a `stat` (and,
    /// for a large file, one `meta` read); never fails the write that called it.
    pub(crate) fn note_growth(&self) {
        let size = file_size(&self.path);
        if size < SPARSE_MIN_BYTES || self.grown.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let checked = self.space_checked().unwrap_or(0);
        if 2 * size >= GROWTH_HALVES * checked {
            self.grown.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The file size recorded at the last space check (0: never checked).
    fn space_checked(&self) -> Result<u64> {
        let r = self.begin_read()?;
        let t = match r.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(map_redb(&self.path, e)),
        };
        let v = t.get(SPACE_CHECKED).map_err(|e| map_redb(&self.path, e))?;
        Ok(
            v.and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
                .unwrap_or(0),
        )
    }

    /// Keeps the file compact: compacts it when sparse ([`Vault::compact_if_sparse`]) and
    /// records in `meta["space_checked"]` the size the file will have once written again:
    /// twice its pages in use after a compaction (redb doubles a full file on the next
    /// write), its size otherwise. The next check waits until the file has grown by half
    /// beyond that, so checks and repacks stay proportional to what was written. Called after
    /// large imports, restores and syncs, and when a handle whose writes grew the file is
    /// dropped.
    pub fn keep_compact(&mut self) -> Result<(Space, Option<Space>)> {
        let out = self.compact_if_sparse()?;
        let p = self.path.clone();
        let txn = self.begin_write()?;
        {
            let mut t = txn.open_table(META).map_err(|e| map_redb(&p, e))?;
            let size = match out.1 {
                Some(after) => after.file.max(2 * after.allocated),
                None => out.0.file,
            };
            t.insert(SPACE_CHECKED, size.to_le_bytes().as_slice())
                .map_err(|e| map_redb(&p, e))?;
        }
        txn.commit().map_err(|e| map_redb(&p, e))?;
        if out.1.is_some() {
            // That commit copied a few pages past the compacted end: move them back.
            self.shrink()?;
        }
        self.grown
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(out)
    }

    /// Rewrites every document as one fresh snapshot (the compaction rule applied to all).
    /// Returns the number of documents compacted.
    pub fn compact(&self) -> Result<u64> {
        let p = self.path.clone();
        let txn = self.begin_write()?;
        let w = Writer {
            txn,
            path: p.clone(),
            actor: self.actor.clone(),
            now: 0,
            postings: None,
            pending: BTreeMap::new(),
        };
        let mut n = 0;
        {
            let ids: Vec<Id> = {
                let t = w.txn.open_table(DOCS).map_err(|e| map_redb(&p, e))?;
                let mut v = Vec::new();
                for r in t.iter().map_err(|e| map_redb(&p, e))? {
                    v.push(*r.map_err(|e| map_redb(&p, e))?.0.value());
                }
                v
            };
            for id in ids {
                let Some(mut l) = w.load_doc(DocId(id))? else {
                    continue;
                };
                let mut meta = l.meta.take().unwrap_or_default();
                let mut chunks = w.txn.open_table(CHUNKS).map_err(|e| map_redb(&p, e))?;
                for seq in 1..meta.next_seq {
                    chunks.remove((&id, seq)).map_err(|e| map_redb(&p, e))?;
                }
                let snap = crate::batch::snapshot(&mut l.doc);
                chunks
                    .insert((&id, 0), snap.as_slice())
                    .map_err(|e| map_redb(&p, e))?;
                meta.snapshot_len = snap.len() as u64;
                meta.incremental_len = 0;
                meta.next_seq = 1;
                let mut docs = w.txn.open_table(DOCS).map_err(|e| map_redb(&p, e))?;
                docs.insert(&id, enc(&meta).as_slice())
                    .map_err(|e| map_redb(&p, e))?;
                n += 1;
            }
        }
        w.txn.commit().map_err(|e| map_redb(&p, e))?;
        Ok(n)
    }
}

pub(crate) fn load_chunks<T: ReadableTable<(IdKey, u32), &'static [u8]>>(
    t: &T,
    id: Id,
    p: &Path,
) -> Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    let mut any = false;
    for row in t
        .range((&id, 0u32)..=(&id, u32::MAX))
        .map_err(|e| map_redb(p, e))?
    {
        let (_, v) = row.map_err(|e| map_redb(p, e))?;
        bytes.extend_from_slice(v.value());
        any = true;
    }
    Ok(any.then_some(bytes))
}

pub(crate) fn parse_doc(id: DocId, bytes: &[u8]) -> Result<AutoCommit> {
    AutoCommit::load(bytes).map_err(|e| StoreError::BadDocument(id, e.to_string()))
}

impl Writer {
    /// Loads a document for editing. None when it does not exist.
    pub fn load(&self, id: DocId) -> Result<Option<Loaded>> {
        let Some(mut l) = self.load_doc(id)? else {
            return Ok(None);
        };
        l.before = Some(index::derive(&l.doc).1);
        Ok(Some(l))
    }

    /// Loads a contact to compare it with another version (an import's card) and reads it once.
    /// The index it had is derived only when it is about to be edited
    /// ([`Unindexed::indexed`]), so a comparison that changes nothing costs no index
    /// derivation. None when it does not exist.
    pub fn load_contact(&self, id: DocId) -> Result<Option<(Unindexed, model::Contact)>> {
        let Some(l) = self.load_doc(id)? else {
            return Ok(None);
        };
        let c = model::read_contact(&l.doc);
        Ok(Some((Unindexed(l), c)))
    }

    pub(crate) fn load_doc(&self, id: DocId) -> Result<Option<Loaded>> {
        let meta = {
            let t = wt!(self, DOCS);
            let v = t.get(&id.0).map_err(|e| self.e(e))?;
            match v {
                Some(v) => dec::<DocMeta>(v.value(), "document metadata")?,
                None => return Ok(None),
            }
        };
        let bytes = {
            let t = wt!(self, CHUNKS);
            load_chunks(&t, id.0, &self.path)?
        };
        let Some(bytes) = bytes else {
            return Err(StoreError::BadDocument(id, "no stored chunks".into()));
        };
        let mut doc = parse_doc(id, &bytes)?;
        doc.set_actor(self.actor.clone());
        Ok(Some(Loaded {
            id,
            doc,
            before: None,
            meta: Some(meta),
        }))
    }

    /// A new, empty document with a fresh random id.
    pub fn create(&self) -> Loaded {
        let id = DocId(rand::random());
        self.create_with_id(id)
    }

    /// A new, empty document with the given id (for documents received from a peer or restored).
    pub fn create_with_id(&self, id: DocId) -> Loaded {
        let doc = AutoCommit::new().with_actor(self.actor.clone());
        Loaded {
            id,
            doc,
            before: None,
            meta: None,
        }
    }

    /// Writes a loaded document's new changes and updates every index it affects.
    pub fn save(&mut self, l: Loaded) -> Result<()> {
        // A document of a kind this version does not know (written by a newer kith) is stored
        // and synced as is, with kind code 0 and no index entries.
        let (kind, after) = index::derive(&l.doc);
        self.save_indexed(l, kind, after)
    }

    /// Saves a document whose index entries the caller derived from the value it just wrote
    /// (`kith_core::index::contact_index` of what `model::new_contact` returned, ...), so the
    /// document is not read back. `after` must equal `index::derive(&l.doc)`; debug builds
    /// check it.
    pub fn save_indexed(
        &mut self,
        mut l: Loaded,
        kind: Option<Kind>,
        after: DocIndex,
    ) -> Result<()> {
        crate::origin::commit_pending(&mut l.doc, self.now);
        debug_assert!(
            index::derive(&l.doc) == (kind, after.clone()),
            "save_indexed: the index given is not the document's"
        );
        let p = self.path.clone();
        let kind_code = kind.map(|k| k.code()).unwrap_or(0);
        let deleted = (l.id == TOMBSTONES_DOC).then(|| tombstones::read_tombstones(&l.doc));
        let mut meta = match l.meta.take() {
            Some(m) => m,
            None => {
                let ord = self.next_ord()?;
                let mut t = wt!(self, ORDS);
                t.insert(ord, &l.id.0).map_err(|e| self.e(e))?;
                DocMeta {
                    kind: kind_code,
                    ord,
                    next_seq: 0,
                    ..Default::default()
                }
            }
        };
        meta.kind = kind_code;
        let heads = heads_of(&mut l.doc);
        if meta.next_seq > 0 && heads == meta.heads {
            return Ok(()); // nothing changed
        }
        let old_leaf = (meta.next_seq > 0).then(|| leaf_of(&l.id, &meta.heads));
        self.toggle_bucket(&l.id, old_leaf, Some(leaf_of(&l.id, &heads)))?;
        self.record_change(l.id)?;
        {
            let mut chunks = wt!(self, CHUNKS);
            if meta.next_seq == 0 {
                let snap = crate::batch::snapshot(&mut l.doc);
                meta.snapshot_len = snap.len() as u64;
                chunks
                    .insert((&l.id.0, 0), snap.as_slice())
                    .map_err(|e| map_redb(&p, e))?;
                meta.next_seq = 1;
                meta.incremental_len = 0;
            } else {
                let inc = l.doc.save_incremental();
                meta.incremental_len += inc.len() as u64;
                if meta.incremental_len > meta.snapshot_len
                    || meta.next_seq > MAX_INCREMENTAL_CHUNKS
                {
                    for seq in 1..meta.next_seq {
                        chunks.remove((&l.id.0, seq)).map_err(|e| map_redb(&p, e))?;
                    }
                    let snap = crate::batch::snapshot(&mut l.doc);
                    meta.snapshot_len = snap.len() as u64;
                    meta.incremental_len = 0;
                    meta.next_seq = 1;
                    chunks
                        .insert((&l.id.0, 0), snap.as_slice())
                        .map_err(|e| map_redb(&p, e))?;
                } else {
                    chunks
                        .insert((&l.id.0, meta.next_seq), inc.as_slice())
                        .map_err(|e| map_redb(&p, e))?;
                    meta.next_seq += 1;
                }
            }
        }
        meta.heads = heads;
        {
            let mut docs = wt!(self, DOCS);
            docs.insert(&l.id.0, enc(&meta).as_slice())
                .map_err(|e| map_redb(&p, e))?;
        }
        self.apply_index_with_ord(l.id, meta.ord, l.before.as_ref(), &after, true)?;
        if let Some(set) = deleted {
            self.apply_tombstones(set)?;
        }
        Ok(())
    }

    /// Deletes a document and every index entry derived from it.
    pub fn purge(&mut self, id: DocId) -> Result<bool> {
        let Some(l) = self.load(id)? else {
            return Ok(false);
        };
        let p = self.path.clone();
        let meta = l.meta.clone().unwrap_or_default();
        {
            let mut chunks = wt!(self, CHUNKS);
            for seq in 0..meta.next_seq.max(1) {
                chunks.remove((&id.0, seq)).map_err(|e| map_redb(&p, e))?;
            }
            let mut docs = wt!(self, DOCS);
            docs.remove(&id.0).map_err(|e| map_redb(&p, e))?;
            let mut ords = wt!(self, ORDS);
            ords.remove(meta.ord).map_err(|e| map_redb(&p, e))?;
        }
        self.toggle_bucket(&id, Some(leaf_of(&id, &meta.heads)), None)?;
        {
            let mut of = wt!(self, CHANGE_OF);
            let old = of
                .remove(&id.0)
                .map_err(|e| map_redb(&p, e))?
                .map(|v| v.value());
            if let Some(seq) = old {
                let mut ch = wt!(self, CHANGES);
                ch.remove(seq).map_err(|e| map_redb(&p, e))?;
            }
        }
        self.remove_index(id, meta.ord, l.before.as_ref().expect("load derives"))?;
        self.remove_sync_states(id)?;
        Ok(true)
    }

    pub(crate) fn next_ord(&mut self) -> Result<u32> {
        let mut t = wt!(self, META);
        let cur = t
            .get("next_ord")
            .map_err(|e| self.e(e))?
            .and_then(|v| v.value().try_into().ok().map(u32::from_le_bytes))
            .unwrap_or(0);
        t.insert("next_ord", (cur + 1).to_le_bytes().as_slice())
            .map_err(|e| self.e(e))?;
        Ok(cur)
    }

    pub(crate) fn ord_of(&self, id: DocId) -> Result<u32> {
        let t = wt!(self, DOCS);
        let v = t.get(&id.0).map_err(|e| self.e(e))?;
        match v {
            Some(v) => Ok(dec::<DocMeta>(v.value(), "document metadata")?.ord),
            None => Err(StoreError::Internal(format!("no metadata for {id}"))),
        }
    }
}

impl Writer {
    /// Loads the membership document for editing (a fresh one when there is none yet).
    pub fn load_or_create(&self, id: DocId) -> Result<Loaded> {
        Ok(match self.load(id)? {
            Some(l) => l,
            None => self.create_with_id(id),
        })
    }
}
