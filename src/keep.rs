//! Relationship-keeping use cases (issue 11): dates that matter in `kith due`.
//!
//! Invariant, as for `app.rs`: nothing here prints or reads the environment. Every query reads
//! the derived tables first and loads only the few documents they point at.

use std::collections::BTreeSet;

use kith_core::index::{self, date_term, lead_days};
use kith_core::model;
use kith_core::time::{is_leap_year, Date, PartialDate, Span};
use kith_core::DocId;

use crate::app::{App, DueRow, Result};
use crate::store::Reader;

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
            date: self.on.to_string(),
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
        let today = self.today;
        let within_days = within.add_to(today).to_days() - today.to_days();
        let horizon = within_days.max(index::MAX_LEAD_DAYS as i32).min(366);
        let mut ords: BTreeSet<u32> = BTreeSet::new();
        for k in 0..=horizon {
            let d = today.add_days(k);
            let mut terms = vec![date_term(d.month, d.day)];
            if d.month == 2 && d.day == 28 && !is_leap_year(d.year) {
                terms.push(date_term(2, 29));
            }
            for term in terms {
                for (ord, (lead, exact)) in r.postings_prefix(&term)? {
                    if exact && (k <= i32::from(lead) || k <= within_days) {
                        ords.insert(ord);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for ord in ords {
            let Some(id) = r.id_of_ord(ord)? else {
                continue;
            };
            let Some(doc) = r.load(id)? else { continue };
            let c = model::read_contact(&doc);
            if c.archived || !c.merged_into.is_empty() {
                continue;
            }
            let reach = i32::from(lead_days(&c.lead)).max(within_days);
            let dates = std::iter::once(("birthday".to_string(), c.birthday.clone())).chain(
                c.dates.values().map(|d| {
                    let label = d.label.trim();
                    let label = if label.is_empty() { "date" } else { label };
                    (label.to_string(), d.value.clone())
                }),
            );
            for (label, value) in dates {
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
                    name: c.name.clone(),
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
