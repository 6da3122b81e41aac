//! Storing many new documents at once (an import): documents built and saved outside the
//! write transaction, on other threads ([`NewDoc::seal`]), then written by one call
//! ([`Writer::insert_new`]) that opens each table once for the whole batch and inserts its
//! rows in key order.
//!
//! Invariant: `insert_new(batch)` leaves every table exactly as `save_indexed` of the same
//! documents, one by one in batch order, leaves it (the same ordinals, change sequence numbers,
//! bucket hashes, index rows and per-contact state); only the number of table opens differs.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, AutoCommit};
use kith_core::index::DocIndex;
use kith_core::sync::bucket_of;
use kith_core::{DocId, Kind};
use redb::ReadableTable;

use crate::*;

/// A new document sealed for storing: its last change committed (origin tag and clock), its
/// snapshot saved, its index derived by the caller from the value it was built from.
pub struct NewDoc {
    pub id: DocId,
    pub kind: Option<Kind>,
    pub index: DocIndex,
    pub(crate) bytes: Vec<u8>,
    pub(crate) heads: Vec<[u8; 32]>,
}

impl NewDoc {
    /// An empty document for `actor` (the vault's: [`Writer::actor`]) to build a new one in.
    pub fn empty(actor: &ActorId) -> AutoCommit {
        AutoCommit::new().with_actor(actor.clone())
    }

    /// Commits what was built into `doc` as one change (as `Writer::save_indexed` would, with
    /// the process's origin tag and `now_ms`) and saves its snapshot. Pure: callable on any
    /// thread, the same bytes on every one.
    pub fn seal(
        id: DocId,
        mut doc: AutoCommit,
        kind: Option<Kind>,
        index: DocIndex,
        now_ms: i64,
    ) -> NewDoc {
        crate::origin::commit_pending(&mut doc, now_ms);
        let heads = heads_of(&mut doc);
        let bytes = snapshot(&mut doc);
        NewDoc {
            id,
            kind,
            index,
            bytes,
            heads,
        }
    }

    /// The snapshot's size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// The snapshot of a document as the vault stores it.
pub(crate) fn snapshot(doc: &mut AutoCommit) -> Vec<u8> {
    doc.save()
}

impl Writer {
    /// The actor every change of this vault carries.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Stores new documents (ids not yet in the vault) with their index entries, as
    /// `save_indexed` of each in order would (see the module invariant), opening each table
    /// once. Debug builds check each index against the stored document.
    pub fn insert_new(&mut self, docs: Vec<NewDoc>) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        #[cfg(debug_assertions)]
        for d in &docs {
            let doc = parse_doc(d.id, &d.bytes)?;
            debug_assert!(
                kith_core::index::derive(&doc) == (d.kind, d.index.clone()),
                "insert_new: the index given is not the document's"
            );
        }
        let affected = self.insert_rows(&docs)?;
        self.refresh_contact_states(&affected)
    }

