//! Conflicts of a contact in words, the `kith set` field that settles each, and settling one.
//!
//! Invariant: settling keeps one of the conflicting values; it never invents a value.

use super::*;

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

/// Whether `value` is one of the values of the conflict on `field` among `conflicts`: the only
/// values a pick may keep.
fn check_pick(conflicts: Vec<Conflict>, field: &str, value: &str) -> Result<()> {
    let cf = conflicts
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
    Ok(())
}

impl App {
    /// Settles the conflict on `field` (an internal path, as in `conflicts[].field`) of a
    /// contact by keeping `value`, one of its conflicting values.
    pub fn settle_contact_conflict(&self, id: DocId, field: &str, value: &str) -> Result<()> {
        self.update_contact(id, |c, doc| {
            check_pick(model::contact_conflicts(doc), field, value)?;
            model::settle_conflict(doc, field, value).map_err(am_err)?;
            // The typed value written back afterwards is the settled one.
            *c = model::read_contact(doc);
            Ok(())
        })?;
        Ok(())
    }

    /// Settles the conflict on `field` of a note, interaction, reminder or opportunity by
    /// keeping `value`, one of its conflicting values (the web UI's "Keep" buttons).
    pub fn settle_item_conflict(&self, id: DocId, field: &str, value: &str) -> Result<()> {
        self.vault.write(self.now(), |w| {
            let mut l = w
                .load(id)?
                .ok_or_else(|| AppError::user(format!("{id} no longer exists")))?;
            check_pick(model::item_conflicts(&l.doc), field, value)?;
            model::settle_conflict(&mut l.doc, field, value).map_err(am_err)?;
            w.save(l)?;
            Ok(())
        })
    }
}
