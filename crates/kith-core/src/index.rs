//! Index derivation: what one document contributes to the vault's derived tables.
//!
//! `derive(doc)` is a pure function of one document's current state. The store computes it
//! before and after every change and applies the difference in the same write transaction, and
//! `kith reindex` rebuilds every table from it alone.
//!
//! Invariant: the output depends only on the document's content (no clock, no other document),
//! and every collection in it is ordered, so the same document always yields the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use automerge::ReadDoc;
use serde::{Deserialize, Serialize};

use crate::id::DocId;
use crate::model::{self, Kind};
use crate::text;
use crate::time::{Date, PartialDate, Span};

/// Field weights in the full-text index: a match in a name ranks above one in a note.
pub mod weight {
    pub const NAME: u8 = 8;
    pub const EMAIL: u8 = 6;
    pub const PHONE: u8 = 6;
    pub const ORG: u8 = 5;
    pub const TAG: u8 = 4;
    pub const TEXT_SHORT: u8 = 2;
    pub const BODY: u8 = 1;
}

/// What `kith list` shows of a contact, kept in the `contacts` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactSummary {
    pub name: String,
    /// Folded name, the sort key of `list --sort name`.
    pub sort: String,
    pub org: String,
    pub title: String,
    pub email: String,
    pub tags: Vec<String>,
    pub kinds: Vec<String>,
    /// Canonical cadence span (`30d`), empty when none.
    pub every: String,
    pub archived: bool,
    /// Set when merged into another contact: such contacts are hidden from listings.
    pub merged_into: String,
    /// Day (days since 1970-01-01, UTC) the contact was created.
    pub created_day: i32,
    /// Birthday as stored: `YYYY-MM-DD`, `--MM-DD` or empty (for `list --sort birthday`).
    pub birthday: String,
    /// How they could help, as stored (`kith who-knows` reads it here, loading no document).
    pub help: String,
}

/// A [`ContactSummary`] decoded without copying its strings: the same fields in the same order,
/// so it reads the same serialized bytes (for listing every contact without an allocation per
/// field).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ContactSummaryRef<'a> {
    pub name: &'a str,
    pub sort: &'a str,
    pub org: &'a str,
    pub title: &'a str,
    pub email: &'a str,
    #[serde(borrow)]
    pub tags: Vec<&'a str>,
    #[serde(borrow)]
    pub kinds: Vec<&'a str>,
    pub every: &'a str,
    pub archived: bool,
    pub merged_into: &'a str,
    pub created_day: i32,
    pub birthday: &'a str,
    pub help: &'a str,
}

/// The head of a stored [`ContactSummary`], up to `merged_into`, for the commands that show a
/// contact's name (and cadence) on one row each (`kith due`, `kith digest`): the strings it
/// does not use are read over as bytes (no UTF-8 check), the tags and kinds are not collected,
/// and the fields after `merged_into` are not read at all, so decoding it allocates nothing.
/// Same field order as [`ContactSummary`], so it reads the same serialized bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ContactBrief<'a> {
    pub name: &'a str,
    #[serde(borrow)]
    sort: Skipped<'a>,
    #[serde(borrow)]
    org: Skipped<'a>,
    #[serde(borrow)]
    title: Skipped<'a>,
    #[serde(borrow)]
    email: Skipped<'a>,
    #[serde(borrow)]
    tags: SkippedSeq<'a>,
    #[serde(borrow)]
    kinds: SkippedSeq<'a>,
    pub every: &'a str,
    pub archived: bool,
    pub merged_into: &'a str,
}

/// A string field read over as its bytes (postcard encodes `str` and bytes alike).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Skipped<'a>(std::marker::PhantomData<&'a [u8]>);

impl<'de: 'a, 'a> Deserialize<'de> for Skipped<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'de [u8]>::deserialize(d)?;
        Ok(Skipped(std::marker::PhantomData))
    }
}

/// A sequence of strings read over as bytes, nothing kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SkippedSeq<'a>(std::marker::PhantomData<&'a [u8]>);

impl<'de: 'a, 'a> Deserialize<'de> for SkippedSeq<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Each<'a>(std::marker::PhantomData<&'a [u8]>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Each<'a> {
            type Value = SkippedSeq<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence of strings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<Skipped<'de>>()?.is_some() {}
                Ok(SkippedSeq(std::marker::PhantomData))
            }
        }
        d.deserialize_seq(Each(std::marker::PhantomData))
    }
}

