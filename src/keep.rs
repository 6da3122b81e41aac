//! Relationship-keeping use cases (issue 11): dates that matter in `kith due`, `kith digest`.
//!
//! Invariant, as for `app.rs`: nothing here prints or reads the environment. Every query reads
//! the derived tables first and loads only the few documents they point at.

pub mod graph;
pub mod history;
pub mod opp;

use std::collections::{BTreeSet, HashMap};

use kith_core::index::{self, date_term};
use kith_core::model;
use kith_core::time::{is_leap_year, Date, PartialDate, Span};
use kith_core::DocId;
use serde::Serialize;

use crate::app::{App, DueRow, Result};
use crate::store::{ContactDays, Lookup, Reader};

/// One date that matters of one contact, on its next occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcomingDate {
    pub contact: DocId,
    pub name: String,
    /// `birthday`, or the date's label (`date` when it has none).
    pub label: String,
    pub on: Date,
    /// Days from today (0 = today).
    pub days: i32,
    /// Age reached (birthday) or years since (other dates) on that day, when the year is known.
    pub years: Option<i32>,
}

impl UpcomingDate {
    /// What `kith due` and `kith digest` say about it.
    pub fn text(&self) -> String {
        match (self.label.as_str(), self.years) {
            ("birthday", Some(y)) => format!("birthday: turns {y}"),
            ("birthday", None) => "birthday (year unknown)".to_string(),
            (l, Some(1)) => format!("{l}: 1 year"),
            (l, Some(y)) if y > 0 => format!("{l}: {y} years"),
            (l, _) => l.to_string(),
        }
    }

    pub fn due_row(&self) -> DueRow {
        DueRow {
            kind: if self.label == "birthday" {
                "birthday"
            } else {
                "date"
            },
            id: self.contact,
            date: self.on,
            days: self.days,
            contact: Some(self.contact),
            name: self.name.clone(),
            text: self.text(),
            label: Some(self.label.clone()),
            years: self.years,
            sort: self.on.to_days(),
        }
    }
}

impl App {
    /// Birthdays and other contact dates whose next occurrence (today included) is within the
    /// contact's lead time (`lead`, default 7 days) or within `within`, whichever is longer.
    ///
    /// Reads the date terms of the full-text index (see [`index::DATE_TERM_PREFIX`]): one
    /// posting list per month and day of the horizon, filtered by lead time, and loads only the
    /// contacts found there.
    pub fn upcoming_dates(&self, r: &Reader, within: Span) -> Result<Vec<UpcomingDate>> {
        let today = self.today();
        let within_days = within.add_to(today).to_days() - today.to_days();
        let horizon = within_days.max(index::MAX_LEAD_DAYS as i32).min(366);
        // The first day of the horizon (days from today) on which each date term falls; 29
        // February also falls on 28 February of a year that has none.
        let mut first: HashMap<String, i32> = HashMap::new();
        for k in 0..=horizon {
            let d = today.add_days(k);
            first.entry(date_term(d.month, d.day)).or_insert(k);
            if d.month == 2 && d.day == 28 && !is_leap_year(d.year) {
                first.entry(date_term(2, 29)).or_insert(k);
            }
        }
        // One range scan over every date term: a contact is in when the term's first day is
        // within its lead time (the posting's weight) or within `within`.
        let mut ords: BTreeSet<u32> = BTreeSet::new();
        for (term, postings) in r.terms_with_prefix(index::DATE_TERM_PREFIX)? {
            let Some(&k) = first.get(&term) else {
                continue;
            };
            for (ord, lead) in postings {
                if k <= i32::from(lead) || k <= within_days {
                    ords.insert(ord);
                }
            }
        }
        let look = r.lookup()?;
        let mut out = Vec::new();
        for ord in ords {
            let Some(id) = r.id_of_ord(ord)? else {
                continue;
            };
            let name = look.with_contact(id, |c| {
                (!c.archived && c.merged_into.is_empty()).then(|| c.name.to_string())
            })?;
            let Some(Some(name)) = name else { continue };
            let Some(cd) = r.dates_of(id)? else { continue };
            let reach = i32::from(cd.lead).max(within_days);
            for (label, value) in cd.dates {
                let Ok(p) = value.trim().parse::<PartialDate>() else {
                    continue;
                };
                let on = p.next_occurrence(today);
                let days = on.to_days() - today.to_days();
                if days > reach {
                    continue;
                }
                out.push(UpcomingDate {
                    contact: id,
                    name: name.clone(),
                    label,
                    on,
                    days,
                    years: p.year.map(|y| on.year - y).filter(|y| *y >= 0),
                });
            }
        }
        out.sort_by(|a, b| {
            (a.days, &a.name, a.contact, &a.label).cmp(&(b.days, &b.name, b.contact, &b.label))
        });
        Ok(out)
    }
}

