//! The table definitions and every operation that visits all tables (creation, dumps,
//! repack).
//!
//! Invariant: the table list here is the only one; creation, reindex, repack and dumps all
//! follow it.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use crate::*;

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const DOCS: TableDefinition<Id, &[u8]> = TableDefinition::new("docs");
pub(crate) const CHUNKS: TableDefinition<(Id, u32), &[u8]> = TableDefinition::new("chunks");
pub(crate) const ORDS: TableDefinition<u32, Id> = TableDefinition::new("ords");
// Derived tables.
pub(crate) const CONTACTS: TableDefinition<Id, &[u8]> = TableDefinition::new("ix_contacts");
pub(crate) const ITEMS: TableDefinition<Id, &[u8]> = TableDefinition::new("ix_items");
pub(crate) const NAMES: TableDefinition<(&str, Id), ()> = TableDefinition::new("ix_names");
pub(crate) const EMAILS: TableDefinition<(&str, Id), ()> = TableDefinition::new("ix_emails");
pub(crate) const PHONES: TableDefinition<(&str, Id), ()> = TableDefinition::new("ix_phones");
pub(crate) const UIDS: TableDefinition<(&str, Id), ()> = TableDefinition::new("ix_uids");
pub(crate) const POSTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("ix_postings");
pub(crate) const TIMELINE: TableDefinition<(Id, i32, i64, Id), u8> =
    TableDefinition::new("ix_timeline");
pub(crate) const LAST_CONTACT: TableDefinition<Id, i32> = TableDefinition::new("ix_last_contact");
pub(crate) const DUE: TableDefinition<(i32, Id), &[u8]> = TableDefinition::new("ix_due");
pub(crate) const CADENCE: TableDefinition<(i32, Id), ()> = TableDefinition::new("ix_cadence");
pub(crate) const CADENCE_OF: TableDefinition<Id, i32> = TableDefinition::new("ix_cadence_of");
pub(crate) const BUCKETS: TableDefinition<u8, [u8; 16]> = TableDefinition::new("ix_buckets");
/// Documents deleted for good: derived from the tombstone document (docs/design/deletion.md).
pub(crate) const TOMBSTONES: TableDefinition<Id, &[u8]> = TableDefinition::new("ix_tombstones");
/// vCard UIDs of deleted contacts, so an import does not bring them back.
pub(crate) const PURGED_UIDS: TableDefinition<(&str, Id), ()> =
    TableDefinition::new("ix_purged_uids");
// Local sync bookkeeping (not derived from documents, not synced).
pub(crate) const SYNC_STATES: TableDefinition<([u8; 32], Id), &[u8]> =
    TableDefinition::new("sync_states");
pub(crate) const CHANGES: TableDefinition<u64, Id> = TableDefinition::new("changes");
pub(crate) const CHANGE_OF: TableDefinition<Id, u64> = TableDefinition::new("change_of");
pub(crate) const PEERS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("peers");
/// Documents skipped by a sync session, per (peer, doc); see `Quarantined`.
pub(crate) const QUARANTINE: TableDefinition<([u8; 32], Id), &[u8]> =
    TableDefinition::new("quarantine");

/// Names of the derived tables, in the order `reindex` rebuilds them.
pub const DERIVED_TABLES: &[&str] = &[
    "ix_contacts",
    "ix_items",
    "ix_names",
    "ix_emails",
    "ix_phones",
    "ix_uids",
    "ix_postings",
    "ix_timeline",
    "ix_last_contact",
    "ix_due",
    "ix_cadence",
    "ix_cadence_of",
    "ix_buckets",
    "ix_tombstones",
    "ix_purged_uids",
];

/// Every row of some tables, by table name, as debug-rendered (key, value) pairs.
pub type TableDump = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

impl Vault {
    /// Every derived table as sorted (key, value) byte pairs: what `reindex` must reproduce.
    pub fn dump_derived(&self) -> Result<TableDump> {
        let r = self.read()?;
        dump_derived_of!(r.txn, &self.path)
    }

