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

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use automerge::{ActorId, AutoCommit, ChangeHash};
use kith_core::index::{self, ContactSummary, ContactSummaryRef, DocIndex, ItemSummary};
use kith_core::sync::{bucket_of, leaf_digest, BucketHashes, Digest};
use kith_core::tombstones::{self, Tombstone, TOMBSTONES_DOC};
use kith_core::{model, DocId, Kind};
use redb::{
    Builder, ConcurrencyMode, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle, WriteTransaction,
};
use serde::{Deserialize, Serialize};

/// Version of the table layout; bumped with a migration for every change.
pub const FORMAT_VERSION: u32 = 4;
const MAGIC: &str = "kith-vault";
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Compaction rule: when the incremental chunks of a document add up to more bytes than its
/// snapshot, or number more than this, they are replaced by one fresh snapshot.
pub const MAX_INCREMENTAL_CHUNKS: u32 = 32;

type Id = [u8; 16];

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const DOCS: TableDefinition<Id, &[u8]> = TableDefinition::new("docs");
const CHUNKS: TableDefinition<(Id, u32), &[u8]> = TableDefinition::new("chunks");
const ORDS: TableDefinition<u32, Id> = TableDefinition::new("ords");
// Derived tables.
const CONTACTS: TableDefinition<Id, &[u8]> = TableDefinition::new("ix_contacts");
const ITEMS: TableDefinition<Id, &[u8]> = TableDefinition::new("ix_items");
const NAMES: TableDefinition<(&str, Id), ()> = TableDefinition::new("ix_names");
const EMAILS: TableDefinition<(&str, Id), ()> = TableDefinition::new("ix_emails");
const PHONES: TableDefinition<(&str, Id), ()> = TableDefinition::new("ix_phones");
const UIDS: TableDefinition<(&str, Id), ()> = TableDefinition::new("ix_uids");
const POSTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("ix_postings");
const TIMELINE: TableDefinition<(Id, i32, i64, Id), u8> = TableDefinition::new("ix_timeline");
const LAST_CONTACT: TableDefinition<Id, i32> = TableDefinition::new("ix_last_contact");
const DUE: TableDefinition<(i32, Id), &[u8]> = TableDefinition::new("ix_due");
const CADENCE: TableDefinition<(i32, Id), ()> = TableDefinition::new("ix_cadence");
const CADENCE_OF: TableDefinition<Id, i32> = TableDefinition::new("ix_cadence_of");
const BUCKETS: TableDefinition<u8, [u8; 16]> = TableDefinition::new("ix_buckets");
/// Documents deleted for good: derived from the tombstone document (docs/design/deletion.md).
const TOMBSTONES: TableDefinition<Id, &[u8]> = TableDefinition::new("ix_tombstones");
/// vCard UIDs of deleted contacts, so an import does not bring them back.
const PURGED_UIDS: TableDefinition<(&str, Id), ()> = TableDefinition::new("ix_purged_uids");
// Local sync bookkeeping (not derived from documents, not synced).
const SYNC_STATES: TableDefinition<([u8; 32], Id), &[u8]> = TableDefinition::new("sync_states");
const CHANGES: TableDefinition<u64, Id> = TableDefinition::new("changes");
const CHANGE_OF: TableDefinition<Id, u64> = TableDefinition::new("change_of");
const PEERS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("peers");
/// Documents skipped by a sync session, per (peer, doc); see `Quarantined`.
const QUARANTINE: TableDefinition<([u8; 32], Id), &[u8]> = TableDefinition::new("quarantine");

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

/// Every derived table of a read or write transaction, as a `Result<TableDump>`.
macro_rules! dump_derived_of {
    ($txn:expr, $p:expr) => {
        (|| -> Result<TableDump> {
            let mut out = TableDump::new();
            for (name, rows) in [
                (CONTACTS.name(), dump_derived_of!(@t $txn, $p, CONTACTS)),
                (ITEMS.name(), dump_derived_of!(@t $txn, $p, ITEMS)),
                (NAMES.name(), dump_derived_of!(@t $txn, $p, NAMES)),
                (EMAILS.name(), dump_derived_of!(@t $txn, $p, EMAILS)),
                (PHONES.name(), dump_derived_of!(@t $txn, $p, PHONES)),
                (UIDS.name(), dump_derived_of!(@t $txn, $p, UIDS)),
                (POSTINGS.name(), dump_derived_of!(@t $txn, $p, POSTINGS)),
                (TIMELINE.name(), dump_derived_of!(@t $txn, $p, TIMELINE)),
                (LAST_CONTACT.name(), dump_derived_of!(@t $txn, $p, LAST_CONTACT)),
                (DUE.name(), dump_derived_of!(@t $txn, $p, DUE)),
                (CADENCE.name(), dump_derived_of!(@t $txn, $p, CADENCE)),
                (CADENCE_OF.name(), dump_derived_of!(@t $txn, $p, CADENCE_OF)),
                (BUCKETS.name(), dump_derived_of!(@t $txn, $p, BUCKETS)),
                (TOMBSTONES.name(), dump_derived_of!(@t $txn, $p, TOMBSTONES)),
                (PURGED_UIDS.name(), dump_derived_of!(@t $txn, $p, PURGED_UIDS)),
            ] {
                out.insert(name.to_string(), rows);
            }
            Ok(out)
        })()
    };
    (@t $txn:expr, $p:expr, $def:expr) => {{
        let t = $txn.open_table($def).map_err(|e| map_redb($p, e))?;
        dump_rows(&t, $p)?
    }};
}

/// Every row of some tables, by table name, as debug-rendered (key, value) pairs.
pub type TableDump = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

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

enum Db {
    Rw(Database),
    Ro(ReadOnlyDatabase),
}

/// An open vault.
pub struct Vault {
    db: Db,
    path: PathBuf,
    actor: ActorId,
    lock_timeout: Duration,
}

/// A document loaded for editing, with the index it had before the edit.
pub struct Loaded {
    pub id: DocId,
    pub doc: AutoCommit,
    before: Option<DocIndex>,
    meta: Option<DocMeta>,
}