/// Parses a lead time (`14d`, `2w`, `1m`) into its canonical span, at most
/// [`index::MAX_LEAD_DAYS`] days.
pub fn parse_lead(s: &str) -> Result<String> {
    let span = crate::app::parse_span(s)?;
    if span.approx_days() > index::MAX_LEAD_DAYS {
        return Err(crate::app::AppError::hint(
            format!(
                "lead time '{s}' is too long: at most {} days",
                index::MAX_LEAD_DAYS
            ),
            "e.g. `kith set REF lead 14d` shows that contact's dates two weeks ahead",
        ));
    }
    Ok(span.to_string())
}

/// `kith set REF date.LABEL VALUE`: sets the contact's date with that label (case ignored),
/// adding it when there is none; an empty value removes it. `date.birthday` is the birthday.
pub fn set_date(c: &mut model::Contact, label: &str, value: &str, key: String) -> Result<()> {
    let label = label.trim();
    if label.is_empty() {
        return Err(crate::app::AppError::hint(
            "a date needs a label",
            "e.g. `kith set REF date.anniversary 2020-05-01`",
        ));
    }
    let parsed = if value.is_empty() {
        String::new()
    } else {
        crate::app::parse_partial_date(value)?
    };
    if label.eq_ignore_ascii_case("birthday") {
        c.birthday = parsed;
        return Ok(());
    }
    let same: Vec<String> = c
        .dates
        .iter()
        .filter(|(_, d)| d.label.trim().eq_ignore_ascii_case(label))
        .map(|(k, _)| k.clone())
        .collect();
    if parsed.is_empty() {
        for k in &same {
            c.dates.remove(k);
        }
        return Ok(());
    }
    match same.first() {
        Some(k) => {
            if let Some(d) = c.dates.get_mut(k) {
                d.value = parsed;
            }
        }
        None => {
            c.dates.insert(
                key,
                model::Labeled {
                    value: parsed,
                    label: label.to_string(),
                },
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The digest.

/// How many of a contact's most recent gaps between interactions make their usual rhythm.
pub const RHYTHM_GAPS: usize = 10;
/// A tie is fading when the current gap is more than this many times the usual rhythm...
pub const FADING_FACTOR: i32 = 2;
/// ...and longer than this many days.
pub const FADING_MIN_DAYS: i32 = 30;
/// Suggested reconnections: contacts last met more than this many days ago.
pub const RECONNECT_AFTER_DAYS: i32 = 180;
/// At most this many suggestions.
pub const RECONNECT_MAX: usize = 3;

/// A contact's rhythm: the median gap between their last interactions and the current gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rhythm {
    /// Median of the gaps (days) between consecutive interaction days, over the last
    /// [`RHYTHM_GAPS`] gaps.
    pub median_gap: i32,
    /// Days from the last interaction (on or before today) to today.
    pub current_gap: i32,
    /// Interaction days counted.
    pub interactions: usize,
}

impl Rhythm {
    /// The fading rule: current gap > [`FADING_FACTOR`] × median gap and > [`FADING_MIN_DAYS`].
    pub fn fading(&self) -> bool {
        self.current_gap > FADING_FACTOR * self.median_gap && self.current_gap > FADING_MIN_DAYS
    }
}

/// The rhythm of a contact from the days of their interactions (any order, duplicates and
/// planned future days allowed: only distinct days up to today count). None with fewer than
/// three interaction days (two gaps), which is too little to call anything usual.
pub fn rhythm(days: &[i32], today: i32) -> Option<Rhythm> {
    if days.is_sorted() {
        rhythm_sorted(days, today)
    } else {
        let mut sorted = days.to_vec();
        sorted.sort_unstable();
        rhythm_sorted(&sorted, today)
    }
}

/// [`rhythm`] written the plain way: the reference the tests hold the one above to.
#[cfg(test)]
fn rhythm_any(days: &[i32], today: i32) -> Option<Rhythm> {
    let mut d: Vec<i32> = days.iter().copied().filter(|d| *d <= today).collect();
    d.sort_unstable();
    d.dedup();
    if d.len() < 3 {
        return None;
    }
    let recent = &d[d.len().saturating_sub(RHYTHM_GAPS + 1)..];
    let mut gaps: Vec<i32> = recent.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    let n = gaps.len();
    let median_gap = if n % 2 == 1 {
        gaps[n / 2]
    } else {
        (gaps[n / 2 - 1] + gaps[n / 2]) / 2
    };
    Some(Rhythm {
        median_gap,
        current_gap: today - d[d.len() - 1],
        interactions: d.len(),
    })
}

/// [`rhythm`] of days in ascending order (as `ix_contact_days` keeps them), without
/// allocating: the digest computes it for every contact silent for a month or more.
fn rhythm_sorted(days: &[i32], today: i32) -> Option<Rhythm> {
    let past = &days[..days.partition_point(|d| *d <= today)];
    let interactions = 1 + past.windows(2).filter(|w| w[0] != w[1]).count();
    if past.is_empty() || interactions < 3 {
        return None;
    }
    // The last RHYTHM_GAPS + 1 distinct days, newest first.
    let mut recent = [0i32; RHYTHM_GAPS + 1];
    let mut k = 0;
    for &d in past.iter().rev() {
        if k > 0 && recent[k - 1] == d {
            continue;
        }
        if k == recent.len() {
            break;
        }
        recent[k] = d;
        k += 1;
    }
    let mut gaps = [0i32; RHYTHM_GAPS];
    let n = k - 1;
    for i in 0..n {
        gaps[i] = recent[i] - recent[i + 1];
    }
    let gaps = &mut gaps[..n];
    gaps.sort_unstable();
    let median_gap = if n % 2 == 1 {
        gaps[n / 2]
    } else {
        (gaps[n / 2 - 1] + gaps[n / 2]) / 2
    };
    Some(Rhythm {
        median_gap,
        current_gap: today - recent[0],
        interactions,
    })
}

/// A span of days in words: `3 days`, `5 weeks`, `8 months`, `2 years`. Written straight
/// into the line that shows it (no string of its own: the digest writes thousands).
pub fn span_words(days: i32) -> SpanWords {
    SpanWords(days)
}

/// [`span_words`]: displays as the span in words.
#[derive(Clone, Copy, Debug)]
pub struct SpanWords(i32);

impl std::fmt::Display for SpanWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let days = self.0;
        let (n, unit) = if days < 14 {
            (days, "day")
        } else if days < 60 {
            ((days + 3) / 7, "week")
        } else if days < 730 {
            ((days * 10 + 152) / 304, "month")
        } else {
            ((days + 182) / 365, "year")
        };
        if n == 1 {
            write!(f, "1 {unit}")
        } else {
            write!(f, "{n} {unit}s")
        }
    }
}

/// One line of the digest (also its JSON schema).
#[derive(Debug, Clone, Serialize)]
pub struct DigestLine {
    /// The contact (keep-in-touch, fading, dates, reconnect) or the reminder.
    pub id: DocId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<DocId>,
    pub name: String,
    /// The day it is due or happens, when it has one (`YYYY-MM-DD` in JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
    /// Days from today to `date` (negative when overdue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<i32>,
    /// Why it is here, in words.
    pub why: String,
}

/// `kith digest` (also its JSON schema).
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub today: String,
    /// Contacts past their keep-in-touch cadence, most overdue first.
    pub overdue: Vec<DigestLine>,
    /// Contacts whose current gap is well above their usual rhythm, longest gap first.
    pub fading: Vec<DigestLine>,
    /// Birthdays and other dates within each lead time or `--within`.
    pub dates: Vec<DigestLine>,
    /// Open reminders due by the end of `--within`, overdue first (promises excepted).
    pub reminders: Vec<DigestLine>,
    /// Every open promise ([`is_promise`]), whatever its date, the earliest first.
    pub promises: Vec<DigestLine>,
    /// Introductions asked of the user that are still pending (see
    /// [`App::pending_introductions`]); absent from the JSON while empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub introductions: Vec<DigestLine>,
    /// People not met for a long time, with the most interactions first.
    pub reconnect: Vec<DigestLine>,
}

