//! The vault file: Automerge documents and their derived indexes in one redb database.
//!
//! Layout and key encodings are specified in docs/design/storage-format.md (format version
//! [`FORMAT_VERSION`]).
//!
//! Invariants:
//! - Every document change is written in one write transaction together with every index entry
//!   it affects, so the indexes are never stale, even after a crash.
//! - Indexes are a pure function of the documents (see `kith_core::index::derive`): `reindex`
//!   rebuilds them to byte-identical tables.
//! - The file is opened in redb's multi-writer mode: several kith processes (a daemon and CLI
//!   commands) share it, their write transactions serialised by redb's byte-range locks. Every
//!   read-modify-write of a document happens inside one write transaction, so no edit is lost.
//! - A file that is not a kith vault is never written to.
//!
//! Modules, one concern each (each states its own invariant): `open` (open, create, migrate,
//! check), `chunks` (document chunks: load, save, compaction), `indexing` (apply and remove
//! index entries, posting batching, reindex), `postings` (the posting-list codec), `sync`
//! (buckets, leaves, peer state, change sequence, quarantine), `query` (the read API),
//! `deletion` (tombstones), `tables` (the table definitions and whole-vault visits), `txn` (the
//! write transaction handle).

use std::path::{Path, PathBuf};

use kith_core::DocId;
use serde::{Deserialize, Serialize};

macro_rules! rt {
    ($self:expr, $def:expr) => {
        $self
            .txn
            .open_table($def)
            .map_err(|e| map_redb(&$self.path, e))?
    };
}

macro_rules! wt {
    ($self:expr, $def:expr) => {
        $self
            .txn
            .open_table($def)
            .map_err(|e| map_redb(&$self.path, e))?
    };
}

mod batch;
mod chunks;
mod deletion;
mod indexing;
mod keep;
pub mod notify;
mod open;
mod origin;
pub mod par;
mod postings;
mod query;
mod received;
mod share;
mod sync;
mod tables;
mod terms;
mod txn;

pub use batch::NewDoc;
pub use chunks::*;
pub use keep::{decode_brief, decode_days, ContactDays};
pub use open::*;
pub use origin::*;
pub use postings::*;
pub use query::*;
pub use received::{ReceivedRow, RowText, TERM_FIELDS};
pub use share::ShareTable;
pub use sync::*;
pub use tables::*;
pub use terms::TermPostings;
pub use txn::*;

/// Version of the table layout; bumped with a migration for every change.
pub const FORMAT_VERSION: u32 = 12;

/// Compaction rule: when the incremental chunks of a document add up to more bytes than its
/// snapshot, or number more than this, they are replaced by one fresh snapshot.
pub const MAX_INCREMENTAL_CHUNKS: u32 = 32;

pub(crate) type Id = [u8; 16];
/// How a table declares an id key or value: redb's `&[u8; 16]` has the same on-disk type name and
/// encoding as `[u8; 16]` (redb documents the two as compatible) but compares with one `memcmp`
/// and decodes without allocating, where `[u8; 16]` compares byte by byte and builds a `Vec` on
/// every decode. Every key lookup and range scan goes through this.
pub(crate) type IdKey = &'static [u8; 16];
/// A device or person key in a table, for the same reason as [`IdKey`].
pub(crate) type PeerKey = &'static [u8; 32];