fn map_redb(path: &Path, e: impl Into<redb::Error>) -> StoreError {
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
fn without_temp_path(io: std::io::Error) -> std::io::Error {
    if io.raw_os_error().is_some() {
        return io;
    }
    let text = io.to_string();
    match text.split_once(" at path ") {
        Some((cause, _)) => std::io::Error::new(io.kind(), cause.to_string()),
        None => io,
    }
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("postcard encoding of plain structs cannot fail")
}

fn dec<T: for<'a> Deserialize<'a>>(bytes: &[u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Undecodable(format!("{what}: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Posting lists: per term, (ord, weight) pairs sorted by ord, as varint(ord delta) + weight byte.

pub fn encode_postings(list: &[(u32, u8)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(list.len() * 3);
    let mut prev = 0u32;
    for &(ord, w) in list {
        let mut d = ord - prev;
        prev = ord;
        loop {
            let b = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.push(w);
    }
    out
}

pub fn decode_postings(bytes: &[u8]) -> Vec<(u32, u8)> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut prev = 0u32;
    while i < bytes.len() {
        let mut d = 0u32;
        let mut shift = 0;
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            d |= u32::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 || shift > 28 {
                break;
            }
        }
        if i >= bytes.len() {
            break;
        }
        prev = prev.wrapping_add(d);
        out.push((prev, bytes[i]));
        i += 1;
    }
    out
}

/// Value of the `ix_due` table (postcard): what `kith due` shows of an open reminder, so that
/// listing them needs no lookup per reminder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueEntry {
    /// The reminder's contact (the first linked one), if any.
    pub contact: Option<Id>,
    /// The reminder's snippet, as in `ix_items`.
    pub snippet: String,
}

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

fn leaf_of(id: &DocId, heads: &[[u8; 32]]) -> Digest {
    let hs: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
    leaf_digest(id, &hs)
}

fn heads_of(doc: &mut AutoCommit) -> Vec<[u8; 32]> {
    doc.get_heads().iter().map(|h| h.0).collect()
}

impl Vault {
    /// Opens the vault at `path` for reading and writing, creating it (and its directory) when
    /// missing.
    pub fn open(path: &Path) -> Result<Vault> {
        Self::open_mode(path, false)
    }

    /// Opens the vault for reading only: no write, no fsync (read commands use this). A vault
    /// that needs crash recovery is opened read-write instead, which repairs it.
    pub fn open_read_only(path: &Path) -> Result<Vault> {
        Self::open_mode(path, true)
    }

    fn builder() -> Builder {
        let mut builder = Builder::new();
        builder.set_concurrency_mode(ConcurrencyMode::MultiWriter);
        builder.set_cache_size(16 << 20);
        builder
    }

    fn open_mode(path: &Path, read_only: bool) -> Result<Vault> {
        check_home(path)?;
        if !path.exists() {
            if read_only {
                // A read command on a home without a vault creates nothing: it reads an empty
                // vault that lives in memory.
                return Self::empty_in_memory(path);
            }
            Self::create_new(path)?;
        }
        let mut head = [0u8; 9];
        let mut f = std::fs::File::open(path).map_err(|e| map_io(path, e))?;
        let n = f.read(&mut head).map_err(|e| map_io(path, e))?;
        if n < head.len() || head != REDB_MAGIC {
            return Err(StoreError::Foreign(path.to_path_buf()));
        }
        drop(f);
        let db = if read_only {
            match Self::builder().open_read_only(path) {
                Ok(db) => Db::Ro(db),
                // Needs recovery (or another reason a read-only open is refused): open
                // read-write, which recovers a crashed vault.
                Err(redb::DatabaseError::RepairAborted) => {
                    Db::Rw(Self::builder().open(path).map_err(|e| map_redb(path, e))?)
                }
                Err(e) => return Err(map_redb(path, e)),
            }
        } else {
            Db::Rw(Self::builder().open(path).map_err(|e| map_redb(path, e))?)
        };
        let mut vault = Vault {
            db,
            path: path.to_path_buf(),
            actor: ActorId::random(),
            lock_timeout: Duration::from_secs(10),
        };
        let format = vault.check_header()?;
        if format < FORMAT_VERSION {
            // Older formats differ only in derived tables: rebuilding them is the migration
            // (it records the new format in the same transaction). It needs a writable handle.
            if matches!(vault.db, Db::Ro(_)) {
                vault.db = Db::Rw(Self::builder().open(path).map_err(|e| map_redb(path, e))?);
            }
            if format < 3 {
                vault.migrate_competing_maps(format)?;
            }
            // Formats 1 to 3 lack derived tables of format 4 (ix_due values, tombstones):
            // rebuilding the derived tables is that part of the migration, and records the
            // current format in the same transaction.
            vault.reindex(&mut |_, _| {})?;
        }
        Ok(vault)
    }

    /// Creates a new vault atomically: it is built and initialised under a temporary name, then
    /// hard-linked into place (which never replaces an existing file), so no process ever sees
    /// a half-created vault. If another process won the race, its vault is used.
    fn create_new(path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let tmp = dir.join(format!(
            ".vault.redb.{}.{:08x}.tmp",
            std::process::id(),
            rand::random::<u32>()
        ));
        // Errors name the vault, never the temporary file.
        let result = (|| {
            let db = Self::builder()
                .create(&tmp)
                .map_err(|e| map_redb(path, e))?;
            // Owner-only whatever the umask: the vault holds private data.
            set_private(&tmp, 0o600).map_err(|e| map_io(path, e))?;
            init_vault(&db, path)?;
            drop(db);
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(map_io(path, e)),
            }
        })();
        let _ = std::fs::remove_file(&tmp);
        result
    }

    /// An empty vault held in memory, standing for the missing file at `path` (what read
    /// commands see before the first write).
    fn empty_in_memory(path: &Path) -> Result<Vault> {
        // Single-process mode: the in-memory backend has no file locks.
        let db = Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| map_redb(path, e))?;
        init_vault(&db, path)?;
        let mut vault = Vault {
            db: Db::Rw(db),
            path: path.to_path_buf(),
            actor: ActorId::random(),
            lock_timeout: Duration::from_secs(10),
        };
        vault.check_header()?;
        Ok(vault)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long a write waits for another process's write transaction before giving up.
    pub fn set_lock_timeout(&mut self, d: Duration) {
        self.lock_timeout = d;
    }

    fn check_header(&mut self) -> Result<u32> {
        let p = self.path.clone();
        let r = self.begin_read()?;
        let t = match r.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Err(StoreError::Foreign(p)),
            Err(e) => return Err(map_redb(&p, e)),
        };
        let magic = t.get("magic").map_err(|e| map_redb(&p, e))?;
        if magic.as_ref().map(|m| m.value()) != Some(MAGIC.as_bytes()) {
            return Err(StoreError::Foreign(p));
        }
        let format = t
            .get("format")
            .map_err(|e| map_redb(&p, e))?
            .and_then(|v| v.value().try_into().ok().map(u32::from_le_bytes))
            .ok_or_else(|| StoreError::Corrupt(p.clone(), "no format version".into()))?;
        if format > FORMAT_VERSION {
            return Err(StoreError::TooNew {
                path: p,
                found: format,
            });
        }
        match t.get("actor").map_err(|e| map_redb(&p, e))? {
            Some(a) => self.actor = ActorId::from(a.value()),
            None => return Err(StoreError::Corrupt(p, "no actor id".into())),
        }
        Ok(format)
    }

    fn begin_read(&self) -> Result<ReadTransaction> {
        match &self.db {
            Db::Rw(db) => db.begin_read(),
            Db::Ro(db) => db.begin_read(),
        }
        .map_err(|e| map_redb(&self.path, e))
    }

    fn begin_write(&self) -> Result<WriteTransaction> {
        let Db::Rw(db) = &self.db else {
            return Err(StoreError::Internal(
                "the vault was opened read-only".into(),
            ));
        };
        let start = Instant::now();
        let mut wait = Duration::from_millis(1);
        loop {
            match db.try_begin_write() {
                Ok(w) => return Ok(w),
                Err(redb::TransactionError::WouldBlock) => {
                    if start.elapsed() >= self.lock_timeout {
                        return Err(StoreError::Busy(
                            self.path.clone(),
                            self.lock_timeout.as_secs(),
                        ));
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(map_redb(&self.path, e)),
            }
        }
    }

    /// Runs `f` in one write transaction; commits only if it returns Ok.
    pub fn write<T, E: From<StoreError>>(
        &self,
        now: i64,
        f: impl FnOnce(&mut Writer) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let txn = self.begin_write()?;
        let mut w = Writer {
            txn,
            path: self.path.clone(),
            actor: self.actor.clone(),
            now,
            postings: None,
            pending: BTreeMap::new(),
        };
        let out = f(&mut w)?;
        w.flush_postings()?;
        w.txn.commit().map_err(|e| map_redb(&self.path, e))?;
        Ok(out)
    }

    pub fn read(&self) -> Result<Reader> {
        let txn = self.begin_read()?;
        Ok(Reader {
            txn,
            path: self.path.clone(),
        })
    }

    /// Migration 2 -> 3: every document whose nested maps exist as several concurrent objects
    /// (first entries added on two devices by an older kith) gets the entries of the losing
    /// copies moved into the winning one (`model::merge_competing_maps`), with its index rows,
    /// in one write transaction. A format 2 vault then records format 3 in the same
    /// transaction; an older one is left for the reindex that follows. Returns the number of
    /// documents rewritten.
    fn migrate_competing_maps(&self, format: u32) -> Result<u64> {
        self.write(0, |w| {
            let ids: Vec<Id> = {
                let t = w.txn.open_table(DOCS).map_err(|e| w.e(e))?;
                let mut v = Vec::new();
                for r in t.iter().map_err(|e| w.e(e))? {
                    v.push(r.map_err(|e| w.e(e))?.0.value());
                }
                v
            };
            let mut rewritten = 0;
            for id in ids {
                // A document that does not load is left as it is (sync reports it).
                let mut l = match w.load(DocId(id)) {
                    Ok(Some(l)) => l,
                    Ok(None) | Err(StoreError::BadDocument(..)) => continue,
                    Err(e) => return Err(e),
                };
                if !kith_core::model::has_competing_maps(&l.doc) {
                    continue;
                }
                let changed = kith_core::model::merge_competing_maps(&mut l.doc)
                    .map_err(|e| StoreError::BadDocument(DocId(id), e.to_string()))?;
                if changed {
                    w.save(l)?;
                    rewritten += 1;
                }
            }
            if format == 2 {
                let mut t = w.txn.open_table(META).map_err(|e| w.e(e))?;
                t.insert("format", 3u32.to_le_bytes().as_slice())
                    .map_err(|e| w.e(e))?;
            }
            Ok::<u64, StoreError>(rewritten)
        })
    }

    /// Rebuilds every derived table from the documents alone. Returns the number of documents.
    pub fn reindex(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
        let (txn, total) = self.rebuild_derived(progress)?;
        txn.commit().map_err(|e| map_redb(&self.path, e))?;
        Ok(total)
    }

    /// Rebuilds every derived table in a write transaction that is returned uncommitted.
    fn rebuild_derived(
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
                v.push(r.map_err(|e| map_redb(&p, e))?.0.value());
            }
            v
        };
        let total = ids.len() as u64;
        // Items before contacts' cadence entries: index all, then recompute per-contact state.
        for (i, id) in ids.iter().enumerate() {
            let doc = w
                .load_doc(DocId(*id))?
                .ok_or_else(|| StoreError::Internal("document listed but missing".into()))?;
            let (_, ix) = index::derive(&doc.doc);
            w.apply_index(DocId(*id), None, &ix, false)?;
            if i % 1000 == 0 {
                progress(i as u64, total);
            }
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
                v.push(r.map_err(|e| map_redb(&p, e))?.0.value());
            }
            v
        };
        for c in contacts {
            w.refresh_contact_state(c)?;
        }
        w.rebuild_buckets()?;
        w.rebuild_tombstones()?;
        progress(total, total);
        Ok((w.txn, total))
    }

    /// Rewrites every table in key order and then shrinks the file (`kith reindex` runs it).
    ///
    /// B-tree leaves filled by inserts in random key order (document ids, terms) end up about
    /// two thirds full, and bulk loading leaves free pages behind; a table copied in key order
    /// has full leaves, and redb's `compact` then moves the pages in use to the front of the
    /// file and truncates it. The contents of every table are unchanged.
    pub fn optimize(&mut self) -> Result<()> {
        let p = self.path.clone();
        let txn = self.begin_write()?;
        macro_rules! repack {
            ($($def:expr),*) => {$(
                repack_table(&txn, $def, &p)?;
            )*};
        }
        repack!(META, DOCS, CHUNKS, ORDS, CONTACTS, ITEMS, POSTINGS);
        repack!(NAMES, EMAILS, PHONES, UIDS);
        repack!(TIMELINE, LAST_CONTACT, DUE, CADENCE, CADENCE_OF, BUCKETS);
        repack!(TOMBSTONES, PURGED_UIDS);
        repack!(SYNC_STATES, CHANGES, CHANGE_OF, PEERS);
        txn.commit().map_err(|e| map_redb(&p, e))?;
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
                    v.push(r.map_err(|e| map_redb(&p, e))?.0.value());
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
                    chunks.remove((id, seq)).map_err(|e| map_redb(&p, e))?;
                }
                let snap = l.doc.save();
                chunks
                    .insert((id, 0), snap.as_slice())
                    .map_err(|e| map_redb(&p, e))?;
                meta.snapshot_len = snap.len() as u64;
                meta.incremental_len = 0;
                meta.next_seq = 1;
                let mut docs = w.txn.open_table(DOCS).map_err(|e| map_redb(&p, e))?;
                docs.insert(id, enc(&meta).as_slice())
                    .map_err(|e| map_redb(&p, e))?;
                n += 1;
            }
        }
        w.txn.commit().map_err(|e| map_redb(&p, e))?;
        Ok(n)
    }

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

