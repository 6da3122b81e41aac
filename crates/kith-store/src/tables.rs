//! The table definitions and every operation that visits all tables (creation, dumps,
//! repack).
//!
//! Invariant: the table list here is the only one; creation, reindex, repack and dumps all
//! follow it.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use crate::*;

/// What a table holds, which decides what visits it (see [`TABLES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The documents themselves and vault metadata.
    Core,
    /// Derived from the documents alone; `reindex` deletes and rebuilds it; dumps compare it.
    Derived,
    /// Local sync bookkeeping (not derived from documents, not synced).
    Local,
    /// Local bookkeeping created on first use: not created with the vault, visited only when
    /// present.
    Lazy,
}

/// Declares every table once: its constant, its class, and its place in [`TABLES`] and
/// [`visit_tables`]. Adding a table is one line here.
macro_rules! tables {
    ($($(#[$doc:meta])* $name:ident: $k:ty => $v:ty = $s:literal, $class:ident;)*) => {
        $(
            $(#[$doc])*
            pub(crate) const $name: TableDefinition<$k, $v> = TableDefinition::new($s);
        )*

        /// Every table, by name and class, in declaration order.
        pub(crate) const TABLES: &[(&str, Class)] = &[$(($s, Class::$class)),*];

        /// Calls `v` with every table of the given classes, in declaration order.
        pub(crate) fn visit_tables(classes: &[Class], v: &mut impl Visit) -> Result<()> {
            $(
                if classes.contains(&Class::$class) {
                    v.table($name, Class::$class)?;
                }
            )*
            Ok(())
        }
    };
}

tables! {
    META: &str => &[u8] = "meta", Core;
    DOCS: IdKey => &[u8] = "docs", Core;
    CHUNKS: (IdKey, u32) => &[u8] = "chunks", Core;
    ORDS: u32 => IdKey = "ords", Core;
    CONTACTS: IdKey => &[u8] = "ix_contacts", Derived;
    ITEMS: IdKey => &[u8] = "ix_items", Derived;
    NAMES: (&str, IdKey) => () = "ix_names", Derived;
    EMAILS: (&str, IdKey) => () = "ix_emails", Derived;
    PHONES: (&str, IdKey) => () = "ix_phones", Derived;
    UIDS: (&str, IdKey) => () = "ix_uids", Derived;
    POSTINGS: &str => &[u8] = "ix_postings", Derived;
    TIMELINE: (IdKey, i32, i64, IdKey) => u8 = "ix_timeline", Derived;
    LAST_CONTACT: IdKey => i32 = "ix_last_contact", Derived;
    DUE: (i32, IdKey) => &[u8] = "ix_due", Derived;
    CADENCE: (i32, IdKey) => () = "ix_cadence", Derived;
    CADENCE_OF: IdKey => i32 = "ix_cadence_of", Derived;
    /// Dates that matter of a contact (postcard `ContactDates`): `kith due`/`digest` read them.
    DATES: IdKey => &[u8] = "ix_dates", Derived;
    /// The day of every interaction with a contact (i32 LE each, ascending, one per
    /// interaction): the digest's rhythms and `kith stats` read them.
    CONTACT_DAYS: IdKey => &[u8] = "ix_contact_days", Derived;
    BUCKETS: u8 => IdKey = "ix_buckets", Derived;
    /// Documents deleted for good: derived from the tombstone document (docs/design/deletion.md).
    TOMBSTONES: IdKey => &[u8] = "ix_tombstones", Derived;
    /// vCard UIDs of deleted contacts, so an import does not bring them back.
    PURGED_UIDS: (&str, IdKey) => () = "ix_purged_uids", Derived;
    /// What each received document shows (its projection), under its `received` key: share
    /// id ‖ pseudonym (`received.rs`).
    RECEIVED_ROWS: &[u8] => &[u8] = "ix_received", Derived;
    SYNC_STATES: (PeerKey, IdKey) => &[u8] = "sync_states", Local;
    CHANGES: u64 => IdKey = "changes", Local;
    CHANGE_OF: IdKey => u64 = "change_of", Local;
    PEERS: PeerKey => &[u8] = "peers", Local;
    /// Documents skipped by a sync session, per (peer, doc); see `Quarantined`.
    QUARANTINE: (PeerKey, IdKey) => &[u8] = "quarantine", Lazy;
    /// Sharing (docs/design/sharing.md, `share.rs`): persons paired with, by their key.
    PERSONS: &[u8] => &[u8] = "persons", Lazy;
    /// Shares this device serves, by share id.
    SHARES: &[u8] => &[u8] = "shares", Lazy;
    /// Projection documents of the shares this device serves: share id ‖ pseudonym.
    SHARE_DOCS: &[u8] => &[u8] = "share_docs", Lazy;
    /// Shares received from persons, by share id.
    RECEIVED_SHARES: &[u8] => &[u8] = "received_shares", Lazy;
    /// Received (foreign, read-only) documents: share id ‖ pseudonym.
    RECEIVED: &[u8] => &[u8] = "received", Lazy;
    /// Introductions, per person (key hex): this device's intro actor and bookkeeping.
    INTRO_PEERS: &[u8] => &[u8] = "intro_peers", Lazy;
    /// Intro documents authored here (requests asked, answers given): person key ‖ doc id.
    INTRO_DOCS: &[u8] => &[u8] = "intro_docs", Lazy;
    /// Intro documents received from persons (foreign, read-only): person key ‖ doc id.
    INTRO_RECEIVED: &[u8] => &[u8] = "intro_received", Lazy;
    /// Shares another own device serves (what it last offered), by share id.
    SHARES_ELSEWHERE: &[u8] => &[u8] = "shares_elsewhere", Lazy;
}

/// Every class of table.
pub(crate) const ALL: &[Class] = &[Class::Core, Class::Derived, Class::Local, Class::Lazy];
/// The tables a new vault is created with.
pub(crate) const CREATED: &[Class] = &[Class::Core, Class::Derived, Class::Local];

/// Names of the derived tables, in the order `reindex` rebuilds them.
pub const DERIVED_TABLES: &[&str] = &derived_names();

const fn derived_count() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < TABLES.len() {
        if matches!(TABLES[i].1, Class::Derived) {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn derived_names() -> [&'static str; derived_count()] {
    let mut out = [""; derived_count()];
    let mut n = 0;
    let mut i = 0;
    while i < TABLES.len() {
        if matches!(TABLES[i].1, Class::Derived) {
            out[n] = TABLES[i].0;
            n += 1;
        }
        i += 1;
    }
    out
}

/// Something done to each table of [`TABLES`] (see [`visit_tables`]).
pub(crate) trait Visit {
    fn table<K, V>(&mut self, def: TableDefinition<'static, K, V>, class: Class) -> Result<()>
    where
        K: redb::Key + 'static,
        V: redb::Value + 'static,
        for<'a> K::SelfType<'a>: std::fmt::Debug,
        for<'a> V::SelfType<'a>: std::fmt::Debug;
}

/// A transaction tables can be opened in for reading: a read or a write transaction.
pub(crate) trait OpenTable {
    type Table<'a, K: redb::Key + 'static, V: redb::Value + 'static>: ReadableTable<K, V>
    where
        Self: 'a;
    fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<'_, K, V>,
    ) -> std::result::Result<Self::Table<'_, K, V>, redb::TableError>;
}

impl OpenTable for redb::ReadTransaction {
    type Table<'a, K: redb::Key + 'static, V: redb::Value + 'static> = redb::ReadOnlyTable<K, V>;
    fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<'_, K, V>,
    ) -> std::result::Result<Self::Table<'_, K, V>, redb::TableError> {
        self.open_table(def)
    }
}

impl OpenTable for WriteTransaction {
    type Table<'a, K: redb::Key + 'static, V: redb::Value + 'static> = redb::Table<'a, K, V>;
    fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<'_, K, V>,
    ) -> std::result::Result<Self::Table<'_, K, V>, redb::TableError> {
        self.open_table(def)
    }
}

/// Every derived table of a read or write transaction, debug-rendered (dumps compare them).
pub(crate) fn dump_derived_of<T: OpenTable>(txn: &T, p: &Path) -> Result<TableDump> {
    struct Dump<'t, T> {
        txn: &'t T,
        p: &'t Path,
        out: TableDump,
    }
    impl<T: OpenTable> Visit for Dump<'_, T> {
        fn table<K, V>(&mut self, def: TableDefinition<'static, K, V>, _: Class) -> Result<()>
        where
            K: redb::Key + 'static,
            V: redb::Value + 'static,
            for<'a> K::SelfType<'a>: std::fmt::Debug,
            for<'a> V::SelfType<'a>: std::fmt::Debug,
        {
            let t = self.txn.open(def).map_err(|e| map_redb(self.p, e))?;
            let rows = dump_rows(&t, self.p)?;
            self.out.insert(def.name().to_string(), rows);
            Ok(())
        }
    }
    let mut d = Dump {
        txn,
        p,
        out: TableDump::new(),
    };
    visit_tables(&[Class::Derived], &mut d)?;
    Ok(d.out)
}

