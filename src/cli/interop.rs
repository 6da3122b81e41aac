//! Interop commands: import, export, merge, backup, restore.
//!
//! Invariant: handlers only parse, call one use case in `crate::app::interop` and render; the
//! progress line goes to stderr, and only when stderr is a terminal.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};

use super::output::io_err;
use super::{Ctx, Out};
use crate::app::interop::{
    self, Action, ExportFilter, ExportRequest, ImportOptions, Progress, Source,
};
use crate::app::{self, AppError};
use crate::store::map_io;

/// Import contacts. The format (vCard 2.1/3.0/4.0, Google Contacts CSV, LinkedIn
/// Connections.csv, kith's own JSON export) is detected from the content. A card matching an
/// existing contact (by UID, else by email or phone when the names agree too) is merged into
/// it; a shared phone or email alone never merges two people; importing the same file twice
/// changes nothing.
/// All or nothing: any invalid card fails the whole import unless --skip-invalid.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Files, directories of .vcf/.csv files, or - for standard input
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Show what would be created, updated and skipped; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Import the valid cards and list the invalid ones instead of failing
    #[arg(long)]
    pub skip_invalid: bool,
    /// Do not keep photos (by default inline photos up to 64 KiB are kept)
    #[arg(long)]
    pub skip_photos: bool,
}

pub fn import(ctx: &Ctx, a: ImportArgs, out: &mut Out) -> Result<(), AppError> {
    let mut sources = Vec::new();
    let mut stdin_used = false;
    for p in a.paths {
        if p.as_os_str() == "-" {
            if stdin_used {
                return Err(AppError::user("- (standard input) given twice"));
            }
            stdin_used = true;
            sources.push(Source::Stdin(Box::new(std::io::stdin())));
        } else {
            sources.push(Source::Path(p));
        }
    }
    let mut app = ctx.open()?;
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut shown = false;
    let mut progress = |p: Progress| {
        if tty && start.elapsed().as_millis() > 500 {
            eprint!(
                "\rimporting: {} cards, {:.1} MB read",
                p.cards,
                p.bytes as f64 / 1e6
            );
            shown = true;
        }
    };
    let opts = ImportOptions {
        dry_run: a.dry_run,
        skip_invalid: a.skip_invalid,
        skip_photos: a.skip_photos,
    };
    let result = app.import(sources, opts, &mut progress);
    if shown {
        eprintln!();
    }
    let s = result?;
    if ctx.json {
        return out.json(&s).map_err(io_err);
    }
    if s.dry_run {
        for c in &s.changes {
            let what = match c.action {
                Action::Created => "create",
                Action::Updated => "update",
                Action::Unchanged => "unchanged",
            };
            out.line(format!("{what:<9}  {}  {}", c.id.short(), c.name))
                .map_err(io_err)?;
        }
    }
    for p in &s.invalid {
        out.warn(format!("skipped {p}"));
    }
    for p in &s.deleted {
        out.warn(format!("skipped {p}"));
    }
    for p in &s.photos_skipped {
        out.note(format!("note: {p}"));
    }
    out.note(format!(
        "{}{} created, {} updated, {} unchanged, {} skipped",
        if s.dry_run {
            "dry run (nothing written): "
        } else {
            ""
        },
        s.created,
        s.updated,
        s.unchanged,
        s.skipped
    ));
    Ok(())
}

/// The `--format` of `kith export`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Vcard,
    Json,
    Markdown,
}

/// Export. vCard (4.0, or 3.0 with --vcard3) and Markdown cover the contacts `kith list` shows
/// (filtered by --tag/--org); JSON is the whole vault, deterministic (docs/export-format.md).
#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Output file (vcard, json) or directory (markdown; required). Default: standard output
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Write vCard 3.0 instead of 4.0
    #[arg(long)]
    pub vcard3: bool,
    /// Only contacts with this tag or kind (repeat for several)
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only contacts whose organisation contains this text
    #[arg(long)]
    pub org: Option<String>,
}

/// Runs `write` into a temporary file next to `path` and moves it into place only when it
/// succeeded: an export that fails leaves no half-written file.
fn write_output(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = crate::atomic::AtomicFile::create(path).map_err(|e| map_io(&dir, e))?;
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, tmp);
    write(&mut w)?;
    let tmp = w.into_inner().map_err(|e| map_io(path, e.into_error()))?;
    tmp.commit().map_err(|e| map_io(path, e))?;
    Ok(())
}

pub fn export(ctx: &Ctx, a: ExportArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?; // only reads: works on a vault that cannot be written
    let format = match a.format {
        ExportFormat::Vcard => interop::ExportFormat::Vcard,
        ExportFormat::Json => interop::ExportFormat::Json,
        ExportFormat::Markdown => interop::ExportFormat::Markdown,
    };
    let req = ExportRequest {
        format,
        vcard3: a.vcard3,
        filter: ExportFilter {
            tags: a.tags,
            org: a.org,
        },
        dir: (format == interop::ExportFormat::Markdown)
            .then(|| a.output.clone())
            .flatten(),
    };
    interop::check_export(&req)?;
    let stdout = std::path::Path::new("stdout");
    match (&a.output, format) {
        (Some(dir), interop::ExportFormat::Markdown) => {
            let n = app.export(&req, &mut std::io::sink(), stdout)?;
            out.note(format!("{n} contacts written to {}", dir.display()));
        }
        // The file is moved into place only when the export is complete.
        (Some(p), _) => {
            let mut count = 0;
            write_output(p, |w| {
                count = app.export(&req, w, p)?;
                Ok(())
            })?;
            if format == interop::ExportFormat::Vcard {
                out.note(format!("{count} contacts written to {}", p.display()));
            }
        }
        (None, _) => {
            app.export(&req, out.writer(), stdout)?;
        }
    }
    Ok(())
}