/// What `kith check` found (see [`Vault::check`]).
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    /// True when nothing is wrong.
    pub ok: bool,
    /// Documents whose bytes load, by kind (`contact`, `note`, ...).
    pub documents: BTreeMap<String, u64>,
    /// What is wrong, one line each.
    pub problems: Vec<String>,
    /// Checks that could not run, and why.
    pub skipped: Vec<String>,
}

/// Runs `f`, turning a panic (redb's reaction to some damage) into a "damaged" error.
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(StoreError::Corrupt(
            path.to_path_buf(),
            "the storage engine found inconsistent data".into(),
        ))
    })
}

fn problem_text(e: &StoreError) -> String {
    match e {
        StoreError::Corrupt(_, why) => why.clone(),
        other => other.to_string(),
    }
}

impl Vault {
    /// Verifies the vault at `path` without changing its contents: redb's own integrity check
    /// (page checksums), that every document loads, and that the derived tables equal what
    /// `reindex` would rebuild. A missing vault is fine (nothing to check). Fails only when
    /// the file cannot be examined at all (not a vault, too new, locked).
    pub fn check(path: &Path) -> Result<CheckReport> {
        let mut rep = CheckReport::default();
        check_home(path)?;
        if !path.exists() {
            rep.ok = true;
            return Ok(rep);
        }
        let mut head = [0u8; 9];
        let mut f = std::fs::File::open(path).map_err(|e| map_io(path, e))?;
        let n = f.read(&mut head).map_err(|e| map_io(path, e))?;
        if n < head.len() || head != REDB_MAGIC {
            return Err(StoreError::Foreign(path.to_path_buf()));
        }
        drop(f);
        let mut writable = true;
        let opened = guarded(path, || {
            let mut b = Self::builder();
            b.set_check_integrity_on_open(true);
            match b.open(path) {
                Ok(db) => Ok(Db::Rw(db)),
                Err(e) => match map_redb(path, e) {
                    StoreError::Permission(_) | StoreError::ReadOnly(_) => {
                        writable = false;
                        Self::builder()
                            .open_read_only(path)
                            .map(Db::Ro)
                            .map_err(|e| map_redb(path, e))
                    }
                    other => Err(other),
                },
            }
        });
        let db = match opened {
            Ok(db) => db,
            Err(e @ StoreError::Corrupt(..)) => {
                rep.problems.push(format!("file: {}", problem_text(&e)));
                return Ok(rep);
            }
            Err(e) => return Err(e),
        };
        if !writable {
            rep.skipped.push(
                "the vault cannot be written, so redb's page check and the index comparison did not run"
                    .into(),
            );
        }
        let mut vault = Vault {
            db,
            path: path.to_path_buf(),
            actor: ActorId::random(),
            lock_timeout: Duration::from_secs(10),
        };
        match guarded(path, || vault.check_header()) {
            Ok(_) => {}
            Err(e @ StoreError::Corrupt(..)) => {
                rep.problems.push(format!("file: {}", problem_text(&e)));
                return Ok(rep);
            }
            Err(e) => return Err(e),
        }
        // Every document loads.
        let docs = guarded(path, || {
            let r = vault.begin_read()?;
            let docs = r.open_table(DOCS).map_err(|e| map_redb(path, e))?;
            let chunks = r.open_table(CHUNKS).map_err(|e| map_redb(path, e))?;
            let mut found = Vec::new();
            for row in docs.iter().map_err(|e| map_redb(path, e))? {
                let (k, v) = row.map_err(|e| map_redb(path, e))?;
                let id = DocId(k.value());
                let kind = dec::<DocMeta>(v.value(), "document metadata")
                    .ok()
                    .and_then(|m| Kind::from_code(m.kind));
                let loaded = guarded(path, || {
                    let bytes = load_chunks(&chunks, id.0, path)?
                        .ok_or_else(|| StoreError::BadDocument(id, "no chunks".into()))?;
                    parse_doc(id, &bytes).map(|_| ())
                });
                found.push((id, kind, loaded));
            }
            Ok(found)
        });
        let mut docs_ok = true;
        match docs {
            Ok(found) => {
                for (id, kind, loaded) in found {
                    match (kind, loaded) {
                        (Some(k), Ok(())) => {
                            *rep.documents.entry(k.as_str().to_string()).or_insert(0) += 1;
                        }
                        (None, _) => {
                            docs_ok = false;
                            rep.problems
                                .push(format!("document {id}: undecodable metadata"));
                        }
                        (_, Err(e)) => {
                            docs_ok = false;
                            rep.problems.push(format!(
                                "document {id}: {}",
                                match &e {
                                    StoreError::BadDocument(_, why) => why.clone(),
                                    other => problem_text(other),
                                }
                            ));
                        }
                    }
                }
            }
            Err(e) => {
                docs_ok = false;
                rep.problems
                    .push(format!("documents: {}", problem_text(&e)));
            }
        }
        // The indexes equal a fresh reindex.
        if !docs_ok {
            rep.skipped
                .push("the index comparison needs every document to load".into());
        } else if writable {
            let cmp = guarded(path, || Ok((vault.dump_derived()?, vault.dump_rebuilt()?)));
            match cmp {
                Ok((now, fresh)) => {
                    for name in DERIVED_TABLES {
                        let empty = Vec::new();
                        let a = now.get(*name).unwrap_or(&empty);
                        let b = fresh.get(*name).unwrap_or(&empty);
                        if a != b {
                            let sa: std::collections::HashSet<_> = a.iter().collect();
                            let sb: std::collections::HashSet<_> = b.iter().collect();
                            let differ = sa.symmetric_difference(&sb).count();
                            rep.problems.push(format!(
                                "index {name}: {differ} entries differ from a fresh reindex (kith reindex rebuilds it)"
                            ));
                        }
                    }
                }
                Err(e) => rep.problems.push(format!("indexes: {}", problem_text(&e))),
            }
        }
        rep.ok = rep.problems.is_empty();
        Ok(rep)
    }
}