    /// The rows of new documents (ids not in the vault), each table opened once; returns the
    /// contacts whose derived state (last contact, cadence) must be recomputed.
    pub(crate) fn insert_rows(&mut self, docs: &[NewDoc]) -> Result<Vec<Id>> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let p = self.path.clone();
        let e = |e: redb::Error| map_redb(&p, e);
        // Ordinals and change sequence numbers, in batch order.
        let (first_ord, first_seq) = {
            let mut t = wt!(self, META);
            let ord = t
                .get("next_ord")
                .map_err(|x| e(x.into()))?
                .and_then(|v| v.value().try_into().ok().map(u32::from_le_bytes))
                .unwrap_or(0);
            let seq = t
                .get("change_seq")
                .map_err(|x| e(x.into()))?
                .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
                .unwrap_or(0)
                + 1;
            let n = docs.len();
            t.insert("next_ord", (ord + n as u32).to_le_bytes().as_slice())
                .map_err(|x| e(x.into()))?;
            t.insert("change_seq", (seq + n as u64 - 1).to_le_bytes().as_slice())
                .map_err(|x| e(x.into()))?;
            (ord, seq)
        };
        let ord = |i: usize| first_ord + i as u32;
        let seq = |i: usize| first_seq + i as u64;
        {
            let mut t = wt!(self, DOCS);
            for (i, d) in docs.iter().enumerate() {
                let meta = DocMeta {
                    kind: d.kind.map(|k| k.code()).unwrap_or(0),
                    ord: ord(i),
                    next_seq: 1,
                    snapshot_len: d.bytes.len() as u64,
                    incremental_len: 0,
                    heads: d.heads.clone(),
                };
                let old = t
                    .insert(&d.id.0, enc(&meta).as_slice())
                    .map_err(|x| e(x.into()))?;
                if old.is_some() {
                    return Err(StoreError::Internal(format!(
                        "insert_new: document {} exists",
                        d.id
                    )));
                }
            }
        }
        {
            let mut t = wt!(self, ORDS);
            for (i, d) in docs.iter().enumerate() {
                t.insert(ord(i), &d.id.0).map_err(|x| e(x.into()))?;
            }
        }
        {
            let mut t = wt!(self, CHUNKS);
            let mut order: Vec<usize> = (0..docs.len()).collect();
            order.sort_by_key(|&i| docs[i].id);
            for i in order {
                t.insert((&docs[i].id.0, 0), docs[i].bytes.as_slice())
                    .map_err(|x| e(x.into()))?;
            }
        }
        // Bucket hashes: every leaf of a bucket XORed in, one write per bucket.
        {
            let mut acc: BTreeMap<u8, [u8; 16]> = BTreeMap::new();
            for d in docs {
                let x = acc.entry(bucket_of(&d.id)).or_default();
                for (a, b) in x.iter_mut().zip(leaf_of(&d.id, &d.heads)) {
                    *a ^= b;
                }
            }
            let mut t = wt!(self, BUCKETS);
            for (b, x) in acc {
                let mut cur = t
                    .get(b)
                    .map_err(|x| e(x.into()))?
                    .map(|v| *v.value())
                    .unwrap_or([0u8; 16]);
                for (c, y) in cur.iter_mut().zip(x) {
                    *c ^= y;
                }
                if cur == [0u8; 16] {
                    t.remove(b).map_err(|x| e(x.into()))?;
                } else {
                    t.insert(b, &cur).map_err(|x| e(x.into()))?;
                }
            }
        }
        // The change log: a new document normally has no earlier entry; one left by an
        // earlier life of the id goes, as `record_change` would remove it.
        {
            let mut of = wt!(self, CHANGE_OF);
            let mut stale = Vec::new();
            for (i, d) in docs.iter().enumerate() {
                if let Some(old) = of.insert(&d.id.0, seq(i)).map_err(|x| e(x.into()))? {
                    stale.push(old.value());
                }
            }
            let mut ch = wt!(self, CHANGES);
            for old in stale {
                ch.remove(old).map_err(|x| e(x.into()))?;
            }
            for (i, d) in docs.iter().enumerate() {
                ch.insert(seq(i), &d.id.0).map_err(|x| e(x.into()))?;
            }
        }
        self.insert_index_rows(docs, first_ord)
    }

    /// The index rows of new documents (nothing to remove), table by table in key order, then
    /// the per-contact state of every contact they touch.
    fn insert_index_rows(&mut self, docs: &[NewDoc], first_ord: u32) -> Result<Vec<Id>> {
        let p = self.path.clone();
        let e = |e: redb::Error| map_redb(&p, e);
        let mut affected: BTreeSet<Id> = BTreeSet::new();
        let sorted = |f: &dyn Fn(&NewDoc) -> bool| {
            let mut v: Vec<&NewDoc> = docs.iter().filter(|d| f(d)).collect();
            v.sort_by_key(|d| d.id);
            v
        };
        let with_contact = sorted(&|d| d.index.contact.is_some());
        if !with_contact.is_empty() {
            let mut t = wt!(self, CONTACTS);
            for d in &with_contact {
                let s = d.index.contact.as_ref().expect("filtered");
                t.insert(&d.id.0, enc(s).as_slice())
                    .map_err(|x| e(x.into()))?;
                affected.insert(d.id.0);
            }
        }
        let with_item = sorted(&|d| d.index.item.is_some());
        if !with_item.is_empty() {
            let mut t = wt!(self, ITEMS);
            for d in &with_item {
                let s = d.index.item.as_ref().expect("filtered");
                t.insert(&d.id.0, enc(s).as_slice())
                    .map_err(|x| e(x.into()))?;
            }
            let mut rows: Vec<(Id, i32, i64, Id, u8)> = Vec::new();
            for d in &with_item {
                let a = d.index.item.as_ref().expect("filtered");
                for c in &a.contacts {
                    rows.push((c.0, a.day, a.created, d.id.0, a.kind.code()));
                    affected.insert(c.0);
                }
            }
            rows.sort_unstable();
            let mut t = wt!(self, TIMELINE);
            for (c, day, created, me, code) in rows {
                t.insert((&c, day, created, &me), code)
                    .map_err(|x| e(x.into()))?;
            }
        }
        let with_dates = sorted(&|d| d.index.dates.is_some());
        if !with_dates.is_empty() {
            let mut t = wt!(self, DATES);
            for d in &with_dates {
                let s = d.index.dates.as_ref().expect("filtered");
                t.insert(&d.id.0, enc(s).as_slice())
                    .map_err(|x| e(x.into()))?;
            }
        }
        type Keys = fn(&DocIndex) -> &BTreeSet<String>;
        let lookups: [(_, Keys); 4] = [
            (NAMES, |ix| &ix.names),
            (EMAILS, |ix| &ix.emails),
            (PHONES, |ix| &ix.phones),
            (UIDS, |ix| &ix.uids),
        ];
        for (def, keys) in lookups {
            let mut rows: Vec<(&str, Id)> = docs
                .iter()
                .flat_map(|d| keys(&d.index).iter().map(|k| (k.as_str(), d.id.0)))
                .collect();
            if rows.is_empty() {
                continue;
            }
            rows.sort_unstable();
            let mut t = wt!(self, def);
            for k in rows {
                t.insert((k.0, &k.1), ()).map_err(|x| e(x.into()))?;
            }
        }
        let mut due: Vec<((i32, Id), DueEntry)> = docs
            .iter()
            .filter_map(|d| {
                let item = d.index.item.as_ref();
                d.index.due_day.map(|day| {
                    let entry = DueEntry {
                        contact: item.and_then(|i| i.contacts.first()).map(|c| c.0),
                        snippet: item.map(|i| i.snippet.clone()).unwrap_or_default(),
                    };
                    ((day, d.id.0), entry)
                })
            })
            .collect();
        if !due.is_empty() {
            due.sort_unstable_by_key(|r| r.0);
            let mut t = wt!(self, DUE);
            for (k, entry) in due {
                t.insert((k.0, &k.1), enc(&entry).as_slice())
                    .map_err(|x| e(x.into()))?;
            }
        }
        // Postings, batched per term like every other write (`flush_postings`).
        for (i, d) in docs.iter().enumerate() {
            let ord = first_ord + i as u32;
            if let Some(acc) = self.postings.as_mut() {
                for (term, w) in &d.index.terms {
                    acc.entry(term.clone()).or_default().push((ord, *w));
                }
            } else {
                for (term, w) in &d.index.terms {
                    self.pending
                        .entry(term.clone())
                        .or_default()
                        .insert(ord, Some(*w));
                }
            }
        }
        Ok(affected.into_iter().collect())
    }
}