impl Digest {
    pub fn is_empty(&self) -> bool {
        self.overdue.is_empty()
            && self.fading.is_empty()
            && self.dates.is_empty()
            && self.reminders.is_empty()
            && self.promises.is_empty()
            && self.introductions.is_empty()
            && self.reconnect.is_empty()
    }
}

/// What `kith promise` puts before a reminder's text; an open reminder whose text starts with
/// it is a promise (the digest lists it under "Promises you made", whatever its date).
pub const PROMISE_PREFIX: &str = "Promised:";

/// Whether a reminder's text (or snippet) marks it as a promise.
pub fn is_promise(text: &str) -> bool {
    text.trim_start().starts_with(PROMISE_PREFIX)
}

/// What [`App::silent_ties`] finds among the contacts silent for more than
/// [`FADING_MIN_DAYS`].
pub struct SilentTies {
    /// Fading ties ([`Rhythm::fading`]), the longest gap first (then by name).
    pub fading: Vec<DigestLine>,
    /// Candidates to reconnect with (silent for more than [`RECONNECT_AFTER_DAYS`], not
    /// fading): (interactions up to today, gap, id, last day), unsorted.
    pub candidates: Vec<(usize, i32, DocId, i32)>,
}

/// A digest line dated `day` (days from `today` filled in).
fn digest_line(
    today: i32,
    id: DocId,
    contact: Option<DocId>,
    name: String,
    day: Option<i32>,
    why: String,
) -> DigestLine {
    DigestLine {
        id,
        contact,
        name,
        date: day.map(Date::from_days),
        days: day.map(|d| d - today),
        why,
    }
}