/// What listings show of a note, interaction or reminder, kept in the `items` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSummary {
    pub kind: Kind,
    /// The day it happened (interaction), is due (reminder: the later of its due date and its
    /// snooze end) or was written (note).
    pub day: i32,
    /// Milliseconds since the epoch when created: orders items of one day.
    pub created: i64,
    pub contacts: Vec<DocId>,
    /// Interaction kind (`call`, ...); empty for notes and reminders.
    pub label: String,
    /// The first line of the text, at most [`SNIPPET_CHARS`] characters.
    pub snippet: String,
    /// Reminders: done.
    pub done: bool,
}

pub const SNIPPET_CHARS: usize = 100;

/// An [`ItemSummary`] decoded without copying its strings (contacts stay hex text): the same
/// fields in the same order, so it reads the same serialized bytes (for scanning every item).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ItemSummaryRef<'a> {
    pub kind: Kind,
    pub day: i32,
    pub created: i64,
    #[serde(borrow)]
    pub contacts: Vec<&'a str>,
    pub label: &'a str,
    pub snippet: &'a str,
    pub done: bool,
}

/// Everything one document contributes to the derived tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocIndex {
    pub terms: BTreeMap<String, u8>,
    pub contact: Option<ContactSummary>,
    pub item: Option<ItemSummary>,
    /// Folded full names (contacts).
    pub names: BTreeSet<String>,
    /// Lower-cased emails (contacts).
    pub emails: BTreeSet<String>,
    /// Digits of phone numbers (contacts), for import de-duplication.
    pub phones: BTreeSet<String>,
    /// vCard UIDs (contacts).
    pub uids: BTreeSet<String>,
    /// Open reminder: the day it is due (or its snooze end).
    pub due_day: Option<i32>,
    /// Contacts (not archived, not merged) with a date that matters: the `ix_dates` row.
    pub dates: Option<ContactDates>,
}

/// A contact's dates that matter as `kith due` and `kith digest` read them (the `ix_dates`
/// table), so they load no document: its lead time and each date whose value is a date.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDates {
    /// Lead time in days ([`lead_days`]).
    pub lead: u8,
    /// (label, value as stored): `birthday` first, then the contact's dates in key order, each
    /// labelled by its trimmed label (`date` when it has none).
    pub dates: Vec<(String, String)>,
}

fn add_terms(terms: &mut BTreeMap<String, u8>, text: &str, w: u8) {
    for t in text::terms(text) {
        let e = terms.entry(t).or_insert(0);
        if *e < w {
            *e = w;
        }
    }
}

/// The day of a timestamp in milliseconds, UTC.
pub fn day_of_ms(ms: i64) -> i32 {
    Date::from_unix_ms(ms, 0).to_days()
}

fn parse_day(s: &str) -> Option<i32> {
    s.parse::<Date>().ok().map(|d| d.to_days())
}

/// First line of `s`, trimmed, at most `SNIPPET_CHARS` characters.
pub fn snippet(s: &str) -> String {
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(SNIPPET_CHARS).collect();
    if line.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out
}

/// Normalises a phone number to its digits (a leading `+` kept) for matching.
pub fn phone_key(p: &str) -> String {
    let mut out = String::new();
    for (i, c) in p.trim().chars().enumerate() {
        if c.is_ascii_digit() || (i == 0 && c == '+') {
            out.push(c);
        }
    }
    out
}

/// Shortest digit run a phone search matches.
pub const PHONE_MIN_DIGITS: usize = 4;

/// The search terms of a phone number: every suffix of its digits with at least
/// [`PHONE_MIN_DIGITS`] digits. Search matches terms by prefix, so any run of four or more
/// consecutive digits finds the number, whatever the formatting on either side
/// (`+1 (555) 010-9999` is found by `5550109999`, `555-010` or `0109999`).
pub fn phone_terms(p: &str) -> Vec<String> {
    let digits: Vec<char> = p.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < PHONE_MIN_DIGITS {
        return Vec::new();
    }
    (0..=digits.len() - PHONE_MIN_DIGITS)
        .map(|i| digits[i..].iter().collect())
        .collect()
}