    /// What the derived tables would be after a `reindex`, computed in a write transaction
    /// that is then aborted (nothing is written).
    pub fn dump_rebuilt(&self) -> Result<TableDump> {
        let (txn, _) = self.rebuild_derived(&mut |_, _| {})?;
        let dump = dump_derived_of!(txn, &self.path);
        txn.abort().map_err(|e| map_redb(&self.path, e))?;
        dump
    }
}

/// Every row of one table as debug-rendered (key, value) pairs, in key order.
pub(crate) fn dump_rows<K, V, T>(t: &T, p: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
    T: ReadableTable<K, V>,
    for<'a> K::SelfType<'a>: std::fmt::Debug,
    for<'a> V::SelfType<'a>: std::fmt::Debug,
{
    let mut rows = Vec::new();
    for row in t.iter().map_err(|e| map_redb(p, e))? {
        let (k, v) = row.map_err(|e| map_redb(p, e))?;
        rows.push((
            format!("{:?}", k.value()).into_bytes(),
            format!("{:?}", v.value()).into_bytes(),
        ));
    }
    Ok(rows)
}

impl Vault {
    /// Every row of every table as raw (key, value) bytes, by table name: lets a test prove
    /// that a purged document left no row behind (free pages aside, see deletion.md).
    pub fn dump_raw(&self) -> Result<TableDump> {
        let r = self.read()?;
        let p = &self.path;
        let mut out = BTreeMap::new();
        macro_rules! dump {
            ($($def:expr),*) => {$({
                let t = r.txn.open_table($def).map_err(|e| map_redb(p, e))?;
                let mut rows = Vec::new();
                for row in t.iter().map_err(|e| map_redb(p, e))? {
                    let (k, v) = row.map_err(|e| map_redb(p, e))?;
                    rows.push((raw_bytes(&k), raw_bytes(&v)));
                }
                out.insert($def.name().to_string(), rows);
            })*};
        }
        dump!(META, DOCS, CHUNKS, ORDS, CONTACTS, ITEMS, POSTINGS);
        dump!(NAMES, EMAILS, PHONES, UIDS);
        dump!(TIMELINE, LAST_CONTACT, DUE, CADENCE, CADENCE_OF, BUCKETS);
        dump!(TOMBSTONES, PURGED_UIDS);
        dump!(SYNC_STATES, CHANGES, CHANGE_OF, PEERS);
        Ok(out)
    }
}

pub(crate) fn raw_bytes<T: redb::Value>(g: &redb::AccessGuard<'_, T>) -> Vec<u8> {
    T::as_bytes(&g.value()).as_ref().to_vec()
}

pub(crate) fn create_all_tables(w: &WriteTransaction, p: &Path) -> Result<()> {
    macro_rules! mk {
        ($($def:expr),*) => {$(
            w.open_table($def).map_err(|e| map_redb(p, e))?;
        )*};
    }
    mk!(META, DOCS, CHUNKS, ORDS, CONTACTS, ITEMS, POSTINGS);
    mk!(NAMES, EMAILS, PHONES, UIDS);
    mk!(TIMELINE, LAST_CONTACT, DUE, CADENCE, CADENCE_OF, BUCKETS);
    mk!(TOMBSTONES, PURGED_UIDS);
    mk!(SYNC_STATES, CHANGES, CHANGE_OF, PEERS);
    Ok(())
}

/// Copies a table in key order into a fresh table that replaces it (see `Vault::optimize`).
pub(crate) fn repack_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    w: &WriteTransaction,
    def: TableDefinition<'_, K, V>,
    p: &Path,
) -> Result<()> {
    let tmp_name = format!("{}.repack", def.name());
    let tmp: TableDefinition<K, V> = TableDefinition::new(&tmp_name);
    {
        let src = w.open_table(def).map_err(|e| map_redb(p, e))?;
        let mut dst = w.open_table(tmp).map_err(|e| map_redb(p, e))?;
        for row in src.iter().map_err(|e| map_redb(p, e))? {
            let (k, v) = row.map_err(|e| map_redb(p, e))?;
            dst.insert(k.value(), v.value())
                .map_err(|e| map_redb(p, e))?;
        }
    }
    w.delete_table(def).map_err(|e| map_redb(p, e))?;
    w.rename_table(tmp, def).map_err(|e| map_redb(p, e))?;
    Ok(())
}
