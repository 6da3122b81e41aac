//! Use cases: what each kith command does to the vault, independent of how it is shown.
//!
//! Invariants: one user command is one write transaction (all or nothing); nothing here prints
//! or reads the environment: the CLI passes the home, the time and the user's input in, and
//! renders what comes back. User mistakes come back as `AppError::User` with a hint.

pub mod daemon;
pub mod devices;
pub mod pairing;
pub mod persons;
pub mod share;
pub mod sync;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kith_core::index::ItemSummary;
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
    /// Exit code: 1 for what the user can fix, 3 and up for internal failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::User { .. } => 1,
            // A damaged document is damage to the file (exit 1, with a restore hint), not a bug.
            AppError::Store(StoreError::Internal(_)) => 4,
            AppError::Store(_) => 1,
        }
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// The open vault with the current time.
pub struct App {
    pub vault: Vault,
    pub home: PathBuf,
    /// Milliseconds since the epoch.
    pub now: i64,
    /// The user's local date.
    pub today: Date,
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

fn follow_merge(r: &Reader, mut id: DocId) -> Result<DocId> {
    for _ in 0..16 {
        match r.contact(id)? {
            Some(s) if !s.merged_into.is_empty() => match s.merged_into.parse() {
                Ok(next) => id = next,
                Err(_) => return Ok(id),
            },
            _ => return Ok(id),
        }
    }
    Ok(id)
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

// ---------------------------------------------------------------------------------------------
// Contacts.

#[derive(Debug, Default)]
pub struct NewContact {
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub org: Option<String>,
    pub title: Option<String>,
    pub tags: Vec<String>,
    pub kinds: Vec<String>,
    pub met: Option<String>,
    pub every: Option<String>,
    pub nickname: Option<String>,
    pub urls: Vec<String>,
    /// `YYYY-MM-DD` or a year-less `--MM-DD` / `MM-DD`.
    pub birthday: Option<String>,
    /// A note about the new contact, written in the same transaction.
    pub note: Option<String>,
}

pub struct Added {
    pub id: DocId,
    /// Existing contacts that already have one of the new contact's emails.
    pub duplicates: Vec<(String, DocId, String)>,
    /// Existing contacts with the same name (case and accents ignored).
    pub same_name: Vec<(DocId, String)>,
    /// The note written with `NewContact::note`.
    pub note: Option<DocId>,
}

impl App {
    pub fn add_contact(&self, n: NewContact) -> Result<Added> {
        let name = check_name(&n.name)?;
        let emails: Vec<String> = n
            .emails
            .iter()
            .map(|e| check_email(e))
            .collect::<Result<_>>()?;
        let every = match &n.every {
            Some(e) => parse_span(e)?.to_string(),
            None => String::new(),
        };
        let mut c = Contact {
            name,
            ..Default::default()
        };
        let now = self.now;
        for (i, e) in emails.iter().enumerate() {
            c.emails.insert(
                format!("{}{i}", entry_key(now)),
                Labeled {
                    value: e.clone(),
                    label: String::new(),
                },
            );
        }
        for (i, p) in n.phones.iter().enumerate() {
            let p = check_phone(p)?;
            c.phones.insert(
                format!("{}{i}", entry_key(now)),
                Labeled {
                    value: p,
                    label: String::new(),
                },
            );
        }
        if n.org.is_some() || n.title.is_some() {
            c.orgs.insert(
                entry_key(now),
                Role {
                    org: n.org.clone().unwrap_or_default().trim().to_string(),
                    title: n.title.clone().unwrap_or_default().trim().to_string(),
                    ..Default::default()
                },
            );
        }
        c.tags = clean_tags(&n.tags)?;
        c.kinds = clean_tags(&n.kinds)?;
        c.met = n.met.clone().unwrap_or_default();
        c.every = every;
        c.nickname = n.nickname.as_deref().unwrap_or("").trim().to_string();
        for (i, u) in n.urls.iter().enumerate() {
            let u = u.trim();
            if u.is_empty() || u.chars().any(char::is_whitespace) {
                return Err(AppError::hint(
                    format!("'{u}' is not a URL"),
                    "give one address without spaces, e.g. --url https://example.com/ada",
                ));
            }
            c.urls.insert(
                format!("{}{i}", entry_key(now)),
                Labeled {
                    value: u.to_string(),
                    label: String::new(),
                },
            );
        }
        if let Some(b) = &n.birthday {
            c.birthday = parse_partial_date(b).map_err(|e| {
                AppError::hint(
                    format!("--birthday: {e}"),
                    "give YYYY-MM-DD, or --MM-DD when the year is unknown",
                )
            })?;
        }
        let note = match &n.note {
            Some(t) if t.trim().is_empty() => {
                return Err(AppError::user("--note is empty; nothing was saved"))
            }
            Some(t) => Some(t.clone()),
            None => None,
        };
        let same_name = {
            let r = self.vault.read()?;
            let mut v: Vec<(DocId, String)> = Vec::new();
            let folded = text::fold(c.name.trim());
            let single_spaced = folded.split_whitespace().collect::<Vec<_>>().join(" ");
            for key in [folded, single_spaced] {
                for other in r.by_name(&key)? {
                    if v.iter().any(|(i, _)| *i == other) {
                        continue;
                    }
                    if let Some(s) = r.contact(other)? {
                        if s.merged_into.is_empty() {
                            v.push((other, s.name));
                        }
                    }
                }
            }
            v
        };
        self.vault.write(now, |w| {
            let mut duplicates = Vec::new();
            for e in &emails {
                for other in w.by_email(&e.to_lowercase())? {
                    let name = w.contact(other)?.map(|s| s.name).unwrap_or_default();
                    duplicates.push((e.clone(), other, name));
                }
            }
            let mut l = w.create();
            model::write_contact(&mut l.doc, &c, now).map_err(am_err)?;
            let id = l.id;
            w.save(l)?;
            let note = match &note {
                Some(body) => {
                    let mut l = w.create();
                    let n = Note {
                        body: body.clone(),
                        contacts: [id].into_iter().collect(),
                        ..Default::default()
                    };
                    model::write_note(&mut l.doc, &n, now).map_err(am_err)?;
                    let nid = l.id;
                    w.save(l)?;
                    Some(nid)
                }
                None => None,
            };
            Ok(Added {
                id,
                duplicates,
                same_name: same_name.clone(),
                note,
            })
        })
    }

    /// Loads a contact, applies `f` to its typed value and saves it if anything changed.
    pub fn update_contact(
        &self,
        id: DocId,
        f: impl FnOnce(&mut Contact, &mut automerge::AutoCommit) -> Result<()>,
    ) -> Result<bool> {
        let now = self.now;
        self.vault.write(now, |w| {
            let mut l = w
                .load(id)?
                .ok_or_else(|| AppError::user(format!("contact {id} no longer exists")))?;
            let mut c = model::read_contact(&l.doc);
            let before_heads = l.doc.get_heads();
            f(&mut c, &mut l.doc)?;
            model::write_contact(&mut l.doc, &c, now).map_err(am_err)?;
            let changed = l.doc.get_heads() != before_heads;
            w.save(l)?;
            Ok(changed)
        })
    }

    pub fn show(&self, id: DocId) -> Result<ContactView> {
        let r = self.vault.read()?;
        let doc = r
            .load(id)?
            .ok_or_else(|| AppError::user(format!("contact {id} no longer exists")))?;
        let contact = model::read_contact(&doc);
        let conflicts = model::contact_conflicts(&doc);
        let last = last_contact_as_of(&r, id, r.last_contact(id)?, self.today.to_days())?;
        let summary = r.contact(id)?.unwrap_or_default();
        let next_due = kith_core::index::cadence_due(&summary, last);
        let mut links = Vec::new();
        for (key, l) in &contact.links {
            let to: Option<DocId> = l.to.parse().ok();
            let name = match to {
                Some(t) => r.contact(t)?.map(|s| s.name),
                None => None,
            };
            links.push(LinkView {
                key: key.clone(),
                to: l.to.clone(),
                rel: l.rel.clone(),
                name,
            });
        }
        let timeline = r.timeline(id)?.len();
        let conflicts_explained = conflicts
            .iter()
            .map(|cf| describe_conflict(&contact, cf))
            .collect();
        Ok(ContactView {
            id,
            contact,
            conflicts,
            conflicts_explained,
            last_contact: last.map(|d| Date::from_days(d).to_string()),
            next_due: next_due.map(|d| Date::from_days(d).to_string()),
            links,
            timeline_items: timeline,
        })
    }

    /// The contacts `kith list` shows, filtered and in order. The summaries are read as stored
    /// into `buf` and the rows borrow their text from it (10,000 contacts would otherwise cost
    /// about ten allocations each).
    pub fn list<'b>(
        &self,
        q: &ListQuery,
        buf: &'b mut EncodedContacts,
    ) -> Result<Vec<ContactRow<'b>>> {
        let r = self.vault.read()?;
        let last = r.last_contacts()?;
        let today_days = self.today.to_days();
        *buf = r.contacts_encoded()?;
        let enc: &'b EncodedContacts = buf;
        let tags: Vec<String> = q
            .tags
            .iter()
            .map(|t| text::fold(t.trim_start_matches('+')))
            .collect();
        let fold_all = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|t| text::fold(t.trim().trim_start_matches('+')))
                .collect()
        };
        let (only_tags, kinds) = (fold_all(&q.only_tags), fold_all(&q.kinds));
        let org = q.org.as_ref().map(|o| text::fold(o));
        // Both are in id order: merge instead of a map lookup per contact.
        let mut last = last.into_iter().peekable();
        let mut rows = Vec::with_capacity(enc.entries.len());
        for &(id, start, end) in &enc.entries {
            let s = decode_contact(&enc.bytes[start..end])?;
            while last.next_if(|(l, _)| *l < id).is_some() {}
            let mut lc = last.next_if(|(l, _)| *l == id).map(|(_, d)| d);
            if lc.is_some_and(|d| d > today_days) {
                lc = last_contact_as_of(&r, id, lc, today_days)?;
            }
            if !s.merged_into.is_empty() || (s.archived && !q.archived) {
                continue;
            }
            if !tags.is_empty() {
                let have: Vec<String> = s
                    .tags
                    .iter()
                    .chain(s.kinds.iter())
                    .map(|t| text::fold(t))
                    .collect();
                if !tags.iter().all(|t| have.contains(t)) {
                    continue;
                }
            }
            let all_in = |want: &[String], have: &[&str]| {
                want.iter()
                    .all(|w| have.iter().any(|h| text::fold(h) == *w))
            };
            if !all_in(&only_tags, &s.tags) || !all_in(&kinds, &s.kinds) {
                continue;
            }
            if let Some(o) = &org {
                if !text::fold(s.org).contains(o.as_str()) {
                    continue;
                }
            }
            rows.push(ContactRow {
                id,
                name: s.name,
                org: s.org,
                title: s.title,
                email: s.email,
                tags: s.tags,
                kinds: s.kinds,
                last_contact: lc.map(Date::from_days),
                every: s.every,
                archived: s.archived,
                sort: s.sort,
                last_day: lc,
                birthday: s.birthday,
            });
        }
        let by_name = |a: &ContactRow, b: &ContactRow| {
            text::natural_cmp(a.sort, b.sort)
                .then(a.sort.cmp(b.sort))
                .then(a.id.cmp(&b.id))
        };
        let today = self.today;
        let next_birthday = |r: &ContactRow| -> i32 {
            r.birthday
                .parse::<kith_core::time::PartialDate>()
                .map(|p| p.next_occurrence(today).to_days())
                .unwrap_or(i32::MAX)
        };
        match q.sort {
            // (sort key, id) is unique: an unstable sort gives the same order.
            SortBy::Name => rows.sort_unstable_by(by_name),
            SortBy::Birthday => {
                // Each birthday is parsed once, not per comparison.
                let mut keyed: Vec<(i32, ContactRow<'b>)> =
                    rows.into_iter().map(|r| (next_birthday(&r), r)).collect();
                keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(by_name(&a.1, &b.1)));
                rows = keyed.into_iter().map(|(_, r)| r).collect();
            }
            SortBy::LastContact => rows.sort_by(|a, b| {
                // Never contacted first, then oldest contact first: who needs attention.
                a.last_day
                    .unwrap_or(i32::MIN)
                    .cmp(&b.last_day.unwrap_or(i32::MIN))
                    .then(a.sort.cmp(b.sort))
            }),
        }
        if q.reverse {
            rows.reverse();
        }
        if let Some(n) = q.limit {
            rows.truncate(n);
        }
        Ok(rows)
    }

    pub fn link(&self, from: DocId, to: DocId, rel: &str) -> Result<bool> {
        let rel = rel.trim();
        if rel.is_empty() || rel.chars().any(char::is_whitespace) {
            return Err(AppError::hint(
                format!("'{rel}' is not a relation"),
                "use one word, like introduced-by, works-with or reports-to",
            ));
        }
        if from == to {
            return Err(AppError::user("a contact cannot be linked to itself"));
        }
        let now = self.now;
        self.update_contact(from, |c, _| {
            let exists = c
                .links
                .values()
                .any(|l| l.to == to.to_hex() && l.rel == rel);
            if !exists {
                c.links.insert(
                    entry_key(now),
                    Link {
                        to: to.to_hex(),
                        rel: rel.to_string(),
                    },
                );
            }
            Ok(())
        })
    }

    pub fn remove(&self, id: DocId, purge: bool) -> Result<bool> {
        if purge {
            return Ok(self.purge_everywhere(id)?.deleted);
        }
        self.update_contact(id, |c, _| {
            c.archived = true;
            Ok(())
        })
    }
}

