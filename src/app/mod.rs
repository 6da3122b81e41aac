//! Use cases: what each kith command does to the vault, independent of how it is shown.
//!
//! Invariants: one user command is one write transaction (all or nothing); nothing here prints
//! or reads the environment: the CLI passes the home, the time and the user's input in, and
//! renders what comes back. User mistakes come back as `AppError::User` with a hint.

mod clock;
pub mod daemon;
pub mod devices;
pub mod intro;
pub mod intro_relay;
pub mod pairing;
pub mod persons;
pub mod share;
pub mod slices;
pub mod sync;

// Use cases by concern; their names are re-exported so `crate::app::X` paths stay as they were.
mod conflicts;
mod contacts;
mod due;
mod edit;
pub mod interop;
mod items;
mod search;
mod set;
pub use clock::Clock;
pub use conflicts::*;
pub use contacts::*;
pub use due::*;
pub use edit::*;
pub use items::*;
pub use search::*;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kith_core::index::{ContactSummary, ItemSummary};
use kith_core::model::{self, Conflict, Contact, Interaction, Labeled, Link, Note, Reminder, Role};
use kith_core::text;
use kith_core::time::{Date, Span};
use kith_core::{DocId, Kind};
use serde::Serialize;

use crate::store::{decode_contact, EncodedContacts, Reader, StoreError, Vault};