impl App {
    /// Fading ties (and, when `candidates`, the candidates to reconnect with) among `days`
    /// (every contact's interaction days, `Reader::contact_days`), leaving out the contacts in
    /// `skip` (the digest's overdue ones). Reads a contact's summary only for a fading tie: the
    /// digest and `kith stats` share this one pass over `ix_contact_days`.
    pub fn silent_ties(
        &self,
        look: &Lookup,
        days: &ContactDays,
        today: i32,
        skip: &BTreeSet<DocId>,
        candidates: bool,
    ) -> Result<SilentTies> {
        let mut fading: Vec<(i32, DigestLine)> = Vec::new();
        let mut found = Vec::new();
        for (id, days) in days.iter() {
            let Some(&last) = days.last() else { continue };
            let gap = today - last;
            if gap <= FADING_MIN_DAYS || skip.contains(&id) {
                continue;
            }
            match rhythm(days, today) {
                Some(rh) if rh.fading() => {
                    let name = look.with_contact(id, |s| {
                        (!s.archived && s.merged_into.is_empty()).then(|| s.name.to_string())
                    })?;
                    let Some(Some(name)) = name else { continue };
                    let why = format!(
                        "last spoke {} ago; you used to talk every {} ({} interactions, median gap {} days)",
                        span_words(rh.current_gap),
                        span_words(rh.median_gap.max(1)),
                        rh.interactions,
                        rh.median_gap
                    );
                    fading.push((
                        rh.current_gap,
                        digest_line(today, id, Some(id), name, Some(today - rh.current_gap), why),
                    ));
                }
                _ if candidates && gap > RECONNECT_AFTER_DAYS => {
                    let n = days.iter().filter(|d| **d <= today).count();
                    if n > 0 {
                        found.push((n, gap, id, last));
                    }
                }
                _ => {}
            }
        }
        fading.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.name.cmp(&b.1.name)));
        Ok(SilentTies {
            fading: fading.into_iter().map(|(_, l)| l).collect(),
            candidates: found,
        })
    }
}

