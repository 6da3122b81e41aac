//! Index maintenance: applying and removing what one document contributes to the derived
//! tables, and rebuilding them all.
//!
//! Invariant: after every write transaction the derived tables equal what `reindex` rebuilds
//! from the documents alone (posting changes are batched per term and flushed before commit).

use std::collections::BTreeMap;

use kith_core::index::{self, ContactSummary, DocIndex};
use kith_core::{DocId, Kind};
use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::*;

/// Documents a reindex reads at a time (their bytes held while they are derived).
const REINDEX_GROUP: usize = 2048;

impl Vault {
    /// Rebuilds every derived table from the documents alone. Returns the number of documents.
    pub fn reindex(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
        let (txn, total) = self.rebuild_derived(progress)?;
        txn.commit().map_err(|e| map_redb(&self.path, e))?;
        Ok(total)
    }

    /// Rebuilds every derived table in a write transaction that is returned uncommitted.
    pub(crate) fn rebuild_derived(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(WriteTransaction, u64)> {
        let p = self.path.clone();
        let txn = self.begin_write()?;
        for name in DERIVED_TABLES {
            // Deleting a table that does not exist is fine.
            let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(name);
            let _ = txn.delete_table(def);
        }
        create_all_tables(&txn, &p)?;
        {
            let mut t = txn.open_table(META).map_err(|e| map_redb(&p, e))?;
            t.insert("format", FORMAT_VERSION.to_le_bytes().as_slice())
                .map_err(|e| map_redb(&p, e))?;
        }
        let mut w = Writer {
            txn,
            path: p.clone(),
            actor: self.actor.clone(),
            now: 0,
            postings: Some(BTreeMap::new()),
            pending: BTreeMap::new(),
        };
        let ids: Vec<Id> = {
            let t = w.txn.open_table(DOCS).map_err(|e| map_redb(&p, e))?;
            let mut v = Vec::new();
            for r in t.iter().map_err(|e| map_redb(&p, e))? {
                v.push(*r.map_err(|e| map_redb(&p, e))?.0.value());
            }
            v
        };
        let total = ids.len() as u64;
        // Items before contacts' cadence entries: index all, then recompute per-contact state.
        // Documents are read in groups; each group is loaded and derived on every core while
        // this thread writes the index entries of those already derived, in id order.
        let mut done = 0usize;
        for group in ids.chunks(REINDEX_GROUP) {
            let bytes: Vec<(Id, Vec<u8>)> = {
                let t = wt!(w, CHUNKS);
                let mut v = Vec::with_capacity(group.len());
                for id in group {
                    let b = load_chunks(&t, *id, &p)?.ok_or_else(|| {
                        StoreError::BadDocument(DocId(*id), "no stored chunks".into())
                    })?;
                    v.push((*id, b));
                }
                v
            };
            crate::par::map_ordered(
                &bytes,
                |(id, b)| parse_doc(DocId(*id), b).map(|d| index::derive(&d).1),
                |i, ix| {
                    w.apply_index(DocId(bytes[i].0), None, &ix?, false)?;
                    if (done + i).is_multiple_of(1000) {
                        progress((done + i) as u64, total);
                    }
                    Ok::<_, StoreError>(())
                },
            )?;
            done += group.len();
        }
        // Posting lists, each written once, in term order.
        if let Some(acc) = w.postings.take() {
            let mut t = w.txn.open_table(POSTINGS).map_err(|e| map_redb(&p, e))?;
            for (term, mut list) in acc {
                list.sort_unstable();
                t.insert(term.as_str(), encode_postings(&list).as_slice())
                    .map_err(|e| map_redb(&p, e))?;
            }
        }
        // Contact state (last contact and cadence) once all timelines exist.
        let contacts: Vec<Id> = {
            let t = w.txn.open_table(CONTACTS).map_err(|e| map_redb(&p, e))?;
            let mut v = Vec::new();
            for r in t.iter().map_err(|e| map_redb(&p, e))? {
                v.push(*r.map_err(|e| map_redb(&p, e))?.0.value());
            }
            v
        };
        for c in contacts {
            w.refresh_contact_state(c)?;
        }
        w.rebuild_buckets()?;
        w.rebuild_tombstones()?;
        w.rebuild_received_rows()?;
        progress(total, total);
        Ok((w.txn, total))
    }
}

impl Writer {
    /// Writes this transaction's posting changes, one read and one write per term.
    pub(crate) fn flush_postings(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let p = self.path.clone();
        let pending = std::mem::take(&mut self.pending);
        let mut t = wt!(self, POSTINGS);
        for (term, changes) in &pending {
            let list = match t.get(term.as_str()).map_err(|e| map_redb(&p, e))? {
                Some(v) => decode_postings(v.value()),
                None => Vec::new(),
            };
            let list = merge_postings(list, changes);
            if list.is_empty() {
                t.remove(term.as_str()).map_err(|e| map_redb(&p, e))?;
            } else {
                t.insert(term.as_str(), encode_postings(&list).as_slice())
                    .map_err(|e| map_redb(&p, e))?;
            }
        }
        Ok(())
    }
}

impl Writer {
    pub(crate) fn remove_index(&mut self, id: DocId, ord: u32, before: &DocIndex) -> Result<()> {
        let empty = DocIndex::default();
        self.apply_index_with_ord(id, ord, Some(before), &empty, true)
    }