/// Errors of the store, each saying what went wrong and what to do next.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} is not a kith vault")]
    Foreign(PathBuf),
    #[error("the vault {0} is damaged: {1}")]
    Corrupt(PathBuf, String),
    #[error("the vault {path} was written by a newer kith (format {found}, this kith reads up to {FORMAT_VERSION})")]
    TooNew { path: PathBuf, found: u32 },
    #[error("the vault {0} is locked by another process")]
    Locked(PathBuf),
    #[error("the vault {0} is busy: another kith process has held its write lock for {1} s")]
    Busy(PathBuf, u64),
    #[error("permission denied on {0}")]
    Permission(PathBuf),
    #[error("{0} is on a read-only file system")]
    ReadOnly(PathBuf),
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("no space left on the device holding {0}; nothing was written")]
    DiskFull(PathBuf),
    #[error("cannot read or write {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("document {0} is damaged: {1}")]
    BadDocument(DocId, String),
    #[error("the vault is damaged: undecodable {0}")]
    Undecodable(String),
    #[error("internal storage error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::Foreign(p) => Some(format!(
                "kith never overwrites a file it did not create; move {} away or choose another home with --home",
                p.display()
            )),
            StoreError::Corrupt(..) => Some(
                "restore it from a backup into a new home (kith restore FILE --home DIR) or sync a new home from another device; `kith check` lists what is wrong".into(),
            ),
            StoreError::BadDocument(..) | StoreError::Undecodable(_) => Some(
                "restore it from a backup into a new home (kith restore FILE --home DIR) or sync it from another device; `kith check` lists every damaged document".into(),
            ),
            StoreError::TooNew { .. } => Some("upgrade kith to open this vault".into()),
            StoreError::Locked(_) => Some(
                "close the other program that has the vault open (an older kith?) and try again".into(),
            ),
            StoreError::Busy(..) => Some("try again, or stop the process holding the vault".into()),
            StoreError::Permission(p) => Some(format!(
                "check the permissions of {} and its directory",
                p.display()
            )),
            StoreError::DiskFull(_) => Some("free some disk space and try again".into()),
            StoreError::ReadOnly(_) => Some(
                "reading still works (list, show, search, export, backup); to change the vault, copy the home to a writable place and use --home".into(),
            ),
            StoreError::NotADirectory(p) => Some(format!(
                "the kith home must be a directory; move {} away or choose another with --home",
                p.display()
            )),
            _ => None,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn map_redb(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    let e: redb::Error = e.into();
    match e {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            StoreError::Locked(path.to_path_buf())
        }
        redb::Error::Corrupted(msg) => StoreError::Corrupt(path.to_path_buf(), msg),
        redb::Error::UpgradeRequired(v) => StoreError::Corrupt(
            path.to_path_buf(),
            format!("redb file format {v} is not supported"),
        ),
        // A read past the end of the file: it was truncated.
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            StoreError::Corrupt(path.to_path_buf(), "the file is truncated".into())
        }
        redb::Error::Io(io) => map_io(path, io),
        // kith opens its own tables with fixed types: a mismatch or a missing table in a file
        // whose header checked out means the table directory is damaged.
        e @ (redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableDoesNotExist(_)) => {
            StoreError::Corrupt(path.to_path_buf(), e.to_string())
        }
        other => StoreError::Internal(other.to_string()),
    }
}

pub fn map_io(path: &Path, io: std::io::Error) -> StoreError {
    match io.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => StoreError::ReadOnly(path.to_path_buf()),
        std::io::ErrorKind::NotADirectory => StoreError::NotADirectory(path.to_path_buf()),
        std::io::ErrorKind::PermissionDenied => StoreError::Permission(path.to_path_buf()),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            StoreError::DiskFull(path.to_path_buf())
        }
        _ if io.raw_os_error() == Some(28) => StoreError::DiskFull(path.to_path_buf()),
        _ => StoreError::Io(path.to_path_buf(), without_temp_path(io)),
    }
}

/// `io` without the "at path ..." that `tempfile` appends: messages name the file the user
/// knows, never a temporary one.
pub(crate) fn without_temp_path(io: std::io::Error) -> std::io::Error {
    if io.raw_os_error().is_some() {
        return io;
    }
    let text = io.to_string();
    match text.split_once(" at path ") {
        Some((cause, _)) => std::io::Error::new(io.kind(), cause.to_string()),
        None => io,
    }
}

pub(crate) fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("postcard encoding of plain structs cannot fail")
}