/// What `kith rm --purge` did (docs/design/deletion.md).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgeReport {
    /// The contact existed here and is gone.
    pub deleted: bool,
    /// Notes, interactions and reminders linked only to it, deleted with it.
    pub items_deleted: usize,
    /// Items shared with other contacts, which keep them and lose the link to it.
    pub items_unlinked: usize,
}

impl App {
    /// Deletes a contact on every device: it goes into the synced tombstone set, with the items
    /// linked only to it; items shared with other contacts lose the link. One transaction.
    pub fn purge_everywhere(&self, id: DocId) -> Result<PurgeReport> {
        self.vault.write(self.now, |w| {
            let existed = w.contact(id)?.is_some();
            let linked: Vec<DocId> = w.timeline(id)?.into_iter().map(|(i, _)| i).collect();
            w.delete_everywhere(&[id])?;
            let mut report = PurgeReport {
                deleted: existed,
                ..Default::default()
            };
            for item in linked {
                if w.is_deleted(item)? {
                    report.items_deleted += 1;
                } else {
                    report.items_unlinked += 1;
                }
            }
            Ok(report)
        })
    }

    /// Whether a document was deleted for good (so an import must not bring it back).
    pub fn is_purged(&self, id: DocId) -> Result<bool> {
        Ok(self.vault.read()?.is_deleted(id)?)
    }
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SortBy {
    /// By name, numbers in names by value (`Abara 116` before `Abara 1050`)
    #[default]
    Name,
    /// Never contacted first, then the oldest last contact
    LastContact,
    /// The next upcoming birthday first (today's first); contacts without one last
    Birthday,
}

#[derive(Debug, Default)]
pub struct ListQuery {
    /// Each must be a tag or a relationship kind (export's `--tag`).
    pub tags: Vec<String>,
    /// Each must be a tag (`kith list --tag`).
    pub only_tags: Vec<String>,
    /// Each must be a relationship kind (`kith list --kind`).
    pub kinds: Vec<String>,
    pub org: Option<String>,
    pub sort: SortBy,
    /// Reverse the order.
    pub reverse: bool,
    /// At most this many rows (after sorting).
    pub limit: Option<usize>,
    pub archived: bool,
}

fn str_is_empty(s: &&str) -> bool {
    s.is_empty()
}

/// One row of `kith list` (also its JSON schema).
#[derive(Debug, Serialize)]
pub struct ContactRow<'a> {
    pub id: DocId,
    pub name: &'a str,
    #[serde(skip_serializing_if = "str_is_empty")]
    pub org: &'a str,
    #[serde(skip_serializing_if = "str_is_empty")]
    pub title: &'a str,
    #[serde(skip_serializing_if = "str_is_empty")]
    pub email: &'a str,
    pub tags: Vec<&'a str>,
    pub kinds: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_contact: Option<Date>,
    #[serde(skip_serializing_if = "str_is_empty")]
    pub every: &'a str,
    pub archived: bool,
    #[serde(skip)]
    pub sort: &'a str,
    #[serde(skip)]
    pub last_day: Option<i32>,
    /// `YYYY-MM-DD` or `--MM-DD`, as stored.
    #[serde(skip_serializing_if = "str_is_empty")]
    pub birthday: &'a str,
}