/// Every row of some tables, by table name, as debug-rendered (key, value) pairs.
pub type TableDump = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

impl Vault {
    /// Every derived table as sorted (key, value) byte pairs: what `reindex` must reproduce.
    pub fn dump_derived(&self) -> Result<TableDump> {
        let r = self.read()?;
        dump_derived_of(&r.txn, &self.path)
    }

    /// What the derived tables would be after a `reindex`, computed in a write transaction
    /// that is then aborted (nothing is written).
    pub fn dump_rebuilt(&self) -> Result<TableDump> {
        let (txn, _) = self.rebuild_derived(&mut |_, _| {})?;
        let dump = dump_derived_of(&txn, &self.path);
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
        struct Raw<'t> {
            txn: &'t redb::ReadTransaction,
            p: &'t Path,
            out: TableDump,
        }
        impl Visit for Raw<'_> {
            fn table<K, V>(
                &mut self,
                def: TableDefinition<'static, K, V>,
                class: Class,
            ) -> Result<()>
            where
                K: redb::Key + 'static,
                V: redb::Value + 'static,
                for<'a> K::SelfType<'a>: std::fmt::Debug,
                for<'a> V::SelfType<'a>: std::fmt::Debug,
            {
                let t = match self.txn.open_table(def) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) if class == Class::Lazy => {
                        return Ok(())
                    }
                    Err(e) => return Err(map_redb(self.p, e)),
                };
                let mut rows = Vec::new();
                for row in t.iter().map_err(|e| map_redb(self.p, e))? {
                    let (k, v) = row.map_err(|e| map_redb(self.p, e))?;
                    rows.push((raw_bytes(&k), raw_bytes(&v)));
                }
                self.out.insert(def.name().to_string(), rows);
                Ok(())
            }
        }
        let r = self.read()?;
        let mut raw = Raw {
            txn: &r.txn,
            p: &self.path,
            out: TableDump::new(),
        };
        visit_tables(ALL, &mut raw)?;
        Ok(raw.out)
    }
}

