//! Interop use cases: import (vCard, Google/LinkedIn CSV), export (vCard, JSON, Markdown),
//! merging two contacts, backup and restore.
//!
//! Invariants:
//! - Import reads every input line by line with a hard cap ([`LINE_CAP`]), so memory is bounded
//!   by one card, never by the file; the whole import is one write transaction: either every
//!   valid card lands or (on an invalid card without `--skip-invalid`, or `--dry-run`) nothing.
//! - Re-importing the same input changes nothing: a card matches its contact by UID, else by
//!   email or phone only when the names agree (`kith_core::interop::dedup::same_name`: two
//!   people are never merged), and the merge only adds or changes (`kith_core::interop::map`);
//!   a contact already matched earlier in the same import is only filled in.
//! - Exports are deterministic: the same documents give byte-identical output (no export time).
//! - A backup is one read transaction (a consistent snapshot while other processes write);
//!   restore writes every document in one transaction and only into an empty vault.

mod backup;
mod duplicates;
mod export;
mod import;
mod json;
mod markdown;
mod merge;
mod pipeline;
pub use backup::*;
pub use duplicates::*;
pub use export::*;
pub use import::*;
pub use merge::*;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use kith_core::interop::{vcard::MAX_LINE_BYTES, CardData, PartialDate};
use kith_core::DocId;
use serde::Serialize;

use crate::app::{AppError, Result};
use crate::store::StoreError;

/// The longest physical line import buffers; longer lines are cut here and rejected by the
/// reader ("line longer than ..."), so a 100 MB line costs 1 MiB of memory.
pub const LINE_CAP: usize = MAX_LINE_BYTES + 2;

/// Summary text of a LinkedIn connection, also the interaction it creates.
const LINKEDIN_SUMMARY: &str = "Connected on LinkedIn";

/// Where import reads from.
pub enum Source {
    /// A file, or a directory whose `.vcf`/`.vcard`/`.csv` files are read in name order.
    Path(PathBuf),
    /// Standard input (`-`), as the CLI hands it over.
    Stdin(Box<dyn Read>),
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub skip_invalid: bool,
    pub skip_photos: bool,
}

/// A card that was not imported (or a photo that was not kept), and why.
#[derive(Debug, Serialize, Clone)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
}

/// What happened to one card.
#[derive(Debug, Serialize, Clone)]
pub struct Change {
    pub action: Action,
    pub id: DocId,
    pub name: String,
    pub file: String,
    pub line: usize,
}

/// The result of `kith import` (also its `--json` schema).
#[derive(Debug, Serialize, Default)]
pub struct ImportSummary {
    pub dry_run: bool,
    pub files: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: usize,
    /// Invalid cards (skipped with `--skip-invalid`).
    pub invalid: Vec<Problem>,
    /// Inline photos not kept (over 64 KiB, or `--skip-photos`); the card itself is imported.
    pub photos_skipped: Vec<Problem>,
    /// Cards whose UID belongs to a contact deleted for good: skipped, never re-created.
    pub deleted: Vec<Problem>,
    pub changes: Vec<Change>,
    /// Contacts an earlier card of this import already matched or created: a later card only
    /// fills what they lack, so the outcome does not depend on how often the import runs.
    #[serde(skip)]
    seen: BTreeSet<DocId>,
    /// `X-KITH-LINK`s to resolve once every card is in: contact -> (change index, rel, UID).
    #[serde(skip)]
    pending_links: BTreeMap<DocId, Vec<(usize, String, String)>>,
}

/// Progress of a running import: cards handled and bytes read so far.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub cards: u64,
    pub bytes: u64,
}

/// Why a write transaction stopped: an error, or a dry run that must not commit.
enum Abort {
    Err(AppError),
    Dry(Box<ImportSummary>),
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Self {
        Abort::Err(e.into())
    }
}
impl From<AppError> for Abort {
    fn from(e: AppError) -> Self {
        Abort::Err(e)
    }
}

/// Reads one line (with its `\n`) into `buf`, keeping at most `cap` bytes of it: the rest of an
/// over-long line is read and dropped. Returns false at end of input.
pub fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<bool> {
    buf.clear();
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(any);
        }
        any = true;
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&avail[..take.min(room)]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}

struct Input {
    name: String,
    reader: Box<dyn Read>,
}

fn read_error(path: &Path, e: std::io::Error) -> AppError {
    let what = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    AppError::user(format!("cannot read {}: {what}", path.display()))
}

fn expand(sources: Vec<Source>) -> Result<Vec<Input>> {
    let mut out = Vec::new();
    for s in sources {
        match s {
            Source::Stdin(r) => out.push(Input {
                name: "<stdin>".into(),
                reader: r,
            }),
            Source::Path(p) => {
                let meta = std::fs::metadata(&p).map_err(|e| read_error(&p, e))?;
                let files: Vec<PathBuf> = if meta.is_dir() {
                    let mut files = Vec::new();
                    for entry in std::fs::read_dir(&p).map_err(|e| read_error(&p, e))? {
                        let path = entry.map_err(|e| read_error(&p, e))?.path();
                        let ext = path
                            .extension()
                            .and_then(|e| e.to_str())
                            .map(str::to_ascii_lowercase);
                        if path.is_file() && matches!(ext.as_deref(), Some("vcf" | "vcard" | "csv"))
                        {
                            files.push(path);
                        }
                    }
                    files.sort();
                    if files.is_empty() {
                        return Err(AppError::hint(
                            format!("{} holds no .vcf or .csv file", p.display()),
                            "give the files themselves, or a directory of vCard/CSV exports",
                        ));
                    }
                    files
                } else {
                    vec![p]
                };
                for f in files {
                    let file = std::fs::File::open(&f).map_err(|e| read_error(&f, e))?;
                    out.push(Input {
                        name: f.display().to_string(),
                        reader: Box::new(file),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// One card read from an input, ready to apply.
struct Incoming {
    line: usize,
    card: CardData,
    connected_on: Option<PartialDate>,
}