#[derive(Debug, Serialize)]
pub struct LinkView {
    pub key: String,
    pub to: String,
    pub rel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Everything `kith show` displays (also its JSON schema).
#[derive(Debug, Serialize)]
pub struct ContactView {
    pub id: DocId,
    #[serde(flatten)]
    pub contact: Contact,
    pub conflicts: Vec<Conflict>,
    /// The same conflicts in words, with the `kith set` field that settles each.
    pub conflicts_explained: Vec<ConflictText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_contact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_due: Option<String>,
    #[serde(rename = "links_resolved")]
    pub links: Vec<LinkView>,
    pub timeline_items: usize,
}

// ---------------------------------------------------------------------------------------------
// Notes, interactions, reminders.

/// One entry of a timeline or search result (also its JSON schema).
#[derive(Debug, Serialize)]
pub struct ItemRow {
    pub id: DocId,
    pub kind: Kind,
    pub date: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    pub text: String,
    pub contacts: Vec<DocId>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
    /// An interaction dated after today (`kith log --planned`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub planned: bool,
}

impl ItemRow {
    pub fn new(id: DocId, s: ItemSummary) -> Self {
        ItemRow {
            id,
            kind: s.kind,
            date: Date::from_days(s.day).to_string(),
            label: s.label,
            text: s.snippet,
            contacts: s.contacts,
            done: s.done,
            planned: false,
        }
    }
}

impl App {
    pub fn add_note(&self, contacts: &[DocId], body: &str, tags: &[String]) -> Result<DocId> {
        check_text_size("the note", body)?;
        if body.trim().is_empty() {
            return Err(AppError::hint(
                "the note is empty; nothing was saved",
                "give the text as an argument, on standard input with -, or in $EDITOR",
            ));
        }
        let note = Note {
            body: body.to_string(),
            contacts: contacts.iter().copied().collect(),
            tags: clean_tags(tags)?,
            ..Default::default()
        };
        self.vault.write(self.now, |w| {
            let mut l = w.create();
            model::write_note(&mut l.doc, &note, w.now()).map_err(am_err)?;
            let id = l.id;
            w.save(l)?;
            Ok(id)
        })
    }