/// The digits to search for when a query is a phone number (digits, spaces and `+-().`
/// only, with at least [`PHONE_MIN_DIGITS`] digits); None for any other query.
pub fn phone_query(q: &str) -> Option<String> {
    let q = q.trim();
    if !q
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        return None;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= PHONE_MIN_DIGITS).then_some(digits)
}

/// Derives a document's index entries. Documents of no known kind contribute nothing.
pub fn derive<D: ReadDoc>(doc: &D) -> (Option<Kind>, DocIndex) {
    let kind = model::doc_kind(doc);
    let mut ix = DocIndex::default();
    // A removed item (`kith rm`) contributes nothing: no timeline, search or due entry.
    if matches!(
        kind,
        Some(Kind::Note | Kind::Interaction | Kind::Reminder | Kind::Opportunity)
    ) && model::item_deleted(doc)
    {
        return (kind, ix);
    }
    ix = match kind {
        Some(Kind::Contact) => contact_index(&model::read_contact(doc)),
        Some(Kind::Note) => note_index(&model::read_note(doc)),
        Some(Kind::Interaction) => interaction_index(&model::read_interaction(doc)),
        Some(Kind::Reminder) => reminder_index(&model::read_reminder(doc)),
        Some(Kind::Opportunity) => opportunity_index(&model::read_opportunity(doc)),
        Some(Kind::Devices) | None => ix,
    };
    (kind, ix)
}

/// What a contact contributes to the derived tables: `derive` of a document that reads as `c`
/// (import derives a document it has just built from the value it built it from).
pub fn contact_index(c: &model::Contact) -> DocIndex {
    let mut ix = DocIndex::default();
    let t = &mut ix.terms;
    add_terms(t, &c.name, weight::NAME);
    add_terms(t, &c.nickname, weight::NAME);
    for e in c.emails.values() {
        add_terms(t, &e.value, weight::EMAIL);
        let e = e.value.trim().to_lowercase();
        if !e.is_empty() {
            ix.emails.insert(e);
        }
    }
    for r in c.orgs.values() {
        add_terms(t, &r.org, weight::ORG);
        add_terms(t, &r.unit, weight::ORG);
        add_terms(t, &r.title, weight::ORG);
    }
    for tag in c.tags.iter().chain(c.kinds.iter()) {
        add_terms(t, tag, weight::TAG);
    }
    add_terms(t, &c.met, weight::TEXT_SHORT);
    // "How they could help": `kith search` and `kith who-knows` find a contact by it.
    add_terms(t, &c.help, weight::TEXT_SHORT);
    for v in c.custom.values() {
        add_terms(t, v, weight::TEXT_SHORT);
    }
    for a in c.addresses.values() {
        add_terms(t, &a.locality, weight::TEXT_SHORT);
        add_terms(t, &a.country, weight::TEXT_SHORT);
    }
    for p in c.phones.values() {
        let k = phone_key(&p.value);
        if !k.is_empty() {
            ix.phones.insert(k);
        }
        for term in phone_terms(&p.value) {
            let e = t.entry(term).or_insert(0);
            *e = (*e).max(weight::PHONE);
        }
    }
    let folded = text::fold(c.name.trim());
    if !folded.is_empty() {
        ix.names.insert(folded.clone());
    }
    if !c.uid.is_empty() {
        ix.uids.insert(c.uid.clone());
    }
    if !c.archived && c.merged_into.is_empty() {
        let lead = lead_days(&c.lead);
        let labelled =
            std::iter::once(("birthday", &c.birthday)).chain(c.dates.values().map(|d| {
                let label = d.label.trim();
                (if label.is_empty() { "date" } else { label }, &d.value)
            }));
        let mut dates = Vec::new();
        for (label, value) in labelled {
            if let Some(term) = date_term_of(value) {
                let e = ix.terms.entry(term).or_insert(0);
                *e = (*e).max(lead);
                dates.push((label.to_string(), value.clone()));
            }
        }
        if !dates.is_empty() {
            ix.dates = Some(ContactDates { lead, dates });
        }
    }
    for l in c.links.values() {
        if let Some(term) = link_term_of(&l.to, &l.rel) {
            ix.terms.insert(term, weight::TAG);
        }
    }
    let role = c.primary_role().cloned().unwrap_or_default();
    ix.contact = Some(ContactSummary {
        name: c.name.clone(),
        sort: folded,
        org: role.org,
        title: role.title,
        email: c.primary_email().unwrap_or("").to_string(),
        tags: c.tags.iter().cloned().collect(),
        kinds: c.kinds.iter().cloned().collect(),
        every: c.every.clone(),
        archived: c.archived,
        merged_into: c.merged_into.clone(),
        created_day: day_of_ms(c.created),
        birthday: c.birthday.clone(),
        help: c.help.clone(),
    });
    ix
}