impl App {
    /// Introductions asked of the user that are still pending (not answered, or accepted and
    /// not made yet): `app/intro.rs`; the digest shows them under "Introductions".
    pub fn pending_introductions(&self, r: &Reader) -> Result<Vec<DigestLine>> {
        self.intros_pending(r)
    }

    /// `kith promise` as one use case: the date rule (today or later), the contact resolved
    /// and the promise written.
    pub fn promise_ref(&self, contact: &str, by: Date, text: &str) -> Result<DocId> {
        crate::app::check_reminder_date(by, self.today())?;
        let id = crate::app::resolve_contact(&self.vault.read()?, contact)?;
        self.promise(id, by, text)
    }

    /// `kith promise REF TEXT`: a reminder whose text starts with [`PROMISE_PREFIX`].
    pub fn promise(&self, contact: DocId, by: Date, text: &str) -> Result<DocId> {
        let text = text.trim();
        if text.is_empty() {
            return Err(crate::app::AppError::hint(
                "kith promise needs a text",
                "kith promise REF \"send the paper\" --in 1w",
            ));
        }
        let text = if is_promise(text) {
            text.to_string()
        } else {
            format!("{PROMISE_PREFIX} {text}")
        };
        self.remind(contact, by, &text)
    }

    /// `kith digest`: what needs the user today, each line saying why.
    pub fn digest(&self, within: Span) -> Result<Digest> {
        let r = self.vault.read()?;
        let look = r.lookup()?;
        let today = self.today().to_days();
        let until = within.add_to(self.today()).to_days();
        let mut listed: BTreeSet<DocId> = BTreeSet::new();
        let line = |id: DocId, contact: Option<DocId>, name: String, day: Option<i32>, why| {
            digest_line(today, id, contact, name, day, why)
        };

        // Every contact's interaction days, read once: the overdue lines take their last
        // contact from them (the same day as `ix_last_contact`), the fading ties their rhythm.
        let contact_days = r.contact_days()?;
        let mut overdue = Vec::new();
        for (day, id) in r.cadence_due(today)? {
            let last = contact_days.get(id).and_then(|d| d.last().copied());
            let Some((name, why)) = look.with_contact(id, |s| {
                let why = match last {
                    Some(last) => format!(
                        "keep in touch every {}; last contact {} ago",
                        s.every,
                        span_words(today - last)
                    ),
                    None => format!("keep in touch every {}; no contact logged yet", s.every),
                };
                (s.name.to_string(), why)
            })?
            else {
                continue;
            };
            listed.insert(id);
            overdue.push(line(id, Some(id), name, Some(day), why));
        }

        // Fading ties and reconnections: contacts whose last contact is long enough ago, each
        // with the day of every interaction (`ix_contact_days`, one row per contact).
        let silent = self.silent_ties(&look, &contact_days, today, &listed, true)?;
        let fading = silent.fading;
        let mut candidates = silent.candidates;
        // The best candidates by (interactions, gap), all of those tied with the last one kept,
        // then ordered by name too: the same as sorting every candidate by all three.
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut reconnect: Vec<(usize, i32, DigestLine)> = Vec::new();
        for (n, gap, id, last) in candidates {
            if reconnect.len() >= RECONNECT_MAX {
                let (bn, bgap, _) = &reconnect[RECONNECT_MAX - 1];
                if (n, gap) != (*bn, *bgap) {
                    break;
                }
            }
            let name = look.with_contact(id, |s| {
                (!s.archived && s.merged_into.is_empty()).then(|| s.name.to_string())
            })?;
            let Some(Some(name)) = name else { continue };
            let why = format!(
                "last contact {} ago ({} interaction{} logged)",
                span_words(gap),
                n,
                if n == 1 { "" } else { "s" }
            );
            reconnect.push((n, gap, line(id, Some(id), name, Some(last), why)));
        }
        reconnect.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(b.1.cmp(&a.1))
                .then(a.2.name.cmp(&b.2.name))
        });

        let dates = self
            .upcoming_dates(&r, within)?
            .into_iter()
            .map(|d| {
                let why = match d.days {
                    0 => format!("{} today", d.text()),
                    1 => format!("{} tomorrow", d.text()),
                    n => format!("{} in {n} days", d.text()),
                };
                line(
                    d.contact,
                    Some(d.contact),
                    d.name,
                    Some(d.on.to_days()),
                    why,
                )
            })
            .collect();

        let mut reminders = Vec::new();
        let mut promises = Vec::new();
        // Every open reminder: those within `within`, and promises whatever their date. The far
        // ones that are not promises are passed over without copying their text.
        r.scan_due(i32::MAX, |day, id, entry| {
            let promise = is_promise(entry.snippet);
            if !promise && day > until {
                return Ok(());
            }
            let contact = entry.contact.map(DocId);
            let name = match contact {
                Some(c) => look.contact_name(c)?,
                None => String::new(),
            };
            let why = match day - today {
                0 => format!("{}: due today", entry.snippet),
                n if n < 0 => format!("{}: overdue by {}", entry.snippet, span_words(-n)),
                n => format!("{}: due in {}", entry.snippet, span_words(n)),
            };
            let l = line(id, contact, name, Some(day), why);
            if promise {
                promises.push(l);
            } else {
                reminders.push(l);
            }
            Ok(())
        })?;
        let introductions = self.pending_introductions(&r)?;

        Ok(Digest {
            today: self.today().to_string(),
            overdue,
            fading,
            dates,
            reminders,
            promises,
            introductions,
            reconnect: reconnect
                .into_iter()
                .take(RECONNECT_MAX)
                .map(|(_, _, l)| l)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rhythm_is_the_median_of_recent_gaps() {
        // Monthly for a year, then silence.
        let days: Vec<i32> = (0..12).map(|i| i * 30).collect();
        let rh = rhythm(&days, 330 + 240).unwrap();
        assert_eq!(rh.median_gap, 30);
        assert_eq!(rh.current_gap, 240);
        assert!(rh.fading());
        // Within twice the rhythm: not fading.
        assert!(!rhythm(&days, 330 + 60).unwrap().fading());
        // Past twice the rhythm but under 30 days: not fading.
        let weekly: Vec<i32> = (0..5).map(|i| i * 7).collect();
        assert!(!rhythm(&weekly, 28 + 20).unwrap().fading());
        assert!(rhythm(&weekly, 28 + 31).unwrap().fading());
        // Too little history; planned meetings do not count.
        assert_eq!(rhythm(&[0, 10], 100), None);
        assert_eq!(rhythm(&[0, 10, 500], 100), None);
    }

    #[test]
    fn rhythm_of_sorted_days_is_the_general_one() {
        // Pseudo-random histories (duplicates, planned days, short ones), ascending and in
        // reverse: `rhythm` gives what the plain reference gives.
        let mut seed = 0x2545_f491_u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) % m) as i32
        };
        let mut some = 0;
        for _ in 0..5_000 {
            let n = next(30) as usize;
            let mut days: Vec<i32> = (0..n).map(|_| next(400)).collect();
            days.sort_unstable();
            let today = next(450);
            let fast = rhythm_sorted(&days, today);
            assert_eq!(fast, rhythm_any(&days, today), "{days:?} {today}");
            assert_eq!(fast, rhythm(&days, today));
            days.reverse();
            assert_eq!(fast, rhythm(&days, today), "reversed: {days:?} {today}");
            some += usize::from(fast.is_some());
        }
        assert!(some > 1_000, "too few histories with a rhythm: {some}");
    }

    #[test]
    fn spans_read_as_words() {
        assert_eq!(span_words(1).to_string(), "1 day");
        assert_eq!(span_words(35).to_string(), "5 weeks");
        assert_eq!(span_words(243).to_string(), "8 months");
        assert_eq!(span_words(800).to_string(), "2 years");
    }
}