    pub fn log(&self, contacts: &[DocId], kind: &str, on: Date, summary: &str) -> Result<DocId> {
        check_text_size("the summary", summary)?;
        let kind = check_interaction_kind(kind)?;
        if contacts.is_empty() {
            return Err(AppError::user("an interaction needs at least one contact"));
        }
        let i = Interaction {
            date: on.to_string(),
            kind,
            contacts: contacts.iter().copied().collect(),
            summary: summary.to_string(),
            ..Default::default()
        };
        self.vault.write(self.now, |w| {
            let mut l = w.create();
            model::write_interaction(&mut l.doc, &i, w.now()).map_err(am_err)?;
            let id = l.id;
            w.save(l)?;
            Ok(id)
        })
    }

    pub fn remind(&self, contact: DocId, due: Date, text: &str) -> Result<DocId> {
        check_text_size("the reminder text", text)?;
        if text.trim().is_empty() {
            return Err(AppError::user("a reminder needs a text"));
        }

        let r = Reminder {
            due: due.to_string(),
            contact: Some(contact),
            text: text.trim().to_string(),
            ..Default::default()
        };
        self.vault.write(self.now, |w| {
            let mut l = w.create();
            model::write_reminder(&mut l.doc, &r, w.now()).map_err(am_err)?;
            let id = l.id;
            w.save(l)?;
            Ok(id)
        })
    }

    /// Marks a reminder done, or snoozes it until `snooze`. Returns its text.
    pub fn finish_reminder(&self, id: DocId, snooze: Option<Date>) -> Result<String> {
        self.vault.write(self.now, |w| {
            let mut l = w
                .load(id)?
                .ok_or_else(|| AppError::user(format!("reminder {id} no longer exists")))?;
            let mut r = model::read_reminder(&l.doc);
            if r.done {
                return Err(AppError::hint(
                    format!(
                        "reminder {} is already done: {}; nothing changed",
                        id.short(),
                        r.text
                    ),
                    format!(
                        "to reopen it, `kith edit {}` and set 'done: no'",
                        id.short()
                    ),
                ));
            }
            match snooze {
                Some(d) => r.snoozed_until = d.to_string(),
                None => r.done = true,
            }
            model::write_reminder(&mut l.doc, &r, w.now()).map_err(am_err)?;
            w.save(l)?;
            Ok(r.text)
        })
    }

    pub fn timeline(&self, contact: DocId) -> Result<Vec<ItemRow>> {
        let r = self.vault.read()?;
        let look = r.lookup()?;
        let mut out = Vec::new();
        let today = self.today.to_days();
        for (id, _) in r.timeline(contact)? {
            if let Some(s) = look.item(id)? {
                let planned = s.kind == Kind::Interaction && s.day > today;
                out.push(ItemRow {
                    planned,
                    ..ItemRow::new(id, s)
                });
            }
        }
        Ok(out)
    }

    /// Full text of an item (for `timeline --full`).
    pub fn item_text(&self, id: DocId) -> Result<String> {
        let r = self.vault.read()?;
        let doc = r
            .load(id)?
            .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
        Ok(match model::doc_kind(&doc) {
            Some(Kind::Note) => model::read_note(&doc).body,
            Some(Kind::Interaction) => model::read_interaction(&doc).summary,
            Some(Kind::Reminder) => model::read_reminder(&doc).text,
            _ => String::new(),
        })
    }