/// What a note (not removed) contributes to the derived tables: `derive` of a document that reads as `n`
/// (import derives a document it has just built from the value it built it from).
pub fn note_index(n: &model::Note) -> DocIndex {
    let mut ix = DocIndex::default();
    add_terms(&mut ix.terms, &n.body, weight::BODY);
    for tag in &n.tags {
        add_terms(&mut ix.terms, tag, weight::TAG);
    }
    ix.item = Some(ItemSummary {
        kind: Kind::Note,
        day: day_of_ms(n.created),
        created: n.created,
        contacts: n.contacts.iter().copied().collect(),
        label: String::new(),
        snippet: snippet(&n.body),
        done: false,
    });
    ix
}

/// What an interaction (not removed) contributes to the derived tables: `derive` of a document that reads as `i`
/// (import derives a document it has just built from the value it built it from).
pub fn interaction_index(i: &model::Interaction) -> DocIndex {
    let mut ix = DocIndex::default();
    add_terms(&mut ix.terms, &i.summary, weight::BODY);
    add_terms(&mut ix.terms, &i.kind, weight::BODY);
    ix.item = Some(ItemSummary {
        kind: Kind::Interaction,
        day: parse_day(&i.date).unwrap_or_else(|| day_of_ms(i.created)),
        created: i.created,
        contacts: i.contacts.iter().copied().collect(),
        label: i.kind.clone(),
        snippet: snippet(&i.summary),
        done: false,
    });
    ix
}

/// What a reminder (not removed) contributes to the derived tables: `derive` of a document that reads as `r`
/// (import derives a document it has just built from the value it built it from).
pub fn reminder_index(r: &model::Reminder) -> DocIndex {
    let mut ix = DocIndex::default();
    add_terms(&mut ix.terms, &r.text, weight::BODY);
    // One date per reminder: a snooze moves it, in the timeline as in `due`.
    let due = parse_day(&r.due).unwrap_or_else(|| day_of_ms(r.created));
    let day = due.max(parse_day(&r.snoozed_until).unwrap_or(i32::MIN));
    if !r.done {
        ix.due_day = Some(day);
    }
    ix.item = Some(ItemSummary {
        kind: Kind::Reminder,
        day,
        created: r.created,
        contacts: r.contact.into_iter().collect(),
        label: String::new(),
        snippet: snippet(&r.text),
        done: r.done,
    });
    ix
}

/// What an opportunity contributes to the derived tables: `derive` of a document that reads as
/// `o`.
pub fn opportunity_index(o: &model::Opportunity) -> DocIndex {
    let mut ix = DocIndex::default();
    add_terms(&mut ix.terms, &o.title, weight::TEXT_SHORT);
    add_terms(&mut ix.terms, &o.note, weight::BODY);
    ix.item = Some(ItemSummary {
        kind: Kind::Opportunity,
        day: day_of_ms(o.created),
        created: o.created,
        contacts: o.contacts.iter().copied().collect(),
        label: o.stage.clone(),
        snippet: snippet(&o.title),
        done: false,
    });
    ix
}

/// Prefix of the link terms in the full-text index. A contact with a link to contact `X` with
/// relation `rel` adds the term `LINK_TERM_PREFIX + X's 32 hex digits + ":" + rel`, so the
/// contacts linking to `X` (its incoming links, shown by `kith show`) and every link of the
/// network (`kith graph`) are read from posting lists, without reading any document. Like date
/// terms, search never produces such a term.
pub const LINK_TERM_PREFIX: &str = "\u{1}link:";

/// The link term of a link (target contact id in hex, relation), None when the target is not an
/// id.
pub fn link_term_of(to: &str, rel: &str) -> Option<String> {
    let id: DocId = to.trim().parse().ok()?;
    Some(format!("{}{}", link_term(id), rel.trim()))
}

/// The prefix of every link term to contact `id`: [`LINK_TERM_PREFIX`], its hex, `:`.
pub fn link_term(id: DocId) -> String {
    format!("{LINK_TERM_PREFIX}{}:", id.to_hex())
}

