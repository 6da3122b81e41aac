//! Contact use cases: add, update, show, list, link, archive and purge, and the views they
//! return (`ContactView`, `ContactRow`).
//!
//! Invariant: each use case is one write (or read) transaction; names, emails and tags are
//! checked here (the rules of `super`), never in the CLI or the web UI.

use super::*;

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
        let now = self.now();
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
        let now = self.now();
        self.vault.write(now, |w| {
            let mut l = w
                .load(id)?
                .ok_or_else(|| AppError::user(format!("contact {id} no longer exists")))?;
            let mut c = model::read_contact(&l.doc);
            let before_heads = l.doc.get_heads();
            f(&mut c, &mut l.doc)?;
            model::write_contact(&mut l.doc, &c, now).map_err(am_err)?;
            crate::store::commit_pending(&mut l.doc, now);
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
        let last = last_contact_as_of(&r, id, r.last_contact(id)?, self.today().to_days())?;
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
        let mut rows = self.list_unsorted(q, buf)?;
        self.sort_rows(q, &mut rows, None);
        if let Some(n) = q.limit {
            rows.truncate(n);
        }
        Ok(rows)
    }

    /// One page of [`App::list`]: the rows `from..from + len` of the whole ordered list, and
    /// the number of rows of the whole list. Only the rows up to the page are put in order
    /// (a selection, then a sort of the page): the web's contact list shows 250 of 10,000.
    pub fn list_page<'b>(
        &self,
        q: &ListQuery,
        buf: &'b mut EncodedContacts,
        from: usize,
        len: usize,
    ) -> Result<(usize, Vec<ContactRow<'b>>)> {
        let mut rows = self.list_unsorted(q, buf)?;
        let total = q.limit.map_or(rows.len(), |n| n.min(rows.len()));
        let from = from.min(total);
        let to = from.saturating_add(len).min(total);
        self.sort_rows(q, &mut rows, Some((from, to)));
        rows.truncate(to);
        rows.drain(..from);
        Ok((total, rows))
    }

    /// The rows of [`App::list`], filtered, in id order.
    fn list_unsorted<'b>(
        &self,
        q: &ListQuery,
        buf: &'b mut EncodedContacts,
    ) -> Result<Vec<ContactRow<'b>>> {
        let r = self.vault.read()?;
        let last = r.last_contacts()?;
        let today_days = self.today().to_days();
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
        Ok(rows)
    }

    /// Puts `rows` in the order of `q` (`sort`, then `reverse`). With `window` (`from..to`),
    /// only `rows[from..to]` end up in their places, each row before `from` sorting before
    /// them; the rest is left in no order.
    fn sort_rows(
        &self,
        q: &ListQuery,
        rows: &mut Vec<ContactRow<'_>>,
        window: Option<(usize, usize)>,
    ) {
        let by_name = |a: &ContactRow, b: &ContactRow| {
            text::natural_cmp(a.sort, b.sort)
                .then(a.sort.cmp(b.sort))
                .then(a.id.cmp(&b.id))
        };
        let today = self.today();
        let next_birthday = |r: &ContactRow| -> i32 {
            r.birthday
                .parse::<kith_core::time::PartialDate>()
                .map(|p| p.next_occurrence(today).to_days())
                .unwrap_or(i32::MAX)
        };
        let by_last = |a: &ContactRow, b: &ContactRow| {
            // Never contacted first, then oldest contact first: who needs attention.
            a.last_day
                .unwrap_or(i32::MIN)
                .cmp(&b.last_day.unwrap_or(i32::MIN))
                .then(a.sort.cmp(b.sort))
        };
        match (q.sort, window) {
            // (sort key, id) is unique: an unstable sort gives the same order, and a selection
            // of the window then a sort of it gives the window of the full sort.
            (SortBy::Name, Some((from, to))) => {
                let cmp = |a: &ContactRow, b: &ContactRow| {
                    let o = by_name(a, b);
                    if q.reverse {
                        o.reverse()
                    } else {
                        o
                    }
                };
                select_window(rows, from, to, cmp);
                return;
            }
            (SortBy::Name, None) => rows.sort_unstable_by(by_name),
            (SortBy::Birthday, _) => {
                // Each birthday is parsed once, not per comparison.
                let keyed: Vec<(i32, ContactRow<'_>)> =
                    rows.drain(..).map(|r| (next_birthday(&r), r)).collect();
                let mut keyed = keyed;
                keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(by_name(&a.1, &b.1)));
                rows.extend(keyed.into_iter().map(|(_, r)| r));
            }
            // A stable sort: rows with the same day and sort key stay in id order.
            (SortBy::LastContact, _) => rows.sort_by(by_last),
        }
        if q.reverse {
            rows.reverse();
        }
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
        let now = self.now();
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
        self.vault.write(self.now(), |w| {
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

/// Puts the elements that a sort by `cmp` would put at `from..to` there, in order, with every
/// element before `from` ordering before them (a selection: O(n) comparisons plus a sort of the
/// window, instead of a sort of everything). `cmp` must be a total order without ties.
fn select_window<T>(
    v: &mut [T],
    from: usize,
    to: usize,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering,
) {
    let to = to.min(v.len());
    if from >= to {
        return;
    }
    if to < v.len() {
        v.select_nth_unstable_by(to, &cmp);
    }
    let head = &mut v[..to];
    if from > 0 {
        head.select_nth_unstable_by(from, &cmp);
    }
    head[from..].sort_unstable_by(&cmp);
}