    pub fn due(&self, within: Span) -> Result<Vec<DueRow>> {
        let r = self.vault.read()?;
        let today = self.today.to_days();
        let until = within.add_to(self.today).to_days();
        let look = r.lookup()?;
        let mut rows = Vec::new();
        for (day, id, entry) in r.reminders_due_entries(until)? {
            let contact = entry.contact.map(DocId);
            let name = match contact {
                Some(c) => look.contact(c)?.map(|s| s.name).unwrap_or_default(),
                None => String::new(),
            };
            rows.push(DueRow {
                kind: "reminder",
                id,
                date: Date::from_days(day).to_string(),
                days: day - today,
                contact,
                name,
                text: entry.snippet,
                label: None,
                years: None,
                sort: day,
            });
        }
        // Contacts whose newest interaction is planned (after today): their indexed cadence
        // day counts from it; recompute from the last contact as of today.
        let planned_ahead: BTreeMap<DocId, i32> = r
            .last_contacts()?
            .into_iter()
            .filter(|(_, d)| *d > today)
            .collect();
        let mut cadence = r.cadence_due(until)?;
        cadence.retain(|(_, id)| !planned_ahead.contains_key(id));
        for (&id, &indexed) in &planned_ahead {
            let Some(s) = look.contact(id)? else { continue };
            let last = last_contact_as_of(&r, id, Some(indexed), today)?;
            if let Some(day) = kith_core::index::cadence_due(&s, last) {
                if day <= until {
                    cadence.push((day, id));
                }
            }
        }
        for (day, id) in cadence {
            let Some(s) = look.contact(id)? else { continue };
            let last = match planned_ahead.get(&id) {
                Some(&d) => last_contact_as_of(&r, id, Some(d), today)?,
                None => look.last_contact(id)?,
            };
            let text = match last {
                Some(d) => format!(
                    "keep in touch every {}; last contact {}",
                    s.every,
                    Date::from_days(d)
                ),
                None => format!("keep in touch every {}; no contact logged yet", s.every),
            };
            rows.push(DueRow {
                kind: "keep-in-touch",
                id,
                date: Date::from_days(day).to_string(),
                days: day - today,
                contact: Some(id),
                name: s.name,
                text,
                label: None,
                years: None,
                sort: day,
            });
        }
        rows.extend(
            self.upcoming_dates(&r, within)?
                .iter()
                .map(crate::keep::UpcomingDate::due_row),
        );
        rows.sort_by(|a, b| {
            a.sort
                .cmp(&b.sort)
                .then(a.name.cmp(&b.name))
                .then(a.id.cmp(&b.id))
        });
        Ok(rows)
    }
}

/// One row of `kith due` (also its JSON schema). `days` is negative when overdue.
#[derive(Debug, Serialize)]
pub struct DueRow {
    pub kind: &'static str,
    pub id: DocId,
    pub date: String,
    pub days: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<DocId>,
    pub name: String,
    pub text: String,
    /// Dates that matter: `birthday` or the date's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Dates that matter: the age reached or years since, when the year is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub years: Option<i32>,
    #[serde(skip)]
    pub sort: i32,
}

// ---------------------------------------------------------------------------------------------
// Search.

/// One search hit (also its JSON schema).
#[derive(Debug, Serialize)]
pub struct Hit {
    pub id: DocId,
    pub kind: Kind,
    pub score: u32,
    /// Contact name, or the names of the item's contacts.
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub date: String,
    pub text: String,
}

impl App {
    /// Full-text search: every query word must match (as a prefix) some word of the document.
    /// Ranked by field weight (names above organisations above tags above text), exact words
    /// above prefixes, then newest first.
    pub fn search(&self, query: &str, limit: usize) -> Result<(usize, Vec<Hit>)> {
        let words = text::terms(query);
        if words.is_empty() {
            return Err(AppError::hint(
                "the search query has no words",
                "search for a name, an email, an organisation, a tag or a word of a note",
            ));
        }
        let r = self.vault.read()?;
        let all_words = |words: &[String]| -> Result<std::collections::HashMap<u32, u32>> {
            let mut acc: Option<std::collections::HashMap<u32, u32>> = None;
            for w in words {
                let hits = r.postings_prefix(w)?;
                let mut next = std::collections::HashMap::new();
                for (ord, (weight, exact)) in hits {
                    let s = u32::from(weight) * 10 + if exact { 5 } else { 0 };
                    match &acc {
                        None => {
                            next.insert(ord, s);
                        }
                        Some(prev) => {
                            if let Some(p) = prev.get(&ord) {
                                next.insert(ord, p + s);
                            }
                        }
                    }
                }
                acc = Some(next);
            }
            Ok(acc.unwrap_or_default())
        };
        let mut scored = all_words(&words)?;
        // A query that is a phone number in any formatting (`+1 (555) 010-9999`, `555.010`)
        // also matches phones by their digits.
        if let Some(digits) = kith_core::index::phone_query(query) {
            if words != [digits.clone()] {
                for (ord, s) in all_words(&[digits])? {
                    let e = scored.entry(ord).or_insert(0);
                    *e = (*e).max(s);
                }
            }
        }
        let total = scored.len();
        // Rank first by score; break ties by recency, which needs summaries: fetch the best
        // candidates only.
        let mut by_score: Vec<(u32, u32)> = scored.into_iter().map(|(o, s)| (s, o)).collect();
        by_score.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        let mut hits = Vec::new();
        let mut names: BTreeMap<DocId, String> = BTreeMap::new();
        for (score, ord) in by_score.into_iter().take(limit) {
            let Some(id) = r.id_of_ord(ord)? else {
                continue;
            };
            if let Some(s) = r.contact(id)? {
                if !s.merged_into.is_empty() {
                    continue;
                }
                let mut text = [s.title.as_str(), s.org.as_str()]
                    .iter()
                    .filter(|x| !x.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ");
                if s.archived {
                    text.push_str(" [archived]");
                }
                hits.push(Hit {
                    id,
                    kind: Kind::Contact,
                    score,
                    title: s.name,
                    date: String::new(),
                    text,
                });
            } else if let Some(item) = r.item(id)? {
                let mut who = Vec::new();
                for c in &item.contacts {
                    if !names.contains_key(c) {
                        let n = r.contact(*c)?.map(|s| s.name).unwrap_or_else(|| c.short());
                        names.insert(*c, n);
                    }
                    who.push(names[c].clone());
                }
                hits.push(Hit {
                    id,
                    kind: item.kind,
                    score,
                    title: who.join(", "),
                    date: Date::from_days(item.day).to_string(),
                    text: item.snippet,
                });
            }
        }
        hits.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then(b.date.cmp(&a.date))
                .then(a.id.cmp(&b.id))
        });
        Ok((total, hits))
    }
}

