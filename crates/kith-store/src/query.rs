//! Queries: the read API over the derived tables and documents.
//!
//! Invariant: queries never write; listing, search and due read only derived tables.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use automerge::AutoCommit;
use kith_core::index::{ContactSummary, ContactSummaryRef, ItemSummary};
use kith_core::{DocId, Kind};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::*;

/// Value of the `ix_due` table (postcard): what `kith due` shows of an open reminder, so that
/// listing them needs no lookup per reminder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueEntry {
    /// The reminder's contact (the first linked one), if any.
    pub contact: Option<Id>,
    /// The reminder's snippet, as in `ix_items`.
    pub snippet: String,
}

/// A [`DueEntry`] decoded without copying its snippet (same fields, same bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct DueEntryRef<'a> {
    pub contact: Option<Id>,
    pub snippet: &'a str,
}

/// Contact summaries as stored: `bytes[start..end]` of each entry is one encoded summary.
#[derive(Debug, Default)]
pub struct EncodedContacts {
    pub bytes: Vec<u8>,
    /// (id, start, end), in id order.
    pub entries: Vec<(DocId, usize, usize)>,
}

/// Decodes one stored contact summary without copying its strings.
pub fn decode_contact(bytes: &[u8]) -> Result<ContactSummaryRef<'_>> {
    postcard::from_bytes(bytes)
        .map_err(|e| StoreError::Undecodable(format!("contact summary: {e}")))
}

/// An identity index [`Reader::shared_keys`] scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedIndex {
    Names,
    Emails,
    Phones,
}

/// A read-only view of the vault at one point in time.
pub struct Reader {
    pub(crate) txn: ReadTransaction,
    pub(crate) path: PathBuf,
}

impl Reader {
    pub(crate) fn e(&self, e: impl Into<redb::Error>) -> StoreError {
        map_redb(&self.path, e)
    }

    pub fn kind_of(&self, id: DocId) -> Result<Option<Kind>> {
        let t = rt!(self, DOCS);
        let v = t.get(&id.0).map_err(|e| self.e(e))?;
        match v {
            Some(v) => {
                let m: DocMeta = dec(v.value(), "document metadata")?;
                Ok(Kind::from_code(m.kind))
            }
            None => Ok(None),
        }
    }

