//! vCard export and what every streamed export shares: which contacts it covers and the
//! ordered two-thread pipeline.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use kith_core::interop::map::{self};
use kith_core::interop::{write_vcard, WriteVersion};
use kith_core::model::{self};
use kith_core::{DocId, Kind};
use serde::Serialize;

use crate::app::{App, AppError, ListQuery, Result};
use crate::store::{map_io, Reader, StoreError};

/// Which contacts an export covers: like `kith list` (not archived, not merged), filtered.
#[derive(Debug, Default, Clone)]
pub struct ExportFilter {
    pub tags: Vec<String>,
    pub org: Option<String>,
}

/// The formats of `kith export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Vcard,
    Json,
    Markdown,
}

/// What an export was asked for (by `kith export` or the web UI).
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub format: ExportFormat,
    /// vCard 3.0 instead of 4.0.
    pub vcard3: bool,
    pub filter: ExportFilter,
    /// The directory of a Markdown export (it writes one file per contact).
    pub dir: Option<PathBuf>,
}

/// The rules of an export request, checked before any output is opened: `vcard3` only for
/// vCard, no filter for JSON (it is the whole vault), a directory for Markdown.
pub fn check_export(req: &ExportRequest) -> Result<()> {
    if req.vcard3 && req.format != ExportFormat::Vcard {
        return Err(AppError::user("--vcard3 only applies to --format vcard"));
    }
    if req.format == ExportFormat::Json && (!req.filter.tags.is_empty() || req.filter.org.is_some())
    {
        return Err(AppError::hint(
            "--format json exports the whole vault; --tag and --org do not apply",
            "use --format vcard or markdown for a filtered export",
        ));
    }
    if req.format == ExportFormat::Markdown && req.dir.is_none() {
        return Err(AppError::hint(
            "--format markdown writes one file per contact and needs a directory",
            "add -o DIR",
        ));
    }
    Ok(())
}

impl App {
    /// Runs an export request: vCard and JSON stream into `out` (`dest` names it in errors),
    /// Markdown writes its directory. Returns the number of contacts (0 for JSON).
    pub fn export(&self, req: &ExportRequest, out: &mut dyn Write, dest: &Path) -> Result<usize> {
        check_export(req)?;
        match req.format {
            ExportFormat::Vcard => {
                let version = if req.vcard3 {
                    WriteVersion::V3_0
                } else {
                    WriteVersion::V4_0
                };
                self.export_vcard_to(&req.filter, version, out, dest)
            }
            ExportFormat::Json => self.export_json_to(out, dest).map(|()| 0),
            ExportFormat::Markdown => {
                let dir = req.dir.as_deref().expect("checked by check_export");
                self.export_markdown(&req.filter, dir)
            }
        }
    }
}

#[derive(Serialize)]
pub(super) struct WithId<T> {
    pub(super) id: DocId,
    #[serde(flatten)]
    pub(super) doc: T,
}

/// Runs `f` over `items` on two threads and hands the results to `sink` in input order, so the
/// output is the same as a sequential loop's. Memory is bounded: each worker runs at most
/// [`WINDOW`] items ahead of the sink. An error from `sink` stops the workers.
pub(super) fn par_ordered<I: Sync, T: Send>(
    items: &[I],
    f: impl Fn(&I) -> T + Sync,
    mut sink: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    const WORKERS: usize = 2;
    const WINDOW: usize = 64;
    if items.len() < 2 * WINDOW {
        for i in items {
            sink(f(i))?;
        }
        return Ok(());
    }
    std::thread::scope(|s| {
        let mut rxs = Vec::with_capacity(WORKERS);
        for w in 0..WORKERS {
            let (tx, rx) = std::sync::mpsc::sync_channel(WINDOW);
            rxs.push(rx);
            let f = &f;
            s.spawn(move || {
                for item in items.iter().skip(w).step_by(WORKERS) {
                    if tx.send(f(item)).is_err() {
                        break; // the sink stopped
                    }
                }
            });
        }
        for i in 0..items.len() {
            let Ok(t) = rxs[i % WORKERS].recv() else {
                return Err(AppError::Store(StoreError::Internal(
                    "an export worker stopped".into(),
                )));
            };
            sink(t)?; // on error, dropping the receivers stops the workers
        }
        Ok(())
    })
}