// ---------------------------------------------------------------------------------------------
// Edits merged against the version the user saw, and item removal.
//
// An editor (the `kith edit` buffer, a future web form) renders a document at some heads, the
// user changes it, and the change is written onto a fork of the document at those heads and
// merged back into the current document, in one write transaction. Whatever changed meanwhile
// (another command, a synced change) survives; the same field changed on both sides becomes a
// visible conflict.

/// A note, interaction or reminder, as an editor shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Note(Note),
    Interaction(Interaction),
    Reminder(Reminder),
}

impl Item {
    pub fn kind(&self) -> Kind {
        match self {
            Item::Note(_) => Kind::Note,
            Item::Interaction(_) => Kind::Interaction,
            Item::Reminder(_) => Kind::Reminder,
        }
    }

    fn read(doc: &automerge::AutoCommit) -> Option<Item> {
        match model::doc_kind(doc)? {
            Kind::Note => Some(Item::Note(model::read_note(doc))),
            Kind::Interaction => Some(Item::Interaction(model::read_interaction(doc))),
            Kind::Reminder => Some(Item::Reminder(model::read_reminder(doc))),
            _ => None,
        }
    }

    /// Ids of the contacts the item is about.
    pub fn contacts(&self) -> Vec<DocId> {
        match self {
            Item::Note(n) => n.contacts.iter().copied().collect(),
            Item::Interaction(i) => i.contacts.iter().copied().collect(),
            Item::Reminder(r) => r.contact.into_iter().collect(),
        }
    }
}

/// Document heads as text (comma-separated hex), as recorded in an edit buffer.
pub fn heads_text(heads: &[automerge::ChangeHash]) -> String {
    heads
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses heads written by [`heads_text`].
pub fn parse_heads(s: &str) -> Result<Vec<automerge::ChangeHash>> {
    s.split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            h.parse().map_err(|_| {
                AppError::hint(
                    format!("'{h}' is not a document version"),
                    "keep the '# base:' line kith wrote at the top of the edit buffer",
                )
            })
        })
        .collect()
}

/// A document as it is now, for an editor to render: the value and the heads it was read at.
pub struct Editable<T> {
    pub id: DocId,
    pub value: T,
    pub heads: Vec<automerge::ChangeHash>,
    pub conflicts: Vec<Conflict>,
    /// Items only: removed with `kith rm`.
    pub deleted: bool,
}

/// What an edit did.
#[derive(Debug)]
pub struct EditOutcome {
    /// Whether the user's change wrote anything.
    pub changed: bool,
    /// The document's conflicts after the merge (the user's change plus whatever happened
    /// meanwhile).
    pub merged_conflicts: Vec<Conflict>,
}

impl App {
    /// Reads a contact for editing.
    pub fn contact_for_edit(&self, id: DocId) -> Result<Editable<Contact>> {
        let r = self.vault.read()?;
        let mut doc = r
            .load(id)?
            .ok_or_else(|| AppError::user(format!("contact {id} no longer exists")))?;
        Ok(Editable {
            id,
            value: model::read_contact(&doc),
            conflicts: model::contact_conflicts(&doc),
            heads: doc.get_heads(),
            deleted: false,
        })
    }

    /// A note, interaction or reminder as it was at `heads` (what an edit buffer was rendered
    /// from).
    pub fn item_at(&self, id: DocId, heads: &[automerge::ChangeHash]) -> Result<Item> {
        Item::read(&self.doc_at(id, heads)?).ok_or_else(|| {
            AppError::user(format!(
                "{} is not a note, interaction or reminder",
                id.short()
            ))
        })
    }

    /// A contact as it was at `heads`.
    pub fn contact_at(&self, id: DocId, heads: &[automerge::ChangeHash]) -> Result<Contact> {
        Ok(model::read_contact(&self.doc_at(id, heads)?))
    }

    fn doc_at(&self, id: DocId, heads: &[automerge::ChangeHash]) -> Result<automerge::AutoCommit> {
        let r = self.vault.read()?;
        let mut doc = r
            .load(id)?
            .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
        doc.fork_at(heads).map_err(|_| {
            AppError::hint(
                format!(
                    "the edit was made against a version of {} this vault does not have",
                    id.short()
                ),
                "remove the '# base:' line to apply the text against the current version",
            )
        })
    }