/// Splits a link term into the target id and the relation.
pub fn parse_link_term(term: &str) -> Option<(DocId, &str)> {
    let rest = term.strip_prefix(LINK_TERM_PREFIX)?;
    let (hex, rel) = rest.split_once(':')?;
    Some((hex.parse().ok()?, rel))
}

/// Lead time of dates that matter when a contact sets none: `kith due` shows a birthday a week
/// ahead.
pub const DEFAULT_LEAD_DAYS: u8 = 7;
/// The longest lead time: it is kept as the weight byte of a date term.
pub const MAX_LEAD_DAYS: i64 = 255;

/// Prefix of the date terms in the full-text index. A date that matters (birthday or any
/// contact date) adds the term `DATE_TERM_PREFIX + "MMDD"` with the contact's lead time in days
/// as its weight, so `kith due` finds the contacts with a date on a given month and day, and
/// whose lead time reaches it, without reading any document. Search never produces such a term
/// (its terms are folded words), so these never show up as search hits.
pub const DATE_TERM_PREFIX: &str = "\u{1}date:";

/// The date term of a birthday or contact date (`YYYY-MM-DD` or `--MM-DD`), None when it is
/// not a date.
pub fn date_term_of(value: &str) -> Option<String> {
    let p: PartialDate = value.trim().parse().ok()?;
    Some(date_term(p.month, p.day))
}

/// The date term of a month and day.
pub fn date_term(month: u8, day: u8) -> String {
    format!("{DATE_TERM_PREFIX}{month:02}{day:02}")
}

/// A contact's lead time in days: its `lead` span (approximate days, at most
/// [`MAX_LEAD_DAYS`]), or [`DEFAULT_LEAD_DAYS`] when unset or unreadable.
pub fn lead_days(lead: &str) -> u8 {
    match lead.parse::<Span>() {
        Ok(s) => s.approx_days().clamp(0, MAX_LEAD_DAYS) as u8,
        Err(_) => DEFAULT_LEAD_DAYS,
    }
}

