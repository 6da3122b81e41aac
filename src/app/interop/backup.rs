//! `kith backup` and `kith restore`.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use automerge::AutoCommit;
use kith_core::model::{self};
use kith_core::{DocId, Kind};
use serde::Serialize;

use super::read_error;
use crate::app::{App, AppError, Result};
use crate::store::map_io;

/// First bytes of a backup file; the format is described in docs/export-format.md.
pub const BACKUP_MAGIC: &[u8; 12] = b"kith-backup\n";
const BACKUP_VERSION: u32 = 1;
/// The largest document a backup may hold (a bound on what restore allocates).
const MAX_BACKUP_DOC: u32 = 256 << 20;

/// The result of `kith backup` / `kith restore` (also their `--json` schema).
#[derive(Debug, Serialize)]
pub struct BackupSummary {
    pub documents: u64,
    pub bytes: u64,
}

fn fnv(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h = (*h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
}

impl App {
    /// Writes every document (as a compact Automerge save) from one read transaction into
    /// `file`, atomically (a temporary file renamed into place).
    pub fn backup(&self, file: &Path) -> Result<BackupSummary> {
        let r = self.vault.read()?;
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = crate::atomic::AtomicFile::create(file).map_err(|e| map_io(&dir, e))?;
        let mut out = std::io::BufWriter::new(tmp);
        let werr = |e: std::io::Error| AppError::from(map_io(file, e));
        out.write_all(BACKUP_MAGIC).map_err(werr)?;
        out.write_all(&BACKUP_VERSION.to_le_bytes()).map_err(werr)?;
        let mut all: Vec<(DocId, Kind)> = Vec::new();
        for kind in Kind::ALL {
            all.extend(r.ids_of_kind(kind)?.into_iter().map(|id| (id, kind)));
        }
        all.sort();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut bytes = 0u64;
        for (id, kind) in &all {
            let Some(mut doc) = r.load(*id)? else {
                continue;
            };
            let data = doc.save();
            let mut head = Vec::with_capacity(21);
            head.push(kind.code());
            head.extend_from_slice(&id.0);
            head.extend_from_slice(&(data.len() as u32).to_le_bytes());
            fnv(&mut h, &head);
            fnv(&mut h, &data);
            out.write_all(&head).map_err(werr)?;
            out.write_all(&data).map_err(werr)?;
            bytes += data.len() as u64;
        }
        out.write_all(&[0]).map_err(werr)?;
        out.write_all(&(all.len() as u64).to_le_bytes())
            .map_err(werr)?;
        out.write_all(&h.to_le_bytes()).map_err(werr)?;
        let tmp = out.into_inner().map_err(|e| werr(e.into_error()))?;
        tmp.commit().map_err(werr)?;
        Ok(BackupSummary {
            documents: all.len() as u64,
            bytes,
        })
    }

    /// Restores a backup into this (empty) vault in one write transaction; a restore of many
    /// documents then keeps the file compact ([`super::COMPACT_AFTER`]).
    pub fn restore(&mut self, file: &Path) -> Result<BackupSummary> {
        if !file.exists() {
            return Err(AppError::user(format!(
                "cannot read {}: no such file",
                file.display()
            )));
        }
        let s = self.restore_txn(file)?;
        if s.documents >= super::COMPACT_AFTER as u64 {
            self.keep_compact();
        }
        Ok(s)
    }

    fn restore_txn(&self, file: &Path) -> Result<BackupSummary> {
        let counts = self.vault.read()?.counts()?;
        let n: u64 = counts.values().sum();
        if n > 0 {
            return Err(AppError::hint(
                format!(
                    "{} already holds {n} documents; restore only fills an empty home",
                    self.home.display()
                ),
                "restore into a new home (--home DIR or KITH_HOME), or move the vault away first",
            ));
        }
        let f = std::fs::File::open(file).map_err(|e| read_error(file, e))?;
        let mut r = BufReader::new(f);
        let bad = |why: &str| {
            AppError::hint(
                format!("{} is not a usable kith backup: {why}", file.display()),
                "nothing was restored; check the file (kith backup FILE writes one)",
            )
        };
        let mut magic = [0u8; 12];
        r.read_exact(&mut magic)
            .map_err(|_| bad("no backup header"))?;
        if &magic != BACKUP_MAGIC {
            return Err(bad("no backup header"));
        }
        let mut v = [0u8; 4];
        r.read_exact(&mut v).map_err(|_| bad("truncated"))?;
        if u32::from_le_bytes(v) != BACKUP_VERSION {
            return Err(bad("written by a newer kith"));
        }
        self.vault.write(self.now(), |w| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            let mut count = 0u64;
            let mut bytes = 0u64;
            loop {
                let mut k = [0u8; 1];
                r.read_exact(&mut k).map_err(|_| bad("truncated"))?;
                if k[0] == 0 {
                    let mut tail = [0u8; 16];
                    r.read_exact(&mut tail).map_err(|_| bad("truncated"))?;
                    let want_count = u64::from_le_bytes(tail[..8].try_into().expect("8"));
                    let want_hash = u64::from_le_bytes(tail[8..].try_into().expect("8"));
                    if want_count != count || want_hash != h {
                        return Err(bad("checksum mismatch"));
                    }
                    break;
                }
                let kind = Kind::from_code(k[0]).ok_or_else(|| bad("unknown record"))?;
                let mut head = [0u8; 20];
                r.read_exact(&mut head).map_err(|_| bad("truncated"))?;
                let id = DocId(head[..16].try_into().expect("16"));
                let len = u32::from_le_bytes(head[16..].try_into().expect("4"));
                if len > MAX_BACKUP_DOC {
                    return Err(bad("a document is implausibly large"));
                }
                let mut data = vec![0u8; len as usize];
                r.read_exact(&mut data).map_err(|_| bad("truncated"))?;
                fnv(&mut h, &k);
                fnv(&mut h, &head);
                fnv(&mut h, &data);
                let mut l = w.create_with_id(id);
                let actor = l.doc.get_actor().clone();
                let doc = AutoCommit::load(&data).map_err(|_| bad("a document is damaged"))?;
                l.doc = doc.with_actor(actor);
                if model::doc_kind(&l.doc) != Some(kind) {
                    return Err(bad("a document's kind does not match"));
                }
                w.save(l)?;
                count += 1;
                bytes += len as u64;
            }
            Ok(BackupSummary {
                documents: count,
                bytes,
            })
        })
    }
}