/// Writes the `meta` entries and every table of a new vault (errors name `p`).
fn init_vault(db: &Database, p: &Path) -> Result<()> {
    let w = db.begin_write().map_err(|e| map_redb(p, e))?;
    {
        let mut t = w.open_table(META).map_err(|e| map_redb(p, e))?;
        t.insert("magic", MAGIC.as_bytes())
            .map_err(|e| map_redb(p, e))?;
        t.insert("format", FORMAT_VERSION.to_le_bytes().as_slice())
            .map_err(|e| map_redb(p, e))?;
        let actor: [u8; 16] = rand::random();
        t.insert("actor", actor.as_slice())
            .map_err(|e| map_redb(p, e))?;
        t.insert("next_ord", 0u32.to_le_bytes().as_slice())
            .map_err(|e| map_redb(p, e))?;
    }
    create_all_tables(&w, p)?;
    w.commit().map_err(|e| map_redb(p, e))
}

/// Refuses a home (the vault's directory) that exists but is not a directory.
fn check_home(vault: &Path) -> Result<()> {
    if let Some(dir) = vault.parent().filter(|d| !d.as_os_str().is_empty()) {
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::NotADirectory(dir.to_path_buf()));
        }
    }
    Ok(())
}

/// Creates `dir` (and missing parents) if needed; the directory itself is owner-only (0700)
/// whatever the umask. An existing directory is left as it is.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| map_io(parent, e))?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => set_private(dir, 0o700).map_err(|e| map_io(dir, e)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(StoreError::NotADirectory(dir.to_path_buf()))
        }
        Err(e) => Err(map_io(dir, e)),
    }
}

