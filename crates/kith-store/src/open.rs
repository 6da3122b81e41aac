//! Opening, creating, migrating and checking a vault file.
//!
//! Invariant: a file that is not a kith vault is never written; read-only opens never create
//! or write a file; damage is reported as one "is damaged" error, never a panic.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use automerge::ActorId;
use kith_core::{DocId, Kind};
use redb::{
    Builder, ConcurrencyMode, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, WriteTransaction,
};
use serde::Serialize;

use crate::*;

/// redb's cache for a read-only handle.
const READ_CACHE: usize = 16 << 20;
/// redb's cache for a handle that writes. redb keeps a transaction's dirty pages in at most
/// half of it, so a transaction that writes more (a sync batch of a thousand documents, an
/// import, a reindex) writes pages out and reads them back. Measured (docs/benchmarks.md,
/// sync6 and session 8): migrating the 85,000-document vault took the same CPU with 64 MiB as
/// with 16 MiB and peaked 50 MiB higher; with 8 MiB instead of 16, the first sync of that
/// vault peaked 15 MiB lower on the receiver in the same time, and importing 10,000 vCards
/// took the same time.
const WRITE_CACHE: usize = 8 << 20;

/// The cache cap of a handle: `KITH_CACHE_MIB` (benchmarks only) or the default above.
fn cache_bytes(read_only: bool) -> usize {
    match std::env::var("KITH_CACHE_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(mib) => mib.clamp(1, 4096) << 20,
        None if read_only => READ_CACHE,
        None => WRITE_CACHE,
    }
}

pub(crate) const MAGIC: &str = "kith-vault";
pub(crate) const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

pub(crate) enum Db {
    Rw(Database),
    Ro(ReadOnlyDatabase),
}

/// An open vault.
pub struct Vault {
    pub(crate) db: Db,
    pub(crate) path: PathBuf,
    pub(crate) actor: ActorId,
    pub(crate) lock_timeout: Duration,
    /// Set when a commit of this handle left the file much larger than at the last space check
    /// (`meta["space_checked"]`): the file is checked, and compacted if sparse, when the handle
    /// is dropped ([`Vault::keep_compact`]).
    pub(crate) grown: std::sync::atomic::AtomicBool,
}