    /// Reads a note, interaction or reminder for editing.
    pub fn item_for_edit(&self, id: DocId) -> Result<Editable<Item>> {
        let r = self.vault.read()?;
        let mut doc = r
            .load(id)?
            .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
        let value = Item::read(&doc).ok_or_else(|| {
            AppError::user(format!(
                "{} is not a note, interaction or reminder",
                id.short()
            ))
        })?;
        Ok(Editable {
            id,
            value,
            conflicts: model::item_conflicts(&doc),
            heads: doc.get_heads(),
            deleted: model::item_deleted(&doc),
        })
    }

    /// Applies a change made against the version at `base` to a document: `write` runs on a
    /// fork of the document at `base`, and the fork is merged into the current document, in
    /// one write transaction. Returns whether `write` changed anything and the document after.
    fn edit_doc(
        &self,
        id: DocId,
        base: &[automerge::ChangeHash],
        write: impl FnOnce(&mut automerge::AutoCommit, i64) -> Result<()>,
    ) -> Result<(bool, automerge::AutoCommit)> {
        let now = self.now;
        self.vault.write(now, |w| {
            let mut l = w
                .load(id)?
                .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
            let mut fork = if base.is_empty() {
                l.doc.fork()
            } else {
                l.doc.fork_at(base).map_err(|_| {
                    AppError::hint(
                        format!(
                            "the edit was made against a version of {} this vault does not have",
                            id.short()
                        ),
                        "remove the '# base:' line to apply the text against the current version",
                    )
                })?
            };
            let before = fork.get_heads();
            write(&mut fork, now)?;
            if fork.get_heads() == before {
                return Ok((false, l.doc.fork()));
            }
            l.doc.merge(&mut fork).map_err(am_err)?;
            let after = l.doc.fork();
            w.save(l)?;
            Ok((true, after))
        })
    }

    /// Applies an edited contact made against the version at `base` (the heads it was rendered
    /// from; empty means "now"). Only what differs between that version and `edited` is
    /// written, so changes made meanwhile survive, and a field changed on both sides becomes a
    /// conflict that `show` reports.
    pub fn edit_contact(
        &self,
        id: DocId,
        base: &[automerge::ChangeHash],
        edited: &Contact,
    ) -> Result<EditOutcome> {
        if edited.name.trim().is_empty() {
            return Err(AppError::user("a contact needs a name"));
        }
        let (changed, doc) = self.edit_doc(id, base, |fork, now| {
            if model::doc_kind(fork) != Some(Kind::Contact) {
                return Err(AppError::user(format!("{} is not a contact", id.short())));
            }
            model::write_contact(fork, edited, now).map_err(am_err)?;
            Ok(())
        })?;
        Ok(EditOutcome {
            changed,
            merged_conflicts: model::contact_conflicts(&doc),
        })
    }

    /// Applies an edited note, interaction or reminder made against the version at `base`
    /// (see [`App::edit_contact`]). A note's text is Automerge Text: two edits of different
    /// parts of it both survive.
    pub fn edit_item(
        &self,
        id: DocId,
        base: &[automerge::ChangeHash],
        edited: &Item,
    ) -> Result<EditOutcome> {
        let (changed, doc) = self.edit_doc(id, base, |fork, now| {
            if model::doc_kind(fork) != Some(edited.kind()) {
                return Err(AppError::user(format!(
                    "{} is not a {}",
                    id.short(),
                    edited.kind().as_str()
                )));
            }
            match edited {
                Item::Note(n) => model::write_note(fork, n, now),
                Item::Interaction(i) => model::write_interaction(fork, i, now),
                Item::Reminder(r) => model::write_reminder(fork, r, now),
            }
            .map_err(am_err)?;
            Ok(())
        })?;
        Ok(EditOutcome {
            changed,
            merged_conflicts: model::item_conflicts(&doc),
        })
    }

    /// Removes a note, interaction or reminder (`deleted = true`), or restores it (`undo`).
    /// The document and its history stay, so the removal can be undone; a removed item no
    /// longer appears in timelines, search or `due`. Returns the kind and whether anything
    /// changed.
    pub fn remove_item(&self, id: DocId, undo: bool) -> Result<(Kind, bool)> {
        self.vault.write(self.now, |w| {
            let mut l = w
                .load(id)?
                .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
            let kind = match model::doc_kind(&l.doc) {
                Some(k @ (Kind::Note | Kind::Interaction | Kind::Reminder)) => k,
                _ => {
                    return Err(AppError::user(format!(
                        "{} is not a note, interaction or reminder",
                        id.short()
                    )))
                }
            };
            let changed = model::set_item_deleted(&mut l.doc, !undo, w.now()).map_err(am_err)?;
            w.save(l)?;
            Ok((kind, changed))
        })
    }
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

/// A conflict in words, for people: what field it is ("title at Commodore"), the values, and
/// the `kith set` field that settles it (None when only `kith edit` can).
#[derive(Debug, Clone, Serialize)]
pub struct ConflictText {
    /// The field's internal path, as in `conflicts[].field`.
    pub field: String,
    /// The field in words, e.g. `title at Commodore`.
    pub what: String,
    /// Every value, the shown one first.
    pub values: Vec<String>,
    /// The FIELD argument of `kith set REF FIELD VALUE` that settles it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_field: Option<String>,
}

/// Describes a conflict of contact `c` in words (see [`ConflictText`]).
pub fn describe_conflict(c: &Contact, cf: &Conflict) -> ConflictText {
    let mut values = vec![cf.value.clone()];
    values.extend(cf.others.iter().cloned());
    let parts: Vec<&str> = cf.field.splitn(3, '.').collect();
    let (what, set_field) = match parts.as_slice() {
        [f] => (f.to_string(), Some(f.to_string())),
        ["n", f] => (
            format!("{f} name"),
            matches!(*f, "given" | "family").then(|| f.to_string()),
        ),
        ["custom", k] => (format!("custom field {k}"), Some(format!("custom.{k}"))),
        [group, key, field] => {
            let single = entry_group_word(group);
            let selector = match *group {
                "orgs" => c.orgs.get(*key).map(|r| r.org.clone()),
                "emails" => c.emails.get(*key).map(|l| l.value.clone()),
                "phones" => c.phones.get(*key).map(|l| l.value.clone()),
                "urls" => c.urls.get(*key).map(|l| l.value.clone()),
                "dates" => c.dates.get(*key).map(|l| l.value.clone()),
                "addresses" => c.addresses.get(*key).map(|a| a.street.clone()),
                "links" => c.links.get(*key).map(|l| l.to.clone()),
                _ => None,
            }
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| key.to_string());
            let primary = matches!(
                (*group, *field),
                ("orgs", "org") | ("addresses", "street") | ("links", "to") | (_, "value")
            );
            let what = if primary {
                format!("{single} (entry {selector})")
            } else if *group == "orgs" {
                format!("{field} at {selector}")
            } else {
                format!("{field} of {single} {selector}")
            };
            (what, Some(format!("{single}.{selector}.{field}")))
        }
        _ => (cf.field.clone(), None),
    };
    ConflictText {
        field: cf.field.clone(),
        what,
        values,
        set_field,
    }
}