#[cfg(unix)]
fn set_private(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_private(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Every row of one table as debug-rendered (key, value) pairs, in key order.
fn dump_rows<K, V, T>(t: &T, p: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>>
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

fn raw_bytes<T: redb::Value>(g: &redb::AccessGuard<'_, T>) -> Vec<u8> {
    T::as_bytes(&g.value()).as_ref().to_vec()
}

fn create_all_tables(w: &WriteTransaction, p: &Path) -> Result<()> {
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
fn repack_table<K: redb::Key + 'static, V: redb::Value + 'static>(
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

fn load_chunks<T: ReadableTable<(Id, u32), &'static [u8]>>(
    t: &T,
    id: Id,
    p: &Path,
) -> Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    let mut any = false;
    for row in t
        .range((id, 0u32)..=(id, u32::MAX))
        .map_err(|e| map_redb(p, e))?
    {
        let (_, v) = row.map_err(|e| map_redb(p, e))?;
        bytes.extend_from_slice(v.value());
        any = true;
    }
    Ok(any.then_some(bytes))
}

fn parse_doc(id: DocId, bytes: &[u8]) -> Result<AutoCommit> {
    AutoCommit::load(bytes).map_err(|e| StoreError::BadDocument(id, e.to_string()))
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
    txn: ReadTransaction,
    path: PathBuf,
}

macro_rules! rt {
    ($self:expr, $def:expr) => {
        $self
            .txn
            .open_table($def)
            .map_err(|e| map_redb(&$self.path, e))?
    };
}

impl Reader {
    fn e(&self, e: impl Into<redb::Error>) -> StoreError {
        map_redb(&self.path, e)
    }

    pub fn kind_of(&self, id: DocId) -> Result<Option<Kind>> {
        let t = rt!(self, DOCS);
        let v = t.get(id.0).map_err(|e| self.e(e))?;
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
        for row in t.range(lo..=hi).map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let m: DocMeta = dec(v.value(), "document metadata")?;
            if let Some(kind) = Kind::from_code(m.kind) {
                out.push((DocId(k.value()), kind));
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub fn contact(&self, id: DocId) -> Result<Option<ContactSummary>> {
        let t = rt!(self, CONTACTS);
        let v = t.get(id.0).map_err(|e| self.e(e))?;
        v.map(|v| dec(v.value(), "contact summary")).transpose()
    }

    /// Every contact summary, in id order.
    pub fn contacts(&self) -> Result<Vec<(DocId, ContactSummary)>> {
        let t = rt!(self, CONTACTS);
        let mut out = Vec::with_capacity(t.len().unwrap_or(0) as usize);
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.push((DocId(k.value()), dec(v.value(), "contact summary")?));
        }
        Ok(out)
    }

    /// Every contact summary, in id order, as encoded bytes copied into one buffer (decode
    /// each with [`decode_contact`]): listing every contact then costs no allocation per field.
    pub fn contacts_encoded(&self) -> Result<EncodedContacts> {
        let t = rt!(self, CONTACTS);
        let n = t.len().unwrap_or(0) as usize;
        let mut out = EncodedContacts {
            bytes: Vec::with_capacity(n * 128),
            entries: Vec::with_capacity(n),
        };
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let start = out.bytes.len();
            out.bytes.extend_from_slice(v.value());
            out.entries.push((DocId(k.value()), start, out.bytes.len()));
        }
        Ok(out)
    }

    pub fn item(&self, id: DocId) -> Result<Option<ItemSummary>> {
        let t = rt!(self, ITEMS);
        let v = t.get(id.0).map_err(|e| self.e(e))?;
        v.map(|v| dec(v.value(), "item summary")).transpose()
    }

    fn ids_for_key(&self, def: TableDefinition<(&str, Id), ()>, key: &str) -> Result<Vec<DocId>> {
        let t = rt!(self, def);
        let mut out = Vec::new();
        for row in t
            .range((key, [0u8; 16])..=(key, [0xff; 16]))
            .map_err(|e| self.e(e))?
        {
            out.push(DocId(row.map_err(|e| self.e(e))?.0.value().1));
        }
        Ok(out)
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
                Some((ck, ids)) if ck == key => ids.push(DocId(id)),
                _ => {
                    if let Some(done) = cur.take().filter(|(_, ids)| ids.len() > 1) {
                        out.push(done);
                    }
                    cur = Some((key.to_string(), vec![DocId(id)]));
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
        let t = rt!(self, TIMELINE);
        let c = contact.0;
        let mut out = Vec::new();
        let range = t
            .range((c, i32::MIN, i64::MIN, [0u8; 16])..=(c, i32::MAX, i64::MAX, [0xff; 16]))
            .map_err(|e| self.e(e))?;
        for row in range.rev() {
            let (k, v) = row.map_err(|e| self.e(e))?;
            if let Some(kind) = Kind::from_code(v.value()) {
                out.push((DocId(k.value().3), kind));
            }
        }
        Ok(out)
    }

    /// Every contact's last-contact day, in id order.
    pub fn last_contacts(&self) -> Result<Vec<(DocId, i32)>> {
        let t = rt!(self, LAST_CONTACT);
        let mut out = Vec::with_capacity(t.len().unwrap_or(0) as usize);
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.push((DocId(k.value()), v.value()));
        }
        Ok(out)
    }

    pub fn last_contact(&self, id: DocId) -> Result<Option<i32>> {
        let t = rt!(self, LAST_CONTACT);
        let v = t.get(id.0).map_err(|e| self.e(e))?;
        Ok(v.map(|v| v.value()))
    }

    /// Open reminders due on or before `day`, earliest first, with what `kith due` shows.
    pub fn reminders_due_entries(&self, day: i32) -> Result<Vec<(i32, DocId, DueEntry)>> {
        let t = rt!(self, DUE);
        let mut out = Vec::new();
        for row in t
            .range((i32::MIN, [0u8; 16])..=(day, [0xff; 16]))
            .map_err(|e| self.e(e))?
        {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let (d, id) = k.value();
            out.push((d, DocId(id), dec(v.value(), "due entry")?));
        }
        Ok(out)
    }

    /// Contacts whose keep-in-touch cadence falls due on or before `day`, most overdue first.
    pub fn cadence_due(&self, day: i32) -> Result<Vec<(i32, DocId)>> {
        let t = rt!(self, CADENCE);
        let mut out = Vec::new();
        for row in t
            .range((i32::MIN, [0u8; 16])..=(day, [0xff; 16]))
            .map_err(|e| self.e(e))?
        {
            let (k, _) = row.map_err(|e| self.e(e))?;
            let (d, id) = k.value();
            out.push((d, DocId(id)));
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
        Ok(v.map(|v| DocId(v.value())))
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
                out.push(DocId(k.value()));
            }
        }
        Ok(out)
    }
}

/// Point lookups of summaries with each table opened once (for commands that look up one
/// summary per output row).
pub struct Lookup {
    contacts: redb::ReadOnlyTable<Id, &'static [u8]>,
    items: redb::ReadOnlyTable<Id, &'static [u8]>,
    last_contact: redb::ReadOnlyTable<Id, i32>,
    path: PathBuf,
}

impl Lookup {
    pub fn contact(&self, id: DocId) -> Result<Option<ContactSummary>> {
        let v = self
            .contacts
            .get(id.0)
            .map_err(|e| map_redb(&self.path, e))?;
        v.map(|v| dec(v.value(), "contact summary")).transpose()
    }

    pub fn item(&self, id: DocId) -> Result<Option<ItemSummary>> {
        let v = self.items.get(id.0).map_err(|e| map_redb(&self.path, e))?;
        v.map(|v| dec(v.value(), "item summary")).transpose()
    }

    pub fn last_contact(&self, id: DocId) -> Result<Option<i32>> {
        let v = self
            .last_contact
            .get(id.0)
            .map_err(|e| map_redb(&self.path, e))?;
        Ok(v.map(|v| v.value()))
    }
}

impl Reader {
    /// Summary lookups that open their tables once.
    pub fn lookup(&self) -> Result<Lookup> {
        Ok(Lookup {
            contacts: rt!(self, CONTACTS),
            items: rt!(self, ITEMS),
            last_contact: rt!(self, LAST_CONTACT),
            path: self.path.clone(),
        })
    }

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
        let t = rt!(self, META);
        let v = t.get("change_seq").map_err(|e| self.e(e))?;
        Ok(
            v.and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
                .unwrap_or(0),
        )
    }

    pub fn peer_states(&self) -> Result<BTreeMap<[u8; 32], PeerState>> {
        let t = rt!(self, PEERS);
        let mut out = BTreeMap::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.insert(k.value(), dec(v.value(), "peer state")?);
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
            out.push((peer, DocId(doc), dec(v.value(), "quarantine entry")?));
        }
        Ok(out)
    }

    /// The root hash over all documents' heads (changes whenever any document changes).
    pub fn root_hash(&self) -> Result<[u8; 32]> {
        Ok(self.buckets()?.root())
    }

    fn buckets(&self) -> Result<BucketHashes> {
        let t = rt!(self, BUCKETS);
        let mut h = BucketHashes::empty();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            h.0[k.value() as usize] = v.value();
        }
        Ok(h)
    }
}