/// Merge two contacts that are the same person: the second is folded into the first. Entries
/// are combined, the first's values win where both have one, every note, interaction,
/// reminder and link moves to the first, and the second's id keeps resolving to it.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The contact that stays (id prefix, name or email)
    pub survivor: String,
    /// The contact merged into it
    pub other: String,
}

pub fn merge(ctx: &Ctx, a: MergeArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open()?;
    let (s, o) = {
        let r = app.vault.read()?;
        (
            app::resolve_contact(&r, &a.survivor)?,
            app::resolve_contact(&r, &a.other)?,
        )
    };
    let m = app.merge(s, o)?;
    if ctx.json {
        return out.json(&m).map_err(io_err);
    }
    out.note(format!(
        "merged {} into {} ({} items and {} links moved)",
        m.merged.short(),
        m.survivor.short(),
        m.items,
        m.links
    ));
    out.line(m.survivor.to_hex()).map_err(io_err)
}

/// List contacts that are likely the same person, best first, with the evidence (name
/// similarity, shared emails, phones, organisations) and the `kith merge` commands that would
/// join them. Only proposes: nothing is merged. Different names are never proposed, whatever
/// they share.
#[derive(Args, Debug)]
pub struct DuplicatesArgs {}

fn evidence_text(e: &kith_core::interop::dedup::Evidence) -> String {
    use kith_core::interop::dedup::NameMatch;
    let mut parts = vec![match e.name {
        NameMatch::Same => "same name".to_string(),
        NameMatch::Compatible => "compatible names".to_string(),
        NameMatch::Unknown => "one has no name".to_string(),
        NameMatch::Different => "different names".to_string(),
    }];
    parts.extend(e.emails.iter().map(|x| format!("email {x}")));
    parts.extend(e.phones.iter().map(|x| format!("phone {x}")));
    parts.extend(e.orgs.iter().map(|x| format!("org {x}")));
    parts.join(", ")
}

pub fn duplicates(ctx: &Ctx, _a: DuplicatesArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?;
    let d = app.duplicates()?;
    if ctx.json {
        return out.json(&d).map_err(io_err);
    }
    if d.groups.is_empty() {
        out.note("no likely duplicates");
        return Ok(());
    }
    for (i, g) in d.groups.iter().enumerate() {
        if i > 0 {
            out.line("").map_err(io_err)?;
        }
        out.line(format!(
            "group {} (score {}, {} contacts)",
            i + 1,
            g.score,
            g.contacts.len()
        ))
        .map_err(io_err)?;
        for c in &g.contacts {
            let mut what: Vec<&str> = Vec::new();
            what.extend(c.emails.iter().map(String::as_str));
            what.extend(c.phones.iter().map(String::as_str));
            if !c.org.is_empty() {
                what.push(&c.org);
            }
            out.line(format!(
                "  {}  {}  {}",
                c.id.short(),
                c.name,
                what.join(", ")
            ))
            .map_err(io_err)?;
        }
        for p in &g.pairs {
            out.line(format!(
                "  why: {} ~ {}: {}",
                p.a.short(),
                p.b.short(),
                evidence_text(&p.evidence)
            ))
            .map_err(io_err)?;
        }
        for m in &g.merge {
            out.line(format!("  merge: {m}")).map_err(io_err)?;
        }
    }
    out.note(format!(
        "{} group{} of likely duplicates; review, then run the merge lines you agree with",
        d.groups.len(),
        if d.groups.len() == 1 { "" } else { "s" }
    ));
    Ok(())
}

/// Write a snapshot of every document to FILE. It reads one consistent state, so it is safe
/// while other kith processes use the vault. Restore it with `kith restore FILE`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The backup file to write (replaced atomically if it exists)
    pub file: PathBuf,
}

pub fn backup(ctx: &Ctx, a: BackupArgs, out: &mut Out) -> Result<(), AppError> {
    let app = ctx.open_read()?; // only reads: works on a vault that cannot be written
    let s = app.backup(&a.file)?;
    if ctx.json {
        return out.json(&s).map_err(io_err);
    }
    out.note(format!(
        "backed up {} documents ({} bytes) to {}",
        s.documents,
        s.bytes,
        a.file.display()
    ));
    Ok(())
}

/// Restore a backup written by `kith backup` into an empty home (refuses a non-empty one).
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file
    pub file: PathBuf,
}

pub fn restore(ctx: &Ctx, a: RestoreArgs, out: &mut Out) -> Result<(), AppError> {
    if !a.file.exists() {
        // Checked before opening, so a missing file never creates a home.
        return Err(AppError::user(format!(
            "cannot read {}: no such file",
            a.file.display()
        )));
    }
    let mut app = ctx.open()?;
    let s = app.restore(&a.file)?;
    if ctx.json {
        return out.json(&s).map_err(io_err);
    }
    out.note(format!(
        "restored {} documents into {}",
        s.documents,
        ctx.home.display()
    ));
    Ok(())
}