impl Drop for Vault {
    /// Keeps the file compact as part of normal operation: after the last write of a process
    /// (a command, a builder) that grew the file by half since the last check. A compaction
    /// that cannot run now is skipped; the file stays valid.
    fn drop(&mut self) {
        if self.grown.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = self.keep_compact();
        }
    }
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

    /// redb's settings for a handle that reads only (`read_only`) or also writes. redb fills
    /// its cache lazily, so the cap costs memory only to a handle that touches that many pages.
    pub(crate) fn builder_for(read_only: bool) -> Builder {
        let mut builder = Builder::new();
        builder.set_concurrency_mode(ConcurrencyMode::MultiWriter);
        builder.set_cache_size(cache_bytes(read_only));
        builder
    }

    pub(crate) fn builder() -> Builder {
        Self::builder_for(false)
    }

    pub(crate) fn open_mode(path: &Path, read_only: bool) -> Result<Vault> {
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
            match Self::builder_for(true).open_read_only(path) {
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
            grown: Default::default(),
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
            if format == 11 && FORMAT_VERSION == 12 {
                // 11 -> 12 changed only `ix_received`: rebuild that table alone (a full
                // reindex of a large vault takes about a minute). A later format that changes
                // another table takes the full reindex below.
                vault.migrate_received_rows()?;
            } else {
                // Formats 1 to 3 lack derived tables of format 4 (ix_due values, tombstones):
                // rebuilding the derived tables is that part of the migration, and records the
                // current format in the same transaction.
                vault.reindex(&mut |_, _| {})?;
            }
        }
        Ok(vault)
    }

    /// Creates a new vault atomically: it is built and initialised under a temporary name, then
    /// hard-linked into place (which never replaces an existing file), so no process ever sees
    /// a half-created vault. If another process won the race, its vault is used.
    pub(crate) fn create_new(path: &Path) -> Result<()> {
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
    pub(crate) fn empty_in_memory(path: &Path) -> Result<Vault> {
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
            grown: Default::default(),
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

    pub(crate) fn check_header(&mut self) -> Result<u32> {
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

    pub(crate) fn begin_read(&self) -> Result<ReadTransaction> {
        match &self.db {
            Db::Rw(db) => db.begin_read(),
            Db::Ro(db) => db.begin_read(),
        }
        .map_err(|e| map_redb(&self.path, e))
    }

    pub(crate) fn begin_write(&self) -> Result<WriteTransaction> {
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
        crate::notify::committed(&self.path);
        self.note_growth();
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
    pub(crate) fn migrate_competing_maps(&self, format: u32) -> Result<u64> {
        self.write(0, |w| {
            let ids: Vec<Id> = {
                let t = w.txn.open_table(DOCS).map_err(|e| w.e(e))?;
                let mut v = Vec::new();
                for r in t.iter().map_err(|e| w.e(e))? {
                    v.push(*r.map_err(|e| w.e(e))?.0.value());
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
pub(crate) fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(StoreError::Corrupt(
            path.to_path_buf(),
            "the storage engine found inconsistent data".into(),
        ))
    })
}

pub(crate) fn problem_text(e: &StoreError) -> String {
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
                        Self::builder_for(true)
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
            grown: Default::default(),
        };
        let format = match guarded(path, || vault.check_header()) {
            Ok(f) => f,
            Err(e @ StoreError::Corrupt(..)) => {
                rep.problems.push(format!("file: {}", problem_text(&e)));
                return Ok(rep);
            }
            Err(e) => return Err(e),
        };
        // Every document loads.
        let docs = guarded(path, || {
            let r = vault.begin_read()?;
            let docs = r.open_table(DOCS).map_err(|e| map_redb(path, e))?;
            let chunks = r.open_table(CHUNKS).map_err(|e| map_redb(path, e))?;
            let mut found = Vec::new();
            for row in docs.iter().map_err(|e| map_redb(path, e))? {
                let (k, v) = row.map_err(|e| map_redb(path, e))?;
                let id = DocId(*k.value());
                // Ok(None): a document of no kind this version knows (the tombstone document,
                // or one written by a newer kith), stored and synced as is.
                let kind =
                    dec::<DocMeta>(v.value(), "document metadata").map(|m| Kind::from_code(m.kind));
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
                        (Ok(k), Ok(())) => {
                            let name = match k {
                                Some(k) => k.as_str(),
                                None if id == kith_core::tombstones::TOMBSTONES_DOC => "tombstones",
                                None => "other",
                            };
                            *rep.documents.entry(name.to_string()).or_insert(0) += 1;
                        }
                        (Err(_), _) => {
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
        } else if format < FORMAT_VERSION {
            // The derived tables are those of the older format (some may not exist yet): the
            // migration, not `check`, rebuilds them.
            rep.skipped.push(older_format(format));
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

/// The note of `kith check` on a vault of an older format: its indexes are not compared, and
/// how to upgrade it.
pub(crate) fn older_format(format: u32) -> String {
    format!(
        "the index comparison: the vault is in format {format}, older than this kith's format {FORMAT_VERSION}; any other command upgrades it when it opens it (e.g. `kith list`), and `kith check` then compares its indexes"
    )
}

/// Writes the `meta` entries and every table of a new vault (errors name `p`).
pub(crate) fn init_vault(db: &Database, p: &Path) -> Result<()> {
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
pub(crate) fn check_home(vault: &Path) -> Result<()> {
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
pub(crate) fn set_private(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
pub(crate) fn set_private(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Size of the vault file in bytes.
pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