fn sync_err(e: StoreError) -> kith_core::sync::StoreError {
    kith_core::sync::StoreError(e.to_string())
}

type SyncResult<T> = std::result::Result<T, kith_core::sync::StoreError>;

/// The reads the sync engine needs, on the tables of either a read or a write transaction.
fn sync_buckets<T: ReadableTable<u8, [u8; 16]>>(t: &T, p: &Path) -> SyncResult<BucketHashes> {
    let mut h = BucketHashes::empty();
    for row in t.iter().map_err(|e| sync_err(map_redb(p, e)))? {
        let (k, v) = row.map_err(|e| sync_err(map_redb(p, e)))?;
        h.0[k.value() as usize] = v.value();
    }
    Ok(h)
}

fn sync_leaves<T: ReadableTable<Id, &'static [u8]>>(
    t: &T,
    bucket: u8,
    p: &Path,
) -> SyncResult<Vec<(DocId, Digest)>> {
    let mut lo = [0u8; 16];
    let mut hi = [0xffu8; 16];
    lo[0] = bucket;
    hi[0] = bucket;
    let mut out = Vec::new();
    for row in t.range(lo..=hi).map_err(|e| sync_err(map_redb(p, e)))? {
        let (k, v) = row.map_err(|e| sync_err(map_redb(p, e)))?;
        let m: DocMeta = dec(v.value(), "document metadata").map_err(sync_err)?;
        let id = DocId(k.value());
        out.push((id, leaf_of(&id, &m.heads)));
    }
    Ok(out)
}

fn sync_load<T: ReadableTable<(Id, u32), &'static [u8]>>(
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

fn sync_state_of<T: ReadableTable<([u8; 32], Id), &'static [u8]>>(
    t: &T,
    peer: &kith_core::sync::PeerId,
    doc: &DocId,
    p: &Path,
) -> SyncResult<Option<Vec<u8>>> {
    let v = t
        .get((peer.0, doc.0))
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

            fn is_deleted(&self, doc: &DocId) -> SyncResult<bool> {
                let t = self
                    .txn
                    .open_table(TOMBSTONES)
                    .map_err(|e| sync_err(self.e(e)))?;
                let v = t.get(doc.0).map_err(|e| sync_err(self.e(e)))?;
                Ok(v.is_some())
            }
        }
    };
}

sync_store_impl!(Reader);
// The engine can also read through a write transaction: a batch of frames is then handled and
// persisted in one transaction, each step seeing the changes of the steps before it.
sync_store_impl!(Writer);

/// One write transaction. Dropping it without `Vault::write` returning Ok discards everything.
pub struct Writer {
    txn: WriteTransaction,
    path: PathBuf,
    actor: ActorId,
    now: i64,
    /// During `reindex`: posting lists collected in memory and written once at the end,
    /// instead of rewriting a term's list for every document that contains it.
    postings: Option<BTreeMap<String, Vec<(u32, u8)>>>,
    /// Posting changes of this transaction (term -> ordinal -> new weight, or None to remove),
    /// applied once per term by `flush_postings` before commit: a transaction that touches many
    /// documents (an import, a sync batch) rewrites each term's list once, not once per document.
    pending: BTreeMap<String, BTreeMap<u32, Option<u8>>>,
}

/// Applies sorted changes to a sorted posting list.
fn merge_postings(list: Vec<(u32, u8)>, changes: &BTreeMap<u32, Option<u8>>) -> Vec<(u32, u8)> {
    let mut out = Vec::with_capacity(list.len() + changes.len());
    let mut ch = changes.iter().peekable();
    for (ord, w) in list {
        while let Some((&c, _)) = ch.peek() {
            if c >= ord {
                break;
            }
            let (&c, v) = ch.next().expect("peeked");
            if let Some(v) = v {
                out.push((c, *v));
            }
        }
        match ch.peek() {
            Some((&c, v)) if c == ord => {
                if let Some(v) = v {
                    out.push((c, *v));
                }
                ch.next();
            }
            _ => out.push((ord, w)),
        }
    }
    for (&c, v) in ch {
        if let Some(v) = v {
            out.push((c, *v));
        }
    }
    out
}

macro_rules! wt {
    ($self:expr, $def:expr) => {
        $self
            .txn
            .open_table($def)
            .map_err(|e| map_redb(&$self.path, e))?
    };
}