/// An error of a use case.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The user asked for something that cannot be done: exit 1.
    #[error("{msg}")]
    User { msg: String, hint: Option<String> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppError {
    pub fn user(msg: impl Into<String>) -> Self {
        AppError::User {
            msg: msg.into(),
            hint: None,
        }
    }
    pub fn hint(msg: impl Into<String>, hint: impl Into<String>) -> Self {
        AppError::User {
            msg: msg.into(),
            hint: Some(hint.into()),
        }
    }
    pub fn hint_text(&self) -> Option<String> {
        match self {
            AppError::User { hint, .. } => hint.clone(),
            AppError::Store(e) => e.hint(),
        }
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// The open vault and the clock its use cases read.
pub struct App {
    pub vault: Vault,
    pub home: PathBuf,
    /// Read on every call of [`App::now`] and [`App::today`], so a long-lived `App` (daemon,
    /// web server) sees the time move.
    pub clock: Clock,
}

impl App {
    pub fn new(vault: Vault, home: PathBuf, clock: Clock) -> Self {
        App { vault, home, clock }
    }

    /// Milliseconds since the epoch, read now.
    pub fn now(&self) -> i64 {
        self.clock.read().0
    }

    /// The user's local date, read now.
    pub fn today(&self) -> Date {
        self.clock.read().1
    }
}

pub fn vault_path(home: &Path) -> PathBuf {
    home.join("vault.redb")
}

// ---------------------------------------------------------------------------------------------
// Resolving references.

/// Resolves REF to a contact: an id prefix, an exact email, an exact name (case- and
/// accent-insensitive), or else a unique name whose words start with the words given.
/// Merged contacts resolve to the contact they were merged into.
pub fn resolve_contact(r: &Reader, reference: &str) -> Result<DocId> {
    let q = reference.trim();
    if q.is_empty() {
        return Err(AppError::user("empty contact reference"));
    }
    let lower = q.to_lowercase();
    let mut tier1: BTreeSet<DocId> = BTreeSet::new();
    if lower.len() >= 4 && kith_core::id::is_hex_prefix(&lower) {
        for (id, kind) in r.ids_with_prefix(&lower, 50)? {
            if kind == Kind::Contact {
                tier1.insert(id);
            }
        }
    }
    if q.contains('@') {
        tier1.extend(r.by_email(&lower)?);
    }
    let folded = text::fold(q);
    tier1.extend(r.by_name(&folded)?);
    let candidates: BTreeSet<DocId> = if !tier1.is_empty() {
        tier1
    } else {
        // Names whose words start with the words given; failing that, email prefixes.
        let words: Vec<String> = text::terms(q);
        let mut by_name = BTreeSet::new();
        let mut by_email = BTreeSet::new();
        if !words.is_empty() {
            for (id, s) in r.contacts()? {
                if !s.merged_into.is_empty() {
                    continue;
                }
                let name_words = text::terms(&s.name);
                if words
                    .iter()
                    .all(|w| name_words.iter().any(|n| n.starts_with(w.as_str())))
                {
                    by_name.insert(id);
                } else if !s.email.is_empty() && s.email.to_lowercase().starts_with(&lower) {
                    by_email.insert(id);
                }
            }
        }
        if by_name.is_empty() {
            by_email
        } else {
            by_name
        }
    };
    // Follow merges to the survivor.
    let mut resolved: BTreeSet<DocId> = BTreeSet::new();
    for id in candidates {
        resolved.insert(follow_merge(r, id)?);
    }
    match resolved.len() {
        1 => Ok(*resolved.iter().next().expect("one")),
        0 => {
            let all = r.contacts()?;
            let names: Vec<&str> = all.iter().map(|(_, s)| s.name.as_str()).collect();
            let close = text::closest(q, &names, 5);
            if close.is_empty() {
                Err(AppError::hint(
                    format!("no contact matches '{q}'"),
                    "list contacts with `kith list`, or add one with `kith add NAME`",
                ))
            } else {
                Err(AppError::hint(
                    format!("no contact matches '{q}'"),
                    format!("did you mean: {}?", close.join(", ")),
                ))
            }
        }
        n => {
            let mut lines = Vec::new();
            for id in resolved.iter().take(10) {
                let s = r.contact(*id)?.unwrap_or_default();
                let extra = if s.email.is_empty() {
                    s.org.clone()
                } else {
                    s.email.clone()
                };
                lines.push(format!(
                    "{} {}{}",
                    id.short(),
                    s.name,
                    if extra.is_empty() {
                        String::new()
                    } else {
                        format!(" <{extra}>")
                    }
                ));
            }
            Err(AppError::hint(
                format!("'{q}' matches {n} contacts: {}", lines.join("; ")),
                "use more of the name, an email, or an id prefix",
            ))
        }
    }
}

fn follow_merge(r: &Reader, id: DocId) -> Result<DocId> {
    Ok(follow_merge_by(|i| r.contact(i), id)?.0)
}

/// Follows `merged_into` links from contact `id` (at most 16 hops, so a cycle ends): the
/// contact it ends at, and whether that contact exists. The one place this rule lives; reads
/// through `contact`, so it works in a read or a write transaction.
pub(crate) fn follow_merge_by(
    mut contact: impl FnMut(DocId) -> Result<Option<ContactSummary>, StoreError>,
    mut id: DocId,
) -> Result<(DocId, bool)> {
    for _ in 0..16 {
        match contact(id)? {
            Some(s) if !s.merged_into.is_empty() => match s.merged_into.parse() {
                Ok(next) => id = next,
                Err(_) => return Ok((id, true)),
            },
            Some(_) => return Ok((id, true)),
            None => return Ok((id, false)),
        }
    }
    Ok((id, contact(id)?.is_some()))
}

/// Resolves a reference to a reminder: an id prefix of a reminder (at least 4 hex digits), or
/// text that occurs in exactly one open reminder.
pub fn resolve_reminder(r: &Reader, reference: &str, today: Date) -> Result<DocId> {
    let q = reference.trim().to_lowercase();
    if q.is_empty() {
        return Err(AppError::user("empty reminder reference"));
    }
    let mut found: Vec<DocId> = Vec::new();
    if q.len() >= 4 && kith_core::id::is_hex_prefix(&q) {
        found = r
            .ids_with_prefix(&q, 20)?
            .into_iter()
            .filter(|(_, k)| *k == Kind::Reminder)
            .map(|(i, _)| i)
            .collect();
    }
    if found.is_empty() {
        let folded = text::fold(&q);
        for (_, id, entry) in r.reminders_due_entries(today.to_days().saturating_add(365 * 100))? {
            if text::fold(&entry.snippet).contains(&folded) {
                found.push(id);
            }
        }
    }
    if found.is_empty() {
        if let Some((id, text)) = done_reminder_matching(r, &q)? {
            return Err(AppError::hint(
                format!(
                    "reminder {} is already done: {text}; nothing changed",
                    id.short()
                ),
                format!(
                    "to reopen it, `kith edit {}` and set 'done: no'",
                    id.short()
                ),
            ));
        }
    }
    match found.len() {
        1 => Ok(found[0]),
        0 => Err(AppError::hint(
            format!("no reminder matches '{reference}'"),
            "`kith due --within 1y` lists open reminders with their ids",
        )),
        n => Err(AppError::hint(
            format!("'{reference}' matches {n} reminders"),
            "use the reminder's id prefix from `kith due`",
        )),
    }
}

/// The one done reminder whose text contains `q` (found through the full-text index), so
/// `kith done TEXT` on a finished reminder can say so.
fn done_reminder_matching(r: &Reader, q: &str) -> Result<Option<(DocId, String)>> {
    let words = text::terms(q);
    let folded = text::fold(q);
    let mut acc: Option<BTreeSet<u32>> = None;
    for w in &words {
        let ords: BTreeSet<u32> = r.postings_prefix(w)?.into_keys().collect();
        acc = Some(match acc {
            None => ords,
            Some(prev) => prev.intersection(&ords).copied().collect(),
        });
    }
    let mut found = Vec::new();
    for ord in acc.unwrap_or_default() {
        let Some(id) = r.id_of_ord(ord)? else {
            continue;
        };
        if let Some(item) = r.item(id)? {
            if item.kind == Kind::Reminder
                && item.done
                && text::fold(&item.snippet).contains(&folded)
            {
                found.push((id, item.snippet));
            }
        }
    }
    Ok(if found.len() == 1 { found.pop() } else { None })
}

// ---------------------------------------------------------------------------------------------
// Validation helpers.

/// A new reminder is for today or later: `--on yesterday` is almost certainly a mistake.
/// (`App::remind` itself accepts any date: an import or a test may set an overdue reminder.)
pub fn check_reminder_date(due: Date, today: Date) -> Result<()> {
    if due < today {
        return Err(AppError::hint(
            format!("the reminder's date {due} is in the past (today is {today}); nothing was saved"),
            "give today or a later date (--on today, --in 3d); to record something that happened, use `kith log`",
        ));
    }
    Ok(())
}

pub fn parse_span(s: &str) -> Result<Span> {
    s.parse::<Span>().map_err(|e| AppError::user(e.to_string()))
}

pub fn parse_date(s: &str, today: Date) -> Result<Date> {
    kith_core::time::parse_date(s, today).map_err(|e| AppError::user(e.to_string()))
}

pub fn parse_partial_date(s: &str) -> Result<String> {
    s.trim()
        .parse::<kith_core::time::PartialDate>()
        .map(|d| d.to_string())
        .map_err(|e| AppError::user(e.to_string()))
}

pub fn check_email(e: &str) -> Result<String> {
    let e = e.trim();
    let ok = e.len() >= 3
        && e.contains('@')
        && !e.starts_with('@')
        && !e.ends_with('@')
        && !e.chars().any(char::is_whitespace);
    if ok {
        Ok(e.to_string())
    } else {
        Err(AppError::hint(
            format!("'{e}' is not an email address"),
            "an email looks like name@example.com",
        ))
    }
}

pub fn check_name(n: &str) -> Result<String> {
    let n = n.trim();
    if n.is_empty() {
        return Err(AppError::hint(
            "a contact needs a name",
            "give a non-empty NAME",
        ));
    }
    if n.chars().any(|c| c.is_control()) {
        return Err(AppError::user("a name cannot contain control characters"));
    }
    Ok(n.to_string())
}

/// A new entry key: sorts by creation time, unique with overwhelming probability.
pub fn entry_key(now: i64) -> String {
    let r: u32 = rand::random();
    format!("{:011x}{:08x}", now.max(0), r)
}

// ---------------------------------------------------------------------------------------------
// Planned interactions.
//
// An interaction dated after today is a planned one (`kith log --planned`). The derived
// `ix_last_contact` holds the newest interaction whatever its date (the index has no clock), so
// readers correct it: while that day is after today, the last contact is the newest interaction
// on or before today. A planned meeting thus resets the keep-in-touch clock on its date, with
// no write needed then.

/// The last-contact day as of `today`, given the indexed one (the newest interaction).
pub fn last_contact_as_of(
    r: &Reader,
    contact: DocId,
    indexed: Option<i32>,
    today: i32,
) -> Result<Option<i32>> {
    match indexed {
        Some(d) if d > today => {
            for (id, kind) in r.timeline(contact)? {
                if kind != Kind::Interaction {
                    continue;
                }
                if let Some(s) = r.item(id)? {
                    if s.day <= today {
                        return Ok(Some(s.day));
                    }
                }
            }
            Ok(None)
        }
        d => Ok(d),
    }
}

/// `kith log` dates: a future date only for a planned interaction, and a planned one only in
/// the future.
pub fn check_interaction_date(on: Date, today: Date, planned: bool) -> Result<()> {
    if on > today && !planned {
        return Err(AppError::hint(
            format!("the interaction's date {on} is in the future (today is {today}); nothing was saved"),
            "for a meeting you plan, add --planned (it counts as contact from its date on); to be reminded, use `kith remind`",
        ));
    }
    if planned && on <= today {
        return Err(AppError::hint(
            format!("--planned needs a date after today, not {on}; nothing was saved"),
            "leave out --planned to log what already happened",
        ));
    }
    Ok(())
}

pub fn clean_tags(tags: &[String]) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for t in tags {
        for t in t.split(',') {
            let t = t.trim().trim_start_matches('+').trim();
            if t.is_empty() {
                continue;
            }
            if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(AppError::hint(
                    format!("'{t}' is not a tag"),
                    "tags are single words, like client or ml-2024",
                ));
            }
            out.insert(t.to_lowercase());
        }
    }
    Ok(out)
}

/// Refuses a text longer than `kith_core::text::MAX_TEXT_BYTES` (1 MiB).
pub fn check_text_size(what: &str, text: &str) -> Result<()> {
    let max = kith_core::text::MAX_TEXT_BYTES;
    if text.len() > max {
        return Err(AppError::hint(
            format!(
                "{what} is {:.1} MiB; kith stores at most {} MiB per text; nothing was saved",
                text.len() as f64 / (1 << 20) as f64,
                max >> 20
            ),
            "keep long documents in files and note where they are",
        ));
    }
    Ok(())
}

pub fn am_err(e: automerge::AutomergeError) -> AppError {
    AppError::Store(StoreError::Internal(format!("automerge: {e}")))
}

/// What `edit` and `rm` act on: a contact or an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Contact(DocId),
    Item(DocId, Kind),
}