pub(crate) fn dec<T: for<'a> Deserialize<'a>>(bytes: &[u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Undecodable(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_core::index::ContactSummary;
    use std::collections::BTreeMap;

    /// Tables declared with `[u8; 16]` keys and values (every vault written before the
    /// declarations became [`IdKey`]) open and read with the new declarations, in key order,
    /// composite keys included; redb refuses a table whose declared types differ, so this also
    /// proves the type names are the same.
    #[test]
    fn id_key_tables_read_vaults_written_with_array_keys() {
        use redb::{ReadableDatabase, ReadableTable, TableDefinition};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.redb");
        const OLD: TableDefinition<[u8; 16], [u8; 16]> = TableDefinition::new("t");
        const OLD_PAIR: TableDefinition<(i32, [u8; 16]), [u8; 32]> = TableDefinition::new("p");
        const NEW: TableDefinition<IdKey, IdKey> = TableDefinition::new("t");
        const NEW_PAIR: TableDefinition<(i32, IdKey), PeerKey> = TableDefinition::new("p");
        let ids: Vec<[u8; 16]> = [7u8, 1, 0xff, 0x80].iter().map(|b| [*b; 16]).collect();
        {
            let db = redb::Database::create(&path).unwrap();
            let w = db.begin_write().unwrap();
            {
                let mut t = w.open_table(OLD).unwrap();
                let mut p = w.open_table(OLD_PAIR).unwrap();
                for (i, id) in ids.iter().enumerate() {
                    t.insert(*id, [i as u8; 16]).unwrap();
                    p.insert((-(i as i32), *id), [i as u8; 32]).unwrap();
                }
            }
            w.commit().unwrap();
        }
        let db = redb::Database::open(&path).unwrap();
        let r = db.begin_read().unwrap();
        let t = r.open_table(NEW).unwrap();
        let keys: Vec<[u8; 16]> = t.iter().unwrap().map(|x| *x.unwrap().0.value()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "same order as the byte-wise comparison");
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(*t.get(id).unwrap().unwrap().value(), [i as u8; 16]);
        }
        let p = r.open_table(NEW_PAIR).unwrap();
        for (i, id) in ids.iter().enumerate() {
            let v = p.get((-(i as i32), id)).unwrap().unwrap();
            assert_eq!(*v.value(), [i as u8; 32]);
        }
        let n = p
            .range((-1, &[0u8; 16])..=(0, &[0xff; 16]))
            .unwrap()
            .count();
        assert_eq!(n, 2);
    }

    #[test]
    fn borrowed_due_entry_reads_the_stored_encoding() {
        for e in [
            DueEntry {
                contact: Some([3; 16]),
                snippet: "Promised: send the paper — café".into(),
            },
            DueEntry {
                contact: None,
                snippet: String::new(),
            },
        ] {
            let bytes = enc(&e);
            let r: DueEntryRef<'_> = postcard::from_bytes(&bytes).unwrap();
            assert_eq!((r.contact, r.snippet), (e.contact, e.snippet.as_str()));
        }
    }

    #[test]
    fn borrowed_contact_summary_reads_the_stored_encoding() {
        let s = ContactSummary {
            name: "Zoë Ångström".into(),
            sort: "zoe angstrom".into(),
            org: "Acme".into(),
            title: "CTO".into(),
            email: "zoe@example.com".into(),
            tags: vec!["a".into(), "b".into()],
            kinds: vec!["friend".into()],
            every: "30d".into(),
            archived: true,
            merged_into: "x".into(),
            created_day: -3,
            birthday: "--03-14".into(),
            help: "intros to Acme".into(),
        };
        let bytes = enc(&s);
        let r = decode_contact(&bytes).unwrap();
        assert_eq!(r.name, s.name);
        assert_eq!(r.sort, s.sort);
        assert_eq!(
            (r.org, r.title, r.email),
            ("Acme", "CTO", "zoe@example.com")
        );
        assert_eq!(r.tags, ["a", "b"]);
        assert_eq!(r.kinds, ["friend"]);
        assert_eq!((r.every, r.archived, r.merged_into), ("30d", true, "x"));
        assert_eq!(r.created_day, -3);
        assert_eq!(r.birthday, "--03-14");
        assert_eq!(r.help, "intros to Acme");
    }

    #[test]
    fn merging_posting_changes() {
        let list = vec![(1, 1), (5, 8), (9, 2)];
        let mut ch = BTreeMap::new();
        ch.insert(0, Some(4)); // insert before
        ch.insert(5, None); // remove
        ch.insert(7, Some(3)); // insert between
        ch.insert(9, Some(6)); // update
        ch.insert(12, Some(1)); // append
        ch.insert(13, None); // remove a missing one: no-op
        assert_eq!(
            merge_postings(list, &ch),
            vec![(0, 4), (1, 1), (7, 3), (9, 6), (12, 1)]
        );
        assert!(merge_postings(vec![(3, 1)], &[(3, None)].into_iter().collect()).is_empty());
    }

    #[test]
    fn postings_round_trip() {
        let list = vec![(0, 1), (5, 8), (300, 2), (70_000, 4), (u32::MAX, 1)];
        assert_eq!(decode_postings(&encode_postings(&list)), list);
        assert!(decode_postings(&[]).is_empty());
        // Truncated input does not panic.
        let bytes = encode_postings(&list);
        for n in 0..bytes.len() {
            let _ = decode_postings(&bytes[..n]);
        }
    }
}