pub(crate) fn raw_bytes<T: redb::Value>(g: &redb::AccessGuard<'_, T>) -> Vec<u8> {
    T::as_bytes(&g.value()).as_ref().to_vec()
}

pub(crate) fn create_all_tables(w: &WriteTransaction, p: &Path) -> Result<()> {
    struct Create<'t>(&'t WriteTransaction, &'t Path);
    impl Visit for Create<'_> {
        fn table<K, V>(&mut self, def: TableDefinition<'static, K, V>, _: Class) -> Result<()>
        where
            K: redb::Key + 'static,
            V: redb::Value + 'static,
            for<'a> K::SelfType<'a>: std::fmt::Debug,
            for<'a> V::SelfType<'a>: std::fmt::Debug,
        {
            self.0.open_table(def).map_err(|e| map_redb(self.1, e))?;
            Ok(())
        }
    }
    visit_tables(CREATED, &mut Create(w, p))
}

/// Rewrites every table in key order (see `Vault::optimize`); a table created on first use is
/// repacked only when it exists.
pub(crate) fn repack_all(w: &WriteTransaction, p: &Path) -> Result<()> {
    struct Repack<'t>(&'t WriteTransaction, &'t Path, Vec<String>);
    impl Visit for Repack<'_> {
        fn table<K, V>(&mut self, def: TableDefinition<'static, K, V>, class: Class) -> Result<()>
        where
            K: redb::Key + 'static,
            V: redb::Value + 'static,
            for<'a> K::SelfType<'a>: std::fmt::Debug,
            for<'a> V::SelfType<'a>: std::fmt::Debug,
        {
            if class == Class::Lazy && !self.2.iter().any(|n| n == def.name()) {
                return Ok(());
            }
            repack_table(self.0, def, self.1)
        }
    }
    let present = w
        .list_tables()
        .map_err(|e| map_redb(p, e))?
        .map(|h| h.name().to_string())
        .collect();
    visit_tables(ALL, &mut Repack(w, p, present))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_vault_has_every_listed_table_and_the_dumps_follow_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(&dir.path().join("vault.redb")).unwrap();
        let raw = v.dump_raw().unwrap();
        let mut created: Vec<&str> = TABLES
            .iter()
            .filter(|(_, c)| *c != Class::Lazy)
            .map(|(n, _)| *n)
            .collect();
        created.sort_unstable();
        assert_eq!(raw.keys().map(String::as_str).collect::<Vec<_>>(), created);
        let mut derived = DERIVED_TABLES.to_vec();
        derived.sort_unstable();
        let dump = v.dump_derived().unwrap();
        assert_eq!(dump.keys().map(String::as_str).collect::<Vec<_>>(), derived);
        assert_eq!(DERIVED_TABLES.len(), 18); // format 10 added ix_received
        assert_eq!(DERIVED_TABLES[0], "ix_contacts");
    }
}