    pub(crate) fn apply_index(
        &mut self,
        id: DocId,
        before: Option<&DocIndex>,
        after: &DocIndex,
        refresh: bool,
    ) -> Result<()> {
        let ord = self.ord_of(id)?;
        self.apply_index_with_ord(id, ord, before, after, refresh)
    }

    pub(crate) fn apply_index_with_ord(
        &mut self,
        id: DocId,
        ord: u32,
        before: Option<&DocIndex>,
        after: &DocIndex,
        refresh: bool,
    ) -> Result<()> {
        let p = self.path.clone();
        let empty = DocIndex::default();
        let before = before.unwrap_or(&empty);
        if before == after {
            return Ok(());
        }
        let me = id.0;
        // Summaries (a table is opened only when the document has or had a row there).
        if before.contact.is_some() || after.contact.is_some() {
            let mut t = wt!(self, CONTACTS);
            match &after.contact {
                Some(s) => {
                    t.insert(&me, enc(s).as_slice())
                        .map_err(|e| map_redb(&p, e))?;
                }
                None => {
                    t.remove(&me).map_err(|e| map_redb(&p, e))?;
                }
            }
        }
        if before.item.is_some() || after.item.is_some() {
            let mut t = wt!(self, ITEMS);
            match &after.item {
                Some(s) => {
                    t.insert(&me, enc(s).as_slice())
                        .map_err(|e| map_redb(&p, e))?;
                }
                None => {
                    t.remove(&me).map_err(|e| map_redb(&p, e))?;
                }
            }
        }
        // Dates that matter.
        if before.dates != after.dates {
            let mut t = wt!(self, DATES);
            match &after.dates {
                Some(d) => {
                    t.insert(&me, enc(d).as_slice())
                        .map_err(|e| map_redb(&p, e))?;
                }
                None => {
                    t.remove(&me).map_err(|e| map_redb(&p, e))?;
                }
            }
        }
        // Lookup keys.
        for (def, b, a) in [
            (NAMES, &before.names, &after.names),
            (EMAILS, &before.emails, &after.emails),
            (PHONES, &before.phones, &after.phones),
            (UIDS, &before.uids, &after.uids),
        ] {
            if b == a {
                continue;
            }
            let mut t = wt!(self, def);
            for k in b.difference(a) {
                t.remove((k.as_str(), &me)).map_err(|e| map_redb(&p, e))?;
            }
            for k in a.difference(b) {
                t.insert((k.as_str(), &me), ())
                    .map_err(|e| map_redb(&p, e))?;
            }
        }
        // Postings.
        if let Some(acc) = self.postings.as_mut() {
            // Reindex: every table starts empty, so only `after` contributes.
            for (term, w) in &after.terms {
                acc.entry(term.clone()).or_default().push((ord, *w));
            }
        } else if before.terms != after.terms {
            for (term, w) in &before.terms {
                if after.terms.get(term) != Some(w) {
                    self.pending
                        .entry(term.clone())
                        .or_default()
                        .insert(ord, after.terms.get(term).copied());
                }
            }
            for (term, w) in &after.terms {
                if before.terms.get(term) != Some(w) {
                    self.pending
                        .entry(term.clone())
                        .or_default()
                        .insert(ord, Some(*w));
                }
            }
        }
        // Timeline entries of items, one per linked contact.
        let mut affected: Vec<Id> = Vec::new();
        if before.item != after.item {
            let mut t = wt!(self, TIMELINE);
            if let Some(b) = &before.item {
                for c in &b.contacts {
                    t.remove((&c.0, b.day, b.created, &me))
                        .map_err(|e| map_redb(&p, e))?;
                    affected.push(c.0);
                }
            }
            if let Some(a) = &after.item {
                for c in &a.contacts {
                    t.insert((&c.0, a.day, a.created, &me), a.kind.code())
                        .map_err(|e| map_redb(&p, e))?;
                    affected.push(c.0);
                }
            }
        }
        // Open reminders, with what `kith due` shows of them.
        let due_of = |ix: &DocIndex| {
            let item = ix.item.as_ref();
            ix.due_day.map(|d| {
                let entry = DueEntry {
                    contact: item.and_then(|i| i.contacts.first()).map(|c| c.0),
                    snippet: item.map(|i| i.snippet.clone()).unwrap_or_default(),
                };
                (d, entry)
            })
        };
        let (due_before, due_after) = (due_of(before), due_of(after));
        if due_before != due_after {
            let mut t = wt!(self, DUE);
            if let Some((d, _)) = &due_before {
                t.remove((*d, &me)).map_err(|e| map_redb(&p, e))?;
            }
            if let Some((d, entry)) = &due_after {
                t.insert((*d, &me), enc(entry).as_slice())
                    .map_err(|e| map_redb(&p, e))?;
            }
        }
        if before.contact.is_some() || after.contact.is_some() {
            affected.push(me);
        }
        if refresh {
            affected.sort();
            affected.dedup();
            for c in affected {
                self.refresh_contact_state(c)?;
            }
        }
        Ok(())
    }
}

impl Writer {
    /// Recomputes a contact's last-contact day (from its timeline) and cadence entry.
    pub(crate) fn refresh_contact_state(&mut self, c: Id) -> Result<()> {
        self.refresh_contact_states(&[c])
    }