// ---------------------------------------------------------------------------------------------
// Give and take.

/// Interaction kind of something the user did for a contact (`kith gave`).
pub const GAVE: &str = "gave";
/// Interaction kind of something a contact did for the user (`kith got`).
pub const GOT: &str = "got";

/// One favour, introduction, referral or piece of advice, either way (also its JSON schema).
#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    /// The interaction that records it.
    pub id: DocId,
    pub date: String,
    /// `gave` or `got`.
    pub direction: String,
    pub text: String,
}

/// What the user and one contact did for each other (also its JSON schema).
#[derive(Debug, Clone, Serialize)]
pub struct LedgerRow {
    pub contact: DocId,
    pub name: String,
    pub gave: u32,
    pub got: u32,
    /// `gave - got`: positive when the user gave more.
    pub balance: i64,
    /// Newest first; only for `kith ledger REF`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<LedgerEntry>,
}

impl App {
    /// The give-and-take of one contact, from the `gave`/`got` interactions on its timeline.
    pub fn ledger_of(&self, r: &Reader, contact: DocId, entries: bool) -> Result<LedgerRow> {
        let look = r.lookup()?;
        let name = look.contact(contact)?.map(|s| s.name).unwrap_or_default();
        let mut row = LedgerRow {
            contact,
            name,
            gave: 0,
            got: 0,
            balance: 0,
            entries: Vec::new(),
        };
        for (id, kind) in r.timeline(contact)? {
            if kind != kith_core::Kind::Interaction {
                continue;
            }
            let Some(i) = look.item(id)? else { continue };
            match i.label.as_str() {
                GAVE => row.gave += 1,
                GOT => row.got += 1,
                _ => continue,
            }
            if entries {
                row.entries.push(LedgerEntry {
                    id,
                    date: Date::from_days(i.day).to_string(),
                    direction: i.label.clone(),
                    text: i.snippet.clone(),
                });
            }
        }
        row.balance = i64::from(row.gave) - i64::from(row.got);
        row.entries
            .sort_by(|a, b| b.date.cmp(&a.date).then(a.id.cmp(&b.id)));
        Ok(row)
    }

    /// Everyone with a `gave` or `got` entry, by name. Finds the entries through the full-text
    /// postings of the interaction kind words, so it reads no document.
    pub fn ledger(&self) -> Result<Vec<LedgerRow>> {
        let r = self.vault.read()?;
        let look = r.lookup()?;
        let mut contacts: BTreeSet<DocId> = BTreeSet::new();
        for word in [GAVE, GOT] {
            for (ord, (_, exact)) in r.postings_prefix(word)? {
                if !exact {
                    continue;
                }
                let Some(id) = r.id_of_ord(ord)? else {
                    continue;
                };
                let Some(i) = look.item(id)? else { continue };
                if i.kind == kith_core::Kind::Interaction && i.label == word {
                    contacts.extend(i.contacts.iter().copied());
                }
            }
        }
        let mut rows = Vec::new();
        for c in contacts {
            let row = self.ledger_of(&r, c, false)?;
            if row.gave + row.got > 0 {
                rows.push(row);
            }
        }
        rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.contact.cmp(&b.contact)));
        Ok(rows)
    }
}
