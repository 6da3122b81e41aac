//! Deletion that syncs (docs/design/deletion.md): the tombstone set and its derived tables.
//!
//! Invariant: delete wins; a tombstoned document and everything derived from it are gone in
//! the same transaction that learns of the tombstone.

use std::collections::BTreeMap;

use kith_core::index::ItemSummary;
use kith_core::tombstones::{self, Tombstone, TOMBSTONES_DOC};
use kith_core::{model, DocId, Kind};
use redb::ReadableTable;

use crate::*;

// ---------------------------------------------------------------------------------------------
// Deletion that syncs (docs/design/deletion.md).

impl Reader {
    /// Whether a document was deleted for good (it is in the tombstone set).
    pub fn is_deleted(&self, id: DocId) -> Result<bool> {
        q_is_deleted(&self.txn, &self.path, id)
    }

    /// Every deleted document id with when and by whom.
    pub fn tombstones(&self) -> Result<Vec<(DocId, Tombstone)>> {
        let t = rt!(self, TOMBSTONES);
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.push((DocId(*k.value()), dec(v.value(), "tombstone")?));
        }
        Ok(out)
    }
}

impl Writer {
    /// Whether a document was deleted for good.
    pub fn is_deleted(&self, id: DocId) -> Result<bool> {
        q_is_deleted(&self.txn, &self.path, id)
    }

    /// Whether a vCard UID belonged to a contact deleted for good (import skips such cards).
    pub fn is_purged_uid(&self, uid: &str) -> Result<bool> {
        if uid.is_empty() {
            return Ok(false);
        }
        let t = wt!(self, PURGED_UIDS);
        let mut range = t
            .range((uid, &[0u8; 16])..=(uid, &[0xff; 16]))
            .map_err(|e| self.e(e))?;
        let found = range.next().is_some();
        Ok(found)
    }

    /// Deletes documents on every device: records them in the tombstone document (which syncs)
    /// and applies it here in this transaction. Returns how many were newly recorded.
    pub fn delete_everywhere(&mut self, ids: &[DocId]) -> Result<usize> {
        let mut l = self.load_or_create(TOMBSTONES_DOC)?;
        let by = self.actor.to_hex_string();
        let mut n = 0;
        for id in ids {
            if *id == TOMBSTONES_DOC || *id == kith_core::devices::DEVICES_DOC {
                continue;
            }
            let uid = match self.load_doc(*id)? {
                Some(d) if model::doc_kind(&d.doc) == Some(Kind::Contact) => {
                    model::read_contact(&d.doc).uid
                }
                _ => String::new(),
            };
            let added = tombstones::add_tombstone(&mut l.doc, id, self.now, &by, &uid)
                .map_err(|e| StoreError::Internal(format!("automerge: {e}")))?;
            n += usize::from(added);
        }
        if n > 0 {
            self.save(l)?;
        }
        Ok(n)
    }

    /// Applies the tombstone set just saved: records new entries in `ix_tombstones`, deletes
    /// those documents with their history and every index row, then settles the items that
    /// still link to a deleted contact.
    pub(crate) fn apply_tombstones(&mut self, set: BTreeMap<DocId, Tombstone>) -> Result<()> {
        let mut fresh = Vec::new();
        {
            let mut t = wt!(self, TOMBSTONES);
            for (id, ts) in &set {
                let known = t.get(&id.0).map_err(|e| self.e(e))?.is_some();
                if !known {
                    t.insert(&id.0, enc(ts).as_slice()).map_err(|e| self.e(e))?;
                    fresh.push(*id);
                }
            }
            let mut u = wt!(self, PURGED_UIDS);
            for (id, ts) in &set {
                if !ts.uid.is_empty() {
                    u.insert((ts.uid.as_str(), &id.0), ())
                        .map_err(|e| self.e(e))?;
                }
            }
        }
        for id in &fresh {
            self.purge(*id)?;
        }
        let mut linked = Vec::new();
        for id in &fresh {
            linked.extend(self.timeline(*id)?.into_iter().map(|(item, _)| item));
        }
        linked.sort();
        linked.dedup();
        self.settle_links(&linked)
    }