impl Writer {
    /// Writes this transaction's posting changes, one read and one write per term.
    fn flush_postings(&mut self) -> Result<()> {
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

    fn e(&self, e: impl Into<redb::Error>) -> StoreError {
        map_redb(&self.path, e)
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    /// A read view of this transaction's own state (including its uncommitted writes) is not
    /// offered by redb; use these helpers instead.
    pub fn contact(&self, id: DocId) -> Result<Option<ContactSummary>> {
        let t = wt!(self, CONTACTS);
        let v = t.get(id.0).map_err(|e| self.e(e))?;
        v.map(|v| dec(v.value(), "contact summary")).transpose()
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

    fn ids_for_key(&self, def: TableDefinition<(&str, Id), ()>, key: &str) -> Result<Vec<DocId>> {
        let t = wt!(self, def);
        let mut out = Vec::new();
        for row in t
            .range((key, [0u8; 16])..=(key, [0xff; 16]))
            .map_err(|e| self.e(e))?
        {
            out.push(DocId(row.map_err(|e| self.e(e))?.0.value().1));
        }
        Ok(out)
    }

    /// Items linked to a contact in this transaction's state: (item id, kind), oldest first.
    pub fn timeline(&self, contact: DocId) -> Result<Vec<(DocId, Kind)>> {
        let t = wt!(self, TIMELINE);
        let c = contact.0;
        let mut out = Vec::new();
        let range = t
            .range((c, i32::MIN, i64::MIN, [0u8; 16])..=(c, i32::MAX, i64::MAX, [0xff; 16]))
            .map_err(|e| self.e(e))?;
        for row in range {
            let (k, v) = row.map_err(|e| self.e(e))?;
            if let Some(kind) = Kind::from_code(v.value()) {
                out.push((DocId(k.value().3), kind));
            }
        }
        Ok(out)
    }

    /// All contact ids in this transaction's state, in id order.
    pub fn contact_ids(&self) -> Result<Vec<DocId>> {
        let t = wt!(self, CONTACTS);
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            out.push(DocId(row.map_err(|e| self.e(e))?.0.value()));
        }
        Ok(out)
    }

    /// Loads a document for editing. None when it does not exist.
    pub fn load(&self, id: DocId) -> Result<Option<Loaded>> {
        let Some(mut l) = self.load_doc(id)? else {
            return Ok(None);
        };
        l.before = Some(index::derive(&l.doc).1);
        Ok(Some(l))
    }

    fn load_doc(&self, id: DocId) -> Result<Option<Loaded>> {
        let meta = {
            let t = wt!(self, DOCS);
            let v = t.get(id.0).map_err(|e| self.e(e))?;
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
    pub fn save(&mut self, mut l: Loaded) -> Result<()> {
        let p = self.path.clone();
        // A document of a kind this version does not know (written by a newer kith) is stored
        // and synced as is, with kind code 0 and no index entries.
        let (kind, after) = index::derive(&l.doc);
        let kind_code = kind.map(|k| k.code()).unwrap_or(0);
        let deleted = (l.id == TOMBSTONES_DOC).then(|| tombstones::read_tombstones(&l.doc));
        let mut meta = match l.meta.take() {
            Some(m) => m,
            None => {
                let ord = self.next_ord()?;
                let mut t = wt!(self, ORDS);
                t.insert(ord, l.id.0).map_err(|e| self.e(e))?;
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
                let snap = l.doc.save();
                meta.snapshot_len = snap.len() as u64;
                chunks
                    .insert((l.id.0, 0), snap.as_slice())
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
                        chunks.remove((l.id.0, seq)).map_err(|e| map_redb(&p, e))?;
                    }
                    let snap = l.doc.save();
                    meta.snapshot_len = snap.len() as u64;
                    meta.incremental_len = 0;
                    meta.next_seq = 1;
                    chunks
                        .insert((l.id.0, 0), snap.as_slice())
                        .map_err(|e| map_redb(&p, e))?;
                } else {
                    chunks
                        .insert((l.id.0, meta.next_seq), inc.as_slice())
                        .map_err(|e| map_redb(&p, e))?;
                    meta.next_seq += 1;
                }
            }
        }
        meta.heads = heads;
        {
            let mut docs = wt!(self, DOCS);
            docs.insert(l.id.0, enc(&meta).as_slice())
                .map_err(|e| map_redb(&p, e))?;
        }
        self.apply_index(l.id, l.before.as_ref(), &after, true)?;
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
                chunks.remove((id.0, seq)).map_err(|e| map_redb(&p, e))?;
            }
            let mut docs = wt!(self, DOCS);
            docs.remove(id.0).map_err(|e| map_redb(&p, e))?;
            let mut ords = wt!(self, ORDS);
            ords.remove(meta.ord).map_err(|e| map_redb(&p, e))?;
        }
        self.toggle_bucket(&id, Some(leaf_of(&id, &meta.heads)), None)?;
        {
            let mut of = wt!(self, CHANGE_OF);
            let old = of
                .remove(id.0)
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

    fn next_ord(&mut self) -> Result<u32> {
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

    fn ord_of(&self, id: DocId) -> Result<u32> {
        let t = wt!(self, DOCS);
        let v = t.get(id.0).map_err(|e| self.e(e))?;
        match v {
            Some(v) => Ok(dec::<DocMeta>(v.value(), "document metadata")?.ord),
            None => Err(StoreError::Internal(format!("no metadata for {id}"))),
        }
    }

    fn remove_index(&mut self, id: DocId, ord: u32, before: &DocIndex) -> Result<()> {
        let empty = DocIndex::default();
        self.apply_index_with_ord(id, ord, Some(before), &empty, true)
    }

    fn apply_index(
        &mut self,
        id: DocId,
        before: Option<&DocIndex>,
        after: &DocIndex,
        refresh: bool,
    ) -> Result<()> {
        let ord = self.ord_of(id)?;
        self.apply_index_with_ord(id, ord, before, after, refresh)
    }

    fn apply_index_with_ord(
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
        // Summaries.
        {
            let mut t = wt!(self, CONTACTS);
            match &after.contact {
                Some(s) => {
                    t.insert(me, enc(s).as_slice())
                        .map_err(|e| map_redb(&p, e))?;
                }
                None if before.contact.is_some() => {
                    t.remove(me).map_err(|e| map_redb(&p, e))?;
                }
                None => {}
            }
            let mut t = wt!(self, ITEMS);
            match &after.item {
                Some(s) => {
                    t.insert(me, enc(s).as_slice())
                        .map_err(|e| map_redb(&p, e))?;
                }
                None if before.item.is_some() => {
                    t.remove(me).map_err(|e| map_redb(&p, e))?;
                }
                None => {}
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
                t.remove((k.as_str(), me)).map_err(|e| map_redb(&p, e))?;
            }
            for k in a.difference(b) {
                t.insert((k.as_str(), me), ())
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
                    t.remove((c.0, b.day, b.created, me))
                        .map_err(|e| map_redb(&p, e))?;
                    affected.push(c.0);
                }
            }
            if let Some(a) = &after.item {
                for c in &a.contacts {
                    t.insert((c.0, a.day, a.created, me), a.kind.code())
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
                t.remove((*d, me)).map_err(|e| map_redb(&p, e))?;
            }
            if let Some((d, entry)) = &due_after {
                t.insert((*d, me), enc(entry).as_slice())
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

    fn toggle_bucket(
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
            .map(|v| v.value())
            .unwrap_or([0u8; 16]);
        for leaf in [old, new].into_iter().flatten() {
            for (x, y) in cur.iter_mut().zip(leaf) {
                *x ^= y;
            }
        }
        if cur == [0u8; 16] {
            t.remove(b).map_err(|e| self.e(e))?;
        } else {
            t.insert(b, cur).map_err(|e| self.e(e))?;
        }
        Ok(())
    }

    fn rebuild_buckets(&mut self) -> Result<()> {
        let p = self.path.clone();
        let mut hashes = BucketHashes::empty();
        {
            let t = wt!(self, DOCS);
            for row in t.iter().map_err(|e| map_redb(&p, e))? {
                let (k, v) = row.map_err(|e| map_redb(&p, e))?;
                let m: DocMeta = dec(v.value(), "document metadata")?;
                let id = DocId(k.value());
                hashes.toggle(&id, &leaf_of(&id, &m.heads));
            }
        }
        let mut t = wt!(self, BUCKETS);
        for (b, h) in hashes.0.iter().enumerate() {
            if *h != [0u8; 16] {
                t.insert(b as u8, *h).map_err(|e| map_redb(&p, e))?;
            }
        }
        Ok(())
    }

    /// Records that a document changed (locally or from a peer), for `kith status`.
    fn record_change(&mut self, id: DocId) -> Result<()> {
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
            .insert(id.0, seq)
            .map_err(|e| map_redb(&p, e))?
            .map(|v| v.value());
        let mut ch = wt!(self, CHANGES);
        if let Some(o) = old {
            ch.remove(o).map_err(|e| map_redb(&p, e))?;
        }
        ch.insert(seq, id.0).map_err(|e| map_redb(&p, e))?;
        Ok(())
    }

    /// The change counter: every document change so far has a sequence number at most this.
    pub fn change_seq(&self) -> Result<u64> {
        let t = wt!(self, META);
        let v = t.get("change_seq").map_err(|e| self.e(e))?;
        Ok(
            v.and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
                .unwrap_or(0),
        )
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
        t.insert((peer, id.0), state).map_err(|e| self.e(e))?;
        Ok(())
    }

    pub fn peer_state(&self, peer: [u8; 32]) -> Result<PeerState> {
        let t = wt!(self, PEERS);
        let v = t.get(peer).map_err(|e| self.e(e))?;
        match v {
            Some(v) => dec(v.value(), "peer state"),
            None => Ok(PeerState::default()),
        }
    }

    pub fn set_peer_state(&mut self, peer: [u8; 32], st: &PeerState) -> Result<()> {
        let mut t = wt!(self, PEERS);
        t.insert(peer, enc(st).as_slice()).map_err(|e| self.e(e))?;
        Ok(())
    }

    /// Records that a session with `peer` skipped document `id`, and why.
    pub fn quarantine(&mut self, peer: [u8; 32], id: DocId, reason: &str) -> Result<()> {
        let now = self.now;
        let mut t = wt!(self, QUARANTINE);
        let mut q: Quarantined = match t.get((peer, id.0)).map_err(|e| map_redb(&self.path, e))? {
            Some(v) => dec(v.value(), "quarantine entry")?,
            None => Quarantined {
                since: now,
                ..Quarantined::default()
            },
        };
        q.reason = reason.to_string();
        q.last = now;
        q.count = q.count.saturating_add(1);
        t.insert((peer, id.0), enc(&q).as_slice())
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
            .range((peer, [0u8; 16])..=(peer, [0xffu8; 16]))
            .map_err(|e| map_redb(&p, e))?
            .filter_map(|r| r.ok())
            .map(|(k, _)| k.value().1)
            .filter(|d| !keep.contains(&DocId(*d)))
            .collect();
        for d in gone {
            t.remove((peer, d)).map_err(|e| map_redb(&p, e))?;
        }
        Ok(())
    }

    /// Loads the membership document for editing (a fresh one when there is none yet).
    pub fn load_or_create(&self, id: DocId) -> Result<Loaded> {
        Ok(match self.load(id)? {
            Some(l) => l,
            None => self.create_with_id(id),
        })
    }

    /// Recomputes a contact's last-contact day (from its timeline) and cadence entry.
    fn refresh_contact_state(&mut self, c: Id) -> Result<()> {
        let p = self.path.clone();
        // Only contacts that exist have a last-contact day and a cadence entry.
        let summary = self.contact(DocId(c))?;
        let last = if summary.is_none() {
            None
        } else {
            let t = wt!(self, TIMELINE);
            let range = t
                .range((c, i32::MIN, i64::MIN, [0u8; 16])..=(c, i32::MAX, i64::MAX, [0xff; 16]))
                .map_err(|e| map_redb(&p, e))?;
            let mut found = None;
            for row in range.rev() {
                let (k, v) = row.map_err(|e| map_redb(&p, e))?;
                if v.value() == Kind::Interaction.code() {
                    found = Some(k.value().1);
                    break;
                }
            }
            found
        };
        {
            let mut t = wt!(self, LAST_CONTACT);
            match last {
                Some(d) => {
                    t.insert(c, d).map_err(|e| map_redb(&p, e))?;
                }
                None => {
                    t.remove(c).map_err(|e| map_redb(&p, e))?;
                }
            }
        }
        let due = summary.as_ref().and_then(|s| index::cadence_due(s, last));
        let mut of = wt!(self, CADENCE_OF);
        let old = of.get(c).map_err(|e| map_redb(&p, e))?.map(|v| v.value());
        if old == due {
            return Ok(());
        }
        let mut cad = wt!(self, CADENCE);
        if let Some(d) = old {
            cad.remove((d, c)).map_err(|e| map_redb(&p, e))?;
            of.remove(c).map_err(|e| map_redb(&p, e))?;
        }
        if let Some(d) = due {
            cad.insert((d, c), ()).map_err(|e| map_redb(&p, e))?;
            of.insert(c, d).map_err(|e| map_redb(&p, e))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Deletion that syncs (docs/design/deletion.md).

impl Reader {
    /// Whether a document was deleted for good (it is in the tombstone set).
    pub fn is_deleted(&self, id: DocId) -> Result<bool> {
        let t = rt!(self, TOMBSTONES);
        let found = t.get(id.0).map_err(|e| self.e(e))?.is_some();
        Ok(found)
    }

    /// Every deleted document id with when and by whom.
    pub fn tombstones(&self) -> Result<Vec<(DocId, Tombstone)>> {
        let t = rt!(self, TOMBSTONES);
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.push((DocId(k.value()), dec(v.value(), "tombstone")?));
        }
        Ok(out)
    }
}

impl Writer {
    /// Whether a document was deleted for good.
    pub fn is_deleted(&self, id: DocId) -> Result<bool> {
        let t = wt!(self, TOMBSTONES);
        let found = t.get(id.0).map_err(|e| self.e(e))?.is_some();
        Ok(found)
    }

    /// Whether a vCard UID belonged to a contact deleted for good (import skips such cards).
    pub fn is_purged_uid(&self, uid: &str) -> Result<bool> {
        if uid.is_empty() {
            return Ok(false);
        }
        let t = wt!(self, PURGED_UIDS);
        let mut range = t
            .range((uid, [0u8; 16])..=(uid, [0xff; 16]))
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
    fn apply_tombstones(&mut self, set: BTreeMap<DocId, Tombstone>) -> Result<()> {
        let mut fresh = Vec::new();
        {
            let mut t = wt!(self, TOMBSTONES);
            for (id, ts) in &set {
                let known = t.get(id.0).map_err(|e| self.e(e))?.is_some();
                if !known {
                    t.insert(id.0, enc(ts).as_slice()).map_err(|e| self.e(e))?;
                    fresh.push(*id);
                }
            }
            let mut u = wt!(self, PURGED_UIDS);
            for (id, ts) in &set {
                if !ts.uid.is_empty() {
                    u.insert((ts.uid.as_str(), id.0), ())
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
    fn links_deleted_contact(&self, id: DocId) -> Result<bool> {
        let summary: Option<ItemSummary> = {
            let t = wt!(self, ITEMS);
            let v = t.get(id.0).map_err(|e| self.e(e))?;
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
    fn settle_links(&mut self, items: &[DocId]) -> Result<()> {
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

    fn live_contacts(
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
    fn remove_sync_states(&mut self, id: DocId) -> Result<()> {
        let mut t = wt!(self, SYNC_STATES);
        let mut keys = Vec::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, _) = row.map_err(|e| self.e(e))?;
            let (peer, doc) = k.value();
            if doc == id.0 {
                keys.push(peer);
            }
        }
        for peer in keys {
            t.remove((peer, id.0)).map_err(|e| self.e(e))?;
        }
        Ok(())
    }

    /// Rebuilds `ix_tombstones` from the tombstone document (reindex).
    fn rebuild_tombstones(&mut self) -> Result<()> {
        let Some(l) = self.load_doc(TOMBSTONES_DOC)? else {
            return Ok(());
        };
        let set = tombstones::read_tombstones(&l.doc);
        let mut t = wt!(self, TOMBSTONES);
        let mut u = wt!(self, PURGED_UIDS);
        for (id, ts) in &set {
            t.insert(id.0, enc(ts).as_slice()).map_err(|e| self.e(e))?;
            if !ts.uid.is_empty() {
                u.insert((ts.uid.as_str(), id.0), ())
                    .map_err(|e| self.e(e))?;
            }
        }
        Ok(())
    }
}

/// Size of the vault file in bytes.
pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
