//! `kith due`: overdue and upcoming reminders and contacts past their keep-in-touch cadence.
//!
//! Invariant: reads only the derived tables (due entries, cadence, last contact), never the
//! documents; what depends on today is applied here, not stored.

use super::*;

impl App {
    pub fn due(&self, within: Span) -> Result<Vec<DueRow>> {
        let r = self.vault.read()?;
        let today = self.today().to_days();
        let until = within.add_to(self.today()).to_days();
        let look = r.lookup()?;
        let reminders = r.reminders_due_entries(until)?;
        let mut cadence = r.cadence_due(until)?;
        // Sized once: the rows are a few hundred bytes each and thousands on a large vault, so
        // growing the vector by doubling would copy them several times.
        let mut rows = Vec::with_capacity(reminders.len() + cadence.len() + 64);
        for (day, id, entry) in reminders {
            let contact = entry.contact.map(DocId);
            let name = match contact {
                Some(c) => look.contact_name(c)?,
                None => String::new(),
            };
            rows.push(DueRow {
                kind: "reminder",
                id,
                date: Date::from_days(day),
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
        // Every last-contact day, in id order: read once, looked up by binary search below.
        let last_contacts = r.last_contacts()?;
        let last_contact = |id: DocId| {
            last_contacts
                .binary_search_by_key(&id, |(c, _)| *c)
                .ok()
                .map(|i| last_contacts[i].1)
        };
        let planned_ahead: BTreeMap<DocId, i32> = last_contacts
            .iter()
            .copied()
            .filter(|(_, d)| *d > today)
            .collect();
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
            let last = match planned_ahead.get(&id) {
                Some(&d) => last_contact_as_of(&r, id, Some(d), today)?,
                None => last_contact(id),
            };
            let Some((name, text)) = look.with_contact(id, |s| {
                let text = match last {
                    Some(d) => format!(
                        "keep in touch every {}; last contact {}",
                        s.every,
                        Date::from_days(d)
                    ),
                    None => format!("keep in touch every {}; no contact logged yet", s.every),
                };
                (s.name.to_string(), text)
            })?
            else {
                continue;
            };
            rows.push(DueRow {
                kind: "keep-in-touch",
                id,
                date: Date::from_days(day),
                days: day - today,
                contact: Some(id),
                name,
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
        // Introductions asked of the user and still pending (asked or accepted, not made).
        for l in self.pending_introductions(&r)? {
            let day = l.days.map_or(today, |d| today + d);
            rows.push(DueRow {
                kind: "introduction",
                id: l.id,
                date: Date::from_days(day),
                days: day - today,
                contact: l.contact,
                name: l.name,
                text: l.why,
                label: None,
                years: None,
                sort: day,
            });
        }
        // By (day, name, id), ties kept in the order above (a contact's keep-in-touch row and
        // its dates share day, name and id). The rows are large, so their indexes are sorted
        // and each row moved once.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&rows[a], &rows[b]);
            a.sort
                .cmp(&b.sort)
                .then(a.name.cmp(&b.name))
                .then(a.id.cmp(&b.id))
        });
        let mut slots: Vec<Option<DueRow>> = rows.into_iter().map(Some).collect();
        let rows: Vec<DueRow> = order.into_iter().filter_map(|i| slots[i].take()).collect();
        Ok(rows)
    }
}

/// One row of `kith due` (also its JSON schema). `days` is negative when overdue.
#[derive(Debug, Serialize)]
pub struct DueRow {
    pub kind: &'static str,
    pub id: DocId,
    /// `YYYY-MM-DD` in JSON.
    pub date: Date,
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