/// The word `kith set` uses for a group of entries (`orgs` -> `org`).
pub fn entry_group_word(group: &str) -> &str {
    match group {
        "orgs" => "org",
        "emails" => "email",
        "phones" => "phone",
        "urls" => "url",
        "dates" => "date",
        "addresses" => "address",
        "links" => "link",
        other => other,
    }
}

/// Finds the entry `kith set REF GROUP.SELECTOR.FIELD` names: GROUP is a singular word (`org`,
/// `email`, ...), SELECTOR matches an entry's main value (organisation, email, ...; case
/// ignored), any of its conflicting values, or its key. Returns the internal path
/// (`orgs.KEY.title`).
pub fn entry_path(doc: &automerge::AutoCommit, c: &Contact, spec: &str) -> Result<Option<String>> {
    let Some((group, rest)) = spec.split_once('.') else {
        return Ok(None);
    };
    let Some((selector, field)) = rest.rsplit_once('.') else {
        return Ok(None);
    };
    use model::Record as _;
    let (plural, fields, mains): (&str, &[&str], Vec<(String, String)>) = match group {
        "org" => (
            "orgs",
            Role::FIELDS,
            c.orgs
                .iter()
                .map(|(k, r)| (k.clone(), r.org.clone()))
                .collect(),
        ),
        "email" => (
            "emails",
            Labeled::FIELDS,
            c.emails
                .iter()
                .map(|(k, l)| (k.clone(), l.value.clone()))
                .collect(),
        ),
        "phone" => (
            "phones",
            Labeled::FIELDS,
            c.phones
                .iter()
                .map(|(k, l)| (k.clone(), l.value.clone()))
                .collect(),
        ),
        "url" => (
            "urls",
            Labeled::FIELDS,
            c.urls
                .iter()
                .map(|(k, l)| (k.clone(), l.value.clone()))
                .collect(),
        ),
        "date" => (
            "dates",
            Labeled::FIELDS,
            c.dates
                .iter()
                .map(|(k, l)| (k.clone(), l.value.clone()))
                .collect(),
        ),
        "address" => (
            "addresses",
            model::Address::FIELDS,
            c.addresses
                .iter()
                .map(|(k, a)| (k.clone(), a.street.clone()))
                .collect(),
        ),
        _ => return Ok(None),
    };
    if !fields.contains(&field) {
        return Err(AppError::hint(
            format!("'{field}' is not a field of an {group} entry"),
            format!("fields: {}", fields.join(", ")),
        ));
    }
    let sel = selector.to_lowercase();
    let conflicts = model::contact_conflicts(doc);
    let mut found: Vec<&String> = Vec::new();
    for (k, main) in &mains {
        let also = conflicts.iter().any(|cf| {
            cf.field.starts_with(&format!("{plural}.{k}."))
                && (cf.value.to_lowercase() == sel
                    || cf.others.iter().any(|o| o.to_lowercase() == sel))
        });
        if main.to_lowercase() == sel || *k == selector || also {
            found.push(k);
        }
    }
    match found.as_slice() {
        [k] => Ok(Some(format!("{plural}.{k}.{field}"))),
        [] => Err(AppError::hint(
            format!("no {group} entry matches '{selector}'"),
            format!(
                "entries: {}",
                mains
                    .iter()
                    .map(|(_, m)| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        _ => Err(AppError::user(format!(
            "'{selector}' matches {} {group} entries; use `kith edit`",
            found.len()
        ))),
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

impl App {
    /// Settles the conflict on `field` (an internal path, as in `conflicts[].field`) of a
    /// contact by keeping `value`, one of its conflicting values.
    pub fn settle_contact_conflict(&self, id: DocId, field: &str, value: &str) -> Result<()> {
        self.update_contact(id, |c, doc| {
            let cf = model::contact_conflicts(doc)
                .into_iter()
                .find(|cf| cf.field == field)
                .ok_or_else(|| {
                    AppError::user(format!(
                        "'{field}' is no longer in conflict; nothing was changed"
                    ))
                })?;
            if cf.value != value && !cf.others.iter().any(|o| o == value) {
                return Err(AppError::user(format!(
                    "'{value}' is not one of the conflicting values of '{field}'"
                )));
            }
            model::settle_conflict(doc, field, value).map_err(am_err)?;
            // The typed value written back afterwards is the settled one.
            *c = model::read_contact(doc);
            Ok(())
        })?;
        Ok(())
    }
}