/// The day a contact is next due for a keep-in-touch, from its cadence and the day of the last
/// interaction with it (or the day it was created when there was none). None without a cadence,
/// or for archived and merged contacts.
pub fn cadence_due(c: &ContactSummary, last_contact_day: Option<i32>) -> Option<i32> {
    if c.every.is_empty() || c.archived || !c.merged_into.is_empty() {
        return None;
    }
    let span: Span = c.every.parse().ok()?;
    let from = last_contact_day.unwrap_or(c.created_day);
    Some(span.add_to(Date::from_days(from)).to_days())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::AutoCommit;

    #[test]
    fn contact_index_has_weighted_terms_and_keys() {
        let mut doc = AutoCommit::new();
        let mut c = model::Contact {
            name: "Zoë Ångström".into(),
            ..Default::default()
        };
        c.emails.insert(
            "a".into(),
            model::Labeled {
                value: "Zoe@Example.com".into(),
                label: String::new(),
            },
        );
        c.phones.insert(
            "p".into(),
            model::Labeled {
                value: "+1 (555) 010-9999".into(),
                label: String::new(),
            },
        );
        c.tags.insert("climbing".into());
        c.help = "intros to Analysts".into();
        c.every = "30d".into();
        model::write_contact(&mut doc, &c, 86_400_000 * 3).unwrap();
        let (kind, ix) = derive(&doc);
        assert_eq!(kind, Some(Kind::Contact));
        assert_eq!(ix.terms.get("zoe"), Some(&weight::NAME));
        assert_eq!(ix.terms.get("angstrom"), Some(&weight::NAME));
        assert_eq!(ix.terms.get("example"), Some(&weight::EMAIL));
        assert_eq!(ix.terms.get("climbing"), Some(&weight::TAG));
        assert_eq!(ix.terms.get("analysts"), Some(&weight::TEXT_SHORT));
        assert!(ix.emails.contains("zoe@example.com"));
        assert!(ix.phones.contains("+15550109999"));
        assert_eq!(ix.terms.get("15550109999"), Some(&weight::PHONE));
        assert_eq!(ix.terms.get("0109999"), Some(&weight::PHONE));
        assert_eq!(ix.terms.get("9999"), Some(&weight::PHONE));
        assert!(!ix.terms.contains_key("999"));
        assert!(ix.names.contains("zoe angstrom"));
        let s = ix.contact.unwrap();
        assert_eq!(s.created_day, 3);
        assert_eq!(cadence_due(&s, None), Some(33));
        assert_eq!(cadence_due(&s, Some(10)), Some(40));
    }

    #[test]
    fn reminder_due_day_respects_done_and_snooze() {
        let mut doc = AutoCommit::new();
        let mut r = model::Reminder {
            due: "1970-01-05".into(),
            text: "Call".into(),
            ..Default::default()
        };
        model::write_reminder(&mut doc, &r, 0).unwrap();
        assert_eq!(derive(&doc).1.due_day, Some(4));
        r.snoozed_until = "1970-01-09".into();
        model::write_reminder(&mut doc, &r, 1).unwrap();
        assert_eq!(derive(&doc).1.due_day, Some(8));
        // The timeline shows the same date as `due`.
        assert_eq!(derive(&doc).1.item.unwrap().day, 8);
        r.done = true;
        model::write_reminder(&mut doc, &r, 2).unwrap();
        assert_eq!(derive(&doc).1.due_day, None);
    }

    #[test]
    fn phone_queries_are_digit_runs() {
        assert_eq!(
            phone_query("+1 (555) 010-9999").as_deref(),
            Some("15550109999")
        );
        assert_eq!(phone_query("555.010").as_deref(), Some("555010"));
        assert_eq!(phone_query("555"), None);
        assert_eq!(phone_query("ada 5550"), None);
        assert!(phone_terms("12").is_empty());
        assert_eq!(phone_terms("12-345"), ["12345", "2345"]);
    }

    #[test]
    fn dates_that_matter_add_date_terms_weighted_by_lead() {
        let mut doc = AutoCommit::new();
        let mut c = model::Contact {
            name: "Grace".into(),
            birthday: "1906-12-09".into(),
            ..Default::default()
        };
        c.dates.insert(
            "a".into(),
            model::Labeled {
                value: "--05-01".into(),
                label: "anniversary".into(),
            },
        );
        c.dates.insert(
            "b".into(),
            model::Labeled {
                value: "not a date".into(),
                label: "junk".into(),
            },
        );
        c.dates.insert(
            "c".into(),
            model::Labeled {
                value: "2001-02-03".into(),
                label: "  ".into(),
            },
        );
        model::write_contact(&mut doc, &c, 0).unwrap();
        let ix = derive(&doc).1;
        assert_eq!(ix.terms.get(&date_term(12, 9)), Some(&DEFAULT_LEAD_DAYS));
        assert_eq!(ix.terms.get(&date_term(5, 1)), Some(&DEFAULT_LEAD_DAYS));
        // The `ix_dates` row: birthday first, then the dates that are dates, in key order.
        let pair = |l: &str, v: &str| (l.to_string(), v.to_string());
        assert_eq!(
            ix.dates,
            Some(ContactDates {
                lead: DEFAULT_LEAD_DAYS,
                dates: vec![
                    pair("birthday", "1906-12-09"),
                    pair("anniversary", "--05-01"),
                    pair("date", "2001-02-03"),
                ],
            })
        );
        c.lead = "2w".into();
        model::write_contact(&mut doc, &c, 1).unwrap();
        assert_eq!(derive(&doc).1.terms.get(&date_term(12, 9)), Some(&14));
        assert_eq!(derive(&doc).1.dates.map(|d| d.lead), Some(14));
        c.archived = true;
        model::write_contact(&mut doc, &c, 2).unwrap();
        assert!(!derive(&doc)
            .1
            .terms
            .keys()
            .any(|t| t.starts_with(DATE_TERM_PREFIX)));
        assert_eq!(derive(&doc).1.dates, None);
        assert_eq!(lead_days("1y"), 255);
        assert_eq!(lead_days("1d"), 1);
        assert_eq!(lead_days("junk"), DEFAULT_LEAD_DAYS);
        // Search terms never start with the prefix.
        assert!(text::terms("date 0501 \u{1}date:0501")
            .iter()
            .all(|t| !t.starts_with(DATE_TERM_PREFIX)));
    }

    #[test]
    fn snippets_take_the_first_line() {
        assert_eq!(snippet("\n  first line \nsecond"), "first line");
        let long = "x".repeat(300);
        assert_eq!(snippet(&long).chars().count(), SNIPPET_CHARS + 1);
    }
}