/// The vCard of one exported contact: its UID (kith's export UID when it has none), its
/// notes (oldest first) and its links naming their target's UID.
fn vcard_of(r: &Reader, id: DocId, version: WriteVersion) -> Result<Option<String>> {
    let Some(doc) = r.load(id)? else {
        return Ok(None);
    };
    let c = model::read_contact(&doc);
    let mut uids: HashMap<String, String> = HashMap::new();
    for l in c.links.values() {
        if uids.contains_key(&l.to) {
            continue;
        }
        let uid = match l.to.parse::<DocId>() {
            Ok(t) => match r.load(t)? {
                Some(td) => {
                    let tu = model::read_contact(&td).uid;
                    if tu.is_empty() {
                        map::kith_uid(&t)
                    } else {
                        tu
                    }
                }
                None => map::kith_uid(&t),
            },
            Err(_) => l.to.clone(),
        };
        uids.insert(l.to.clone(), uid);
    }
    let mut notes: Vec<(i64, DocId, String)> = Vec::new();
    for (nid, kind) in r.timeline(id)? {
        if kind == Kind::Note {
            if let Some(nd) = r.load(nid)? {
                let n = model::read_note(&nd);
                notes.push((n.created, nid, n.body));
            }
        }
    }
    notes.sort();
    let bodies: Vec<String> = notes.into_iter().map(|n| n.2).collect();
    let link_uid = |hex: &str| uids.get(hex).cloned().unwrap_or_else(|| hex.to_string());
    let mut card = map::contact_to_card_with(&c, &bodies, &link_uid);
    if card.uid.is_none() {
        card.uid = Some(map::kith_uid(&id));
    }
    Ok(Some(write_vcard(&card, version)))
}

impl App {
    pub(super) fn export_ids(&self, f: &ExportFilter) -> Result<Vec<DocId>> {
        let mut buf = Default::default();
        let rows = self.list(
            &ListQuery {
                tags: f.tags.clone(),
                org: f.org.clone(),
                ..Default::default()
            },
            &mut buf,
        )?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Every selected contact as vCard 4.0 (or 3.0), in `kith list` order (name, then id),
    /// written to `out` card by card (`dest` names it in errors). Each card carries the
    /// contact's UID (kith's export UID, [`map::kith_uid`], when it has none) and kith's own
    /// fields as `X-KITH-*` properties; links name their target's UID. Cards are built on two
    /// threads and written in order; memory holds a window of cards, never the export.
    /// Returns the number of contacts.
    pub fn export_vcard_to(
        &self,
        f: &ExportFilter,
        version: WriteVersion,
        out: &mut dyn Write,
        dest: &Path,
    ) -> Result<usize> {
        let ids = self.export_ids(f)?;
        let r = self.vault.read()?;
        par_ordered(
            &ids,
            |id| vcard_of(&r, *id, version),
            |card| {
                if let Some(card) = card? {
                    out.write_all(card.as_bytes())
                        .map_err(|e| AppError::from(map_io(dest, e)))?;
                }
                Ok(())
            },
        )?;
        Ok(ids.len())
    }

    /// [`App::export_vcard_to`] into a string.
    pub fn export_vcard(&self, f: &ExportFilter, version: WriteVersion) -> Result<(usize, String)> {
        let mut out = Vec::new();
        let n = self.export_vcard_to(f, version, &mut out, Path::new("memory"))?;
        Ok((n, String::from_utf8(out).expect("vCards are UTF-8")))
    }
}