    /// Whether the item `id` links to a deleted contact (read from its summary).
    pub(crate) fn links_deleted_contact(&self, id: DocId) -> Result<bool> {
        let summary: Option<ItemSummary> = {
            let t = wt!(self, ITEMS);
            let v = t.get(&id.0).map_err(|e| self.e(e))?;
            v.map(|v| dec(v.value(), "item summary")).transpose()?
        };
        let Some(s) = summary else {
            return Ok(false);
        };
        for c in &s.contacts {
            if self.is_deleted(*c)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Items that link to deleted contacts: an item left with no live contact is deleted too
    /// (recorded in the tombstone document); an item shared with live contacts loses the links
    /// to the deleted ones (an ordinary edit, which syncs).
    pub(crate) fn settle_links(&mut self, items: &[DocId]) -> Result<()> {
        let am = |e: automerge::AutomergeError| StoreError::Internal(format!("automerge: {e}"));
        let mut orphans = Vec::new();
        for id in items {
            let Some(mut l) = self.load(*id)? else {
                continue;
            };
            let now = self.now;
            match model::doc_kind(&l.doc) {
                Some(Kind::Note) => {
                    let mut n = model::read_note(&l.doc);
                    let live = self.live_contacts(&n.contacts)?;
                    if live.is_empty() {
                        orphans.push(*id);
                    } else if live != n.contacts {
                        n.contacts = live;
                        model::write_note(&mut l.doc, &n, now).map_err(am)?;
                        self.save(l)?;
                    }
                }
                Some(Kind::Interaction) => {
                    let mut i = model::read_interaction(&l.doc);
                    let live = self.live_contacts(&i.contacts)?;
                    if live.is_empty() {
                        orphans.push(*id);
                    } else if live != i.contacts {
                        i.contacts = live;
                        model::write_interaction(&mut l.doc, &i, now).map_err(am)?;
                        self.save(l)?;
                    }
                }
                // An opportunity is the user's own record (it may have no contact at all):
                // it only loses the links to deleted contacts.
                Some(Kind::Opportunity) => {
                    let mut o = model::read_opportunity(&l.doc);
                    let live = self.live_contacts(&o.contacts)?;
                    if live != o.contacts {
                        o.contacts = live;
                        model::write_opportunity(&mut l.doc, &o, now).map_err(am)?;
                        self.save(l)?;
                    }
                }
                Some(Kind::Reminder) => {
                    let r = model::read_reminder(&l.doc);
                    if let Some(c) = r.contact {
                        if self.is_deleted(c)? {
                            orphans.push(*id);
                        }
                    }
                }
                _ => {}
            }
        }
        if !orphans.is_empty() {
            self.delete_everywhere(&orphans)?;
        }
        Ok(())
    }

    pub(crate) fn live_contacts(
        &self,
        contacts: &std::collections::BTreeSet<DocId>,
    ) -> Result<std::collections::BTreeSet<DocId>> {
        let mut out = std::collections::BTreeSet::new();
        for c in contacts {
            if !self.is_deleted(*c)? {
                out.insert(*c);
            }
        }
        Ok(out)
    }

    /// Deletes every saved sync state of a document (for every peer).
    pub(crate) fn remove_sync_states(&mut self, id: DocId) -> Result<()> {
        let mut t = wt!(self, SYNC_STATES);
        let mut keys = Vec::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, _) = row.map_err(|e| self.e(e))?;
            let (peer, doc) = k.value();
            if *doc == id.0 {
                keys.push(*peer);
            }
        }
        for peer in keys {
            t.remove((&peer, &id.0)).map_err(|e| self.e(e))?;
        }
        Ok(())
    }

    /// Rebuilds `ix_tombstones` from the tombstone document (reindex).
    pub(crate) fn rebuild_tombstones(&mut self) -> Result<()> {
        let Some(l) = self.load_doc(TOMBSTONES_DOC)? else {
            return Ok(());
        };
        let set = tombstones::read_tombstones(&l.doc);
        let mut t = wt!(self, TOMBSTONES);
        let mut u = wt!(self, PURGED_UIDS);
        for (id, ts) in &set {
            t.insert(&id.0, enc(ts).as_slice()).map_err(|e| self.e(e))?;
            if !ts.uid.is_empty() {
                u.insert((ts.uid.as_str(), &id.0), ())
                    .map_err(|e| self.e(e))?;
            }
        }
        Ok(())
    }
}