    pub fn load(&self, id: DocId) -> Result<Option<AutoCommit>> {
        let t = rt!(self, CHUNKS);
        match load_chunks(&t, id.0, &self.path)? {
            Some(bytes) => Ok(Some(parse_doc(id, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The documents whose last change has a sequence number after `seq` (see
    /// [`Reader::change_seq`]), oldest change first. A purged document is not among them (its
    /// entry goes with it); the tombstone document's change is.
    pub fn changed_after(&self, seq: u64) -> Result<Vec<DocId>> {
        let t = rt!(self, CHANGES);
        let mut out = Vec::new();
        for row in t.range(seq.saturating_add(1)..).map_err(|e| self.e(e))? {
            out.push(DocId(*row.map_err(|e| self.e(e))?.1.value()));
        }
        Ok(out)
    }

    /// Ids (with kind) whose hex form starts with `prefix` (lowercase hex), at most `limit`.
    pub fn ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<(DocId, Kind)>> {
        let mut lo = [0u8; 16];
        let mut hi = [0xffu8; 16];
        for (i, c) in prefix.bytes().enumerate().take(32) {
            let v = (c as char).to_digit(16).unwrap_or(0) as u8;
            let byte = i / 2;
            if i % 2 == 0 {
                lo[byte] = v << 4;
                hi[byte] = (v << 4) | 0x0f;
            } else {
                lo[byte] |= v;
                hi[byte] = (hi[byte] & 0xf0) | v;
            }
        }
        let t = rt!(self, DOCS);
        let mut out = Vec::new();
        for row in t.range::<&[u8; 16]>(&lo..=&hi).map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let m: DocMeta = dec(v.value(), "document metadata")?;
            if let Some(kind) = Kind::from_code(m.kind) {
                out.push((DocId(*k.value()), kind));
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub fn contact(&self, id: DocId) -> Result<Option<ContactSummary>> {
        q_contact(&self.txn, &self.path, id)
    }

    /// Every contact summary, in id order.
    pub fn contacts(&self) -> Result<Vec<(DocId, ContactSummary)>> {
        let t = rt!(self, CONTACTS);
        let mut out = Vec::with_capacity(capacity_hint(t.len()));
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.push((DocId(*k.value()), dec(v.value(), "contact summary")?));
        }
        Ok(out)
    }

    /// Every contact summary, in id order, as encoded bytes copied into one buffer (decode
    /// each with [`decode_contact`]): listing every contact then costs no allocation per field.
    pub fn contacts_encoded(&self) -> Result<EncodedContacts> {
        let t = rt!(self, CONTACTS);
        let n = capacity_hint(t.len());
        let mut out = EncodedContacts {
            bytes: Vec::with_capacity(n * 128),
            entries: Vec::with_capacity(n),
        };
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let start = out.bytes.len();
            out.bytes.extend_from_slice(v.value());
            out.entries
                .push((DocId(*k.value()), start, out.bytes.len()));
        }
        Ok(out)
    }

    pub fn item(&self, id: DocId) -> Result<Option<ItemSummary>> {
        let t = rt!(self, ITEMS);
        let v = t.get(&id.0).map_err(|e| self.e(e))?;
        v.map(|v| dec(v.value(), "item summary")).transpose()
    }

    pub(crate) fn ids_for_key(
        &self,
        def: TableDefinition<(&str, IdKey), ()>,
        key: &str,
    ) -> Result<Vec<DocId>> {
        q_ids_for_key(&self.txn, &self.path, def, key)
    }

    /// Contacts whose folded full name is exactly `folded`.
    pub fn by_name(&self, folded: &str) -> Result<Vec<DocId>> {
        self.ids_for_key(NAMES, folded)
    }

    /// Contacts with this (lower-cased) email.
    pub fn by_email(&self, email: &str) -> Result<Vec<DocId>> {
        self.ids_for_key(EMAILS, email)
    }

    pub fn by_phone(&self, phone_key: &str) -> Result<Vec<DocId>> {
        self.ids_for_key(PHONES, phone_key)
    }

    pub fn by_uid(&self, uid: &str) -> Result<Vec<DocId>> {
        self.ids_for_key(UIDS, uid)
    }

    /// The keys of an identity index (folded names, emails, phones) that more than one document
    /// holds, with those documents: one pass over the table in key order (`kith duplicates`).
    pub fn shared_keys(&self, index: SharedIndex) -> Result<Vec<(String, Vec<DocId>)>> {
        let def = match index {
            SharedIndex::Names => NAMES,
            SharedIndex::Emails => EMAILS,
            SharedIndex::Phones => PHONES,
        };
        let t = rt!(self, def);
        let mut out: Vec<(String, Vec<DocId>)> = Vec::new();
        let mut cur: Option<(String, Vec<DocId>)> = None;
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, _) = row.map_err(|e| self.e(e))?;
            let (key, id) = k.value();
            match &mut cur {
                Some((ck, ids)) if ck == key => ids.push(DocId(*id)),
                _ => {
                    if let Some(done) = cur.take().filter(|(_, ids)| ids.len() > 1) {
                        out.push(done);
                    }
                    cur = Some((key.to_string(), vec![DocId(*id)]));
                }
            }
        }
        if let Some(done) = cur.filter(|(_, ids)| ids.len() > 1) {
            out.push(done);
        }
        Ok(out)
    }

    /// Items linked to a contact, newest first: (item id, kind).
    pub fn timeline(&self, contact: DocId) -> Result<Vec<(DocId, Kind)>> {
        let mut out = q_timeline(&self.txn, &self.path, contact)?;
        out.reverse();
        Ok(out)
    }

    /// Every contact's last-contact day, in id order.
    pub fn last_contacts(&self) -> Result<Vec<(DocId, i32)>> {
        let t = rt!(self, LAST_CONTACT);
        let mut out = Vec::with_capacity(capacity_hint(t.len()));
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.push((DocId(*k.value()), v.value()));
        }
        Ok(out)
    }

    pub fn last_contact(&self, id: DocId) -> Result<Option<i32>> {
        let t = rt!(self, LAST_CONTACT);
        let v = t.get(&id.0).map_err(|e| self.e(e))?;
        Ok(v.map(|v| v.value()))
    }

    /// Open reminders due on or before `day`, earliest first, with what `kith due` shows.
    pub fn reminders_due_entries(&self, day: i32) -> Result<Vec<(i32, DocId, DueEntry)>> {
        let mut out = Vec::new();
        self.scan_due(day, |d, id, e| {
            out.push((
                d,
                id,
                DueEntry {
                    contact: e.contact,
                    snippet: e.snippet.to_string(),
                },
            ));
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` with every open reminder due on or before `day`, earliest first, its entry
    /// decoded without copying (the digest reads every reminder and keeps few of the far ones).
    pub fn scan_due(
        &self,
        day: i32,
        mut f: impl FnMut(i32, DocId, DueEntryRef<'_>) -> Result<()>,
    ) -> Result<()> {
        let t = rt!(self, DUE);
        for row in t
            .range((i32::MIN, &[0u8; 16])..=(day, &[0xff; 16]))
            .map_err(|e| self.e(e))?
        {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let (d, id) = k.value();
            let entry: DueEntryRef<'_> = postcard::from_bytes(v.value())
                .map_err(|e| StoreError::Undecodable(format!("due entry: {e}")))?;
            f(d, DocId(*id), entry)?;
        }
        Ok(())
    }

    /// Contacts whose keep-in-touch cadence falls due on or before `day`, most overdue first.
    pub fn cadence_due(&self, day: i32) -> Result<Vec<(i32, DocId)>> {
        let t = rt!(self, CADENCE);
        let mut out = Vec::new();
        for row in t
            .range((i32::MIN, &[0u8; 16])..=(day, &[0xff; 16]))
            .map_err(|e| self.e(e))?
        {
            let (k, _) = row.map_err(|e| self.e(e))?;
            let (d, id) = k.value();
            out.push((d, DocId(*id)));
        }
        Ok(out)
    }

    /// The posting lists of every term starting with `prefix`, merged: doc id -> best weight,
    /// and whether the match was exact (the whole term).
    pub fn postings_prefix(&self, prefix: &str) -> Result<HashMap<u32, (u8, bool)>> {
        let t = rt!(self, POSTINGS);
        let mut out: HashMap<u32, (u8, bool)> = HashMap::new();
        for row in t.range(prefix..).map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let term = k.value();
            if !term.starts_with(prefix) {
                break;
            }
            let exact = term == prefix;
            for (ord, w) in decode_postings(v.value()) {
                let e = out.entry(ord).or_insert((0, false));
                e.0 = e.0.max(w);
                e.1 |= exact;
            }
        }
        Ok(out)
    }

    pub fn id_of_ord(&self, ord: u32) -> Result<Option<DocId>> {
        let t = rt!(self, ORDS);
        let v = t.get(ord).map_err(|e| self.e(e))?;
        Ok(v.map(|v| DocId(*v.value())))
    }

    /// Number of documents of each kind.
    pub fn counts(&self) -> Result<BTreeMap<Kind, u64>> {
        let t = rt!(self, DOCS);
        let mut out = BTreeMap::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (_, v) = row.map_err(|e| self.e(e))?;
            let m: DocMeta = dec(v.value(), "document metadata")?;
            if let Some(k) = Kind::from_code(m.kind) {
                *out.entry(k).or_insert(0) += 1;
            }
        }
        Ok(out)
    }

    /// All document ids of one kind, in id order.
    pub fn ids_of_kind(&self, kind: Kind) -> Result<Vec<DocId>> {
        let t = rt!(self, DOCS);
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let m: DocMeta = dec(v.value(), "document metadata")?;
            if m.kind == kind.code() {
                out.push(DocId(*k.value()));
            }
        }
        Ok(out)
    }
}

/// Point lookups of summaries with each table opened once (for commands that look up one
/// summary per output row).
pub struct Lookup {
    pub(crate) contacts: redb::ReadOnlyTable<IdKey, &'static [u8]>,
    pub(crate) items: redb::ReadOnlyTable<IdKey, &'static [u8]>,
    pub(crate) path: PathBuf,
}

impl Lookup {
    pub fn contact(&self, id: DocId) -> Result<Option<ContactSummary>> {
        let v = self
            .contacts
            .get(&id.0)
            .map_err(|e| map_redb(&self.path, e))?;
        v.map(|v| dec(v.value(), "contact summary")).transpose()
    }

    pub fn item(&self, id: DocId) -> Result<Option<ItemSummary>> {
        let v = self.items.get(&id.0).map_err(|e| map_redb(&self.path, e))?;
        v.map(|v| dec(v.value(), "item summary")).transpose()
    }
}

impl Reader {
    /// Summary lookups that open their tables once.
    pub fn lookup(&self) -> Result<Lookup> {
        Ok(Lookup {
            contacts: rt!(self, CONTACTS),
            items: rt!(self, ITEMS),
            path: self.path.clone(),
        })
    }
}

impl Writer {
    pub(crate) fn e(&self, e: impl Into<redb::Error>) -> StoreError {
        map_redb(&self.path, e)
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    /// A read view of this transaction's own state (including its uncommitted writes) is not
    /// offered by redb; use these helpers instead.
    pub fn contact(&self, id: DocId) -> Result<Option<ContactSummary>> {
        q_contact(&self.txn, &self.path, id)
    }

    pub fn by_email(&self, email: &str) -> Result<Vec<DocId>> {
        self.ids_for_key(EMAILS, email)
    }
    pub fn by_phone(&self, key: &str) -> Result<Vec<DocId>> {
        self.ids_for_key(PHONES, key)
    }
    pub fn by_uid(&self, uid: &str) -> Result<Vec<DocId>> {
        self.ids_for_key(UIDS, uid)
    }

    pub(crate) fn ids_for_key(
        &self,
        def: TableDefinition<(&str, IdKey), ()>,
        key: &str,
    ) -> Result<Vec<DocId>> {
        q_ids_for_key(&self.txn, &self.path, def, key)
    }

    /// Items linked to a contact in this transaction's state: (item id, kind), oldest first.
    pub fn timeline(&self, contact: DocId) -> Result<Vec<(DocId, Kind)>> {
        q_timeline(&self.txn, &self.path, contact)
    }

    /// All contact ids in this transaction's state, in id order.
    pub fn contact_ids(&self) -> Result<Vec<DocId>> {
        let t = wt!(self, CONTACTS);
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            out.push(DocId(*row.map_err(|e| self.e(e))?.0.value()));
        }
        Ok(out)
    }
}

// Queries written once, over the tables of a read or a write transaction (`OpenTable`);
// `Reader` and `Writer` delegate to them.

/// A contact's summary.
pub(crate) fn q_contact<T: OpenTable>(
    txn: &T,
    p: &Path,
    id: DocId,
) -> Result<Option<ContactSummary>> {
    let t = txn.open(CONTACTS).map_err(|e| map_redb(p, e))?;
    let v = t.get(&id.0).map_err(|e| map_redb(p, e))?;
    v.map(|v| dec(v.value(), "contact summary")).transpose()
}

/// The documents an identity index maps `key` to, in id order.
pub(crate) fn q_ids_for_key<T: OpenTable>(
    txn: &T,
    p: &Path,
    def: TableDefinition<(&str, IdKey), ()>,
    key: &str,
) -> Result<Vec<DocId>> {
    let t = txn.open(def).map_err(|e| map_redb(p, e))?;
    let mut out = Vec::new();
    for row in t
        .range((key, &[0u8; 16])..=(key, &[0xff; 16]))
        .map_err(|e| map_redb(p, e))?
    {
        out.push(DocId(*row.map_err(|e| map_redb(p, e))?.0.value().1));
    }
    Ok(out)
}

/// Items linked to a contact: (item id, kind), oldest first.
pub(crate) fn q_timeline<T: OpenTable>(
    txn: &T,
    p: &Path,
    contact: DocId,
) -> Result<Vec<(DocId, Kind)>> {
    let t = txn.open(TIMELINE).map_err(|e| map_redb(p, e))?;
    let c = contact.0;
    let mut out = Vec::new();
    let range = t
        .range((&c, i32::MIN, i64::MIN, &[0u8; 16])..=(&c, i32::MAX, i64::MAX, &[0xff; 16]))
        .map_err(|e| map_redb(p, e))?;
    for row in range {
        let (k, v) = row.map_err(|e| map_redb(p, e))?;
        if let Some(kind) = Kind::from_code(v.value()) {
            out.push((DocId(*k.value().3), kind));
        }
    }
    Ok(out)
}

/// Whether a document was deleted for good (it is in the tombstone set).
pub(crate) fn q_is_deleted<T: OpenTable>(txn: &T, p: &Path, id: DocId) -> Result<bool> {
    let t = txn.open(TOMBSTONES).map_err(|e| map_redb(p, e))?;
    let found = t.get(&id.0).map_err(|e| map_redb(p, e))?.is_some();
    Ok(found)
}

/// The sequence number of the last recorded document change (0 when none).
pub(crate) fn q_change_seq<T: OpenTable>(txn: &T, p: &Path) -> Result<u64> {
    let t = txn.open(META).map_err(|e| map_redb(p, e))?;
    let v = t.get("change_seq").map_err(|e| map_redb(p, e))?;
    Ok(
        v.and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0),
    )
}

/// A table's row count as a preallocation hint, capped: the count is read from the file, and a
/// damaged file can claim billions of rows (a bit flip in a length made `kith list` try to
/// allocate 64 GiB and abort, tests/cli/storage.rs). Beyond the cap vectors grow as rows come.
pub(crate) fn capacity_hint(len: std::result::Result<u64, redb::StorageError>) -> usize {
    const CAP: u64 = 1 << 18;
    len.unwrap_or(0).min(CAP) as usize
}