    /// [`Writer::refresh_contact_state`] of each of `ids`, opening each table once.
    pub(crate) fn refresh_contact_states(&mut self, ids: &[Id]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let p = self.path.clone();
        // Only contacts that exist have a last-contact day and a cadence entry.
        let mut state: Vec<(Id, Option<ContactSummary>, Vec<i32>)> = Vec::with_capacity(ids.len());
        {
            let contacts = wt!(self, CONTACTS);
            let tl = wt!(self, TIMELINE);
            for &c in ids {
                let summary = match contacts.get(&c).map_err(|e| map_redb(&p, e))? {
                    Some(v) => Some(dec::<ContactSummary>(v.value(), "contact summary")?),
                    None => None,
                };
                let mut days: Vec<i32> = Vec::new();
                if summary.is_some() {
                    let range = tl
                        .range(
                            (&c, i32::MIN, i64::MIN, &[0u8; 16])
                                ..=(&c, i32::MAX, i64::MAX, &[0xff; 16]),
                        )
                        .map_err(|e| map_redb(&p, e))?;
                    for row in range {
                        let (k, v) = row.map_err(|e| map_redb(&p, e))?;
                        if v.value() == Kind::Interaction.code() {
                            days.push(k.value().1);
                        }
                    }
                }
                state.push((c, summary, days));
            }
        }
        {
            let mut lc = wt!(self, LAST_CONTACT);
            let mut cd = wt!(self, CONTACT_DAYS);
            for (c, _, days) in &state {
                // Timeline keys are in day order, so the last is the newest.
                match days.last() {
                    Some(d) => {
                        lc.insert(c, *d).map_err(|e| map_redb(&p, e))?;
                    }
                    None => {
                        lc.remove(c).map_err(|e| map_redb(&p, e))?;
                    }
                }
                if days.is_empty() {
                    cd.remove(c).map_err(|e| map_redb(&p, e))?;
                } else {
                    let bytes: Vec<u8> = days.iter().flat_map(|d| d.to_le_bytes()).collect();
                    cd.insert(c, bytes.as_slice())
                        .map_err(|e| map_redb(&p, e))?;
                }
            }
        }
        let mut of = wt!(self, CADENCE_OF);
        let mut cad = wt!(self, CADENCE);
        for (c, summary, days) in &state {
            let c = *c;
            let due = summary
                .as_ref()
                .and_then(|s| index::cadence_due(s, days.last().copied()));
            let old = of.get(&c).map_err(|e| map_redb(&p, e))?.map(|v| v.value());
            if old == due {
                continue;
            }
            if let Some(d) = old {
                cad.remove((d, &c)).map_err(|e| map_redb(&p, e))?;
                of.remove(&c).map_err(|e| map_redb(&p, e))?;
            }
            if let Some(d) = due {
                cad.insert((d, &c), ()).map_err(|e| map_redb(&p, e))?;
                of.insert(&c, d).map_err(|e| map_redb(&p, e))?;
            }
        }
        Ok(())
    }
}