/// Resolves REF for `edit` and `rm`: an id prefix (at least 4 hex digits) of a note,
/// interaction or reminder, or else a contact reference as for [`resolve_contact`].
pub fn resolve_target(r: &Reader, reference: &str) -> Result<Target> {
    let q = reference.trim().to_lowercase();
    let mut items = Vec::new();
    if q.len() >= 4 && kith_core::id::is_hex_prefix(&q) {
        items = r
            .ids_with_prefix(&q, 20)?
            .into_iter()
            .filter(|(_, k)| matches!(k, Kind::Note | Kind::Interaction | Kind::Reminder))
            .collect::<Vec<_>>();
    }
    if items.is_empty() {
        return resolve_contact(r, reference).map(Target::Contact);
    }
    let contact = resolve_contact(r, reference).ok();
    match (items.len(), contact) {
        (1, None) => Ok(Target::Item(items[0].0, items[0].1)),
        (n, c) => {
            let mut what: Vec<String> = items
                .iter()
                .take(5)
                .map(|(i, k)| format!("{} {}", k.as_str(), i.short()))
                .collect();
            if let Some(c) = c {
                what.insert(0, format!("contact {}", c.short()));
            }
            Err(AppError::hint(
                format!(
                    "'{reference}' matches {} documents: {}",
                    n + usize::from(c.is_some()),
                    what.join(", ")
                ),
                "give more digits of the id",
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rules shared by the CLI and the web UI's forms.

/// A phone number as stored (trimmed), or an error naming it.
pub fn check_phone(p: &str) -> Result<String> {
    let p = p.trim();
    if p.is_empty() || kith_core::index::phone_key(p).is_empty() {
        return Err(AppError::user(format!("'{p}' is not a phone number")));
    }
    Ok(p.to_string())
}

/// An interaction kind as stored (one lowercase word).
pub fn check_interaction_kind(kind: &str) -> Result<String> {
    let kind = kind.trim().to_lowercase();
    if kind.is_empty() || kind.chars().any(char::is_whitespace) {
        return Err(AppError::hint(
            format!("'{kind}' is not an interaction kind"),
            format!("use one of {}", model::INTERACTION_KINDS.join(", ")),
        ));
    }
    Ok(kind)
}
