//! `kith set` and `kith tag`: the rules of setting one field of a contact by name (which
//! fields exist, how each value is checked, entry fields like `org.Commodore.title`) and of
//! changing its tags, shared by the CLI and the web UI.
//!
//! Invariant: a value is checked before anything is written; setting a field that is in
//! conflict settles the conflict with the new value; one call is one write transaction.

use super::*;

impl App {
    /// Sets FIELD of contact `id` to `value` (trimmed; empty clears). `field_arg` is the field
    /// as the user wrote it (names of dates and custom keys keep their case). Returns whether
    /// anything changed.
    pub fn set_field(&self, id: DocId, field_arg: &str, value: &str) -> Result<bool> {
        let value = value.trim().to_string();
        let now = self.now();
        let field = field_arg.to_lowercase();
        self.update_contact(id, |c, doc| {
            let settle = |doc: &mut automerge::AutoCommit, path: &str, v: &str| -> Result<(), AppError> {
                if model::contact_conflicts(doc).iter().any(|cf| cf.field == path) {
                    model::settle_conflict(doc, path, v).map_err(am_err)?;
                }
                Ok(())
            };
            fn first_or_new<T: Default>(m: &mut BTreeMap<String, T>, now: i64) -> &mut T {
                let k = m.keys().next().cloned().unwrap_or_else(|| entry_key(now));
                m.entry(k).or_default()
            }
            match field.as_str() {
                "name" => {
                    c.name = check_name(&value)?;
                    settle(doc, "name", &c.name)?;
                }
                "nickname" => c.nickname = value.clone(),
                "given" => c.n.given = value.clone(),
                "family" => c.n.family = value.clone(),
                "birthday" => {
                    c.birthday = if value.is_empty() { String::new() } else { parse_partial_date(&value)? };
                    settle(doc, "birthday", &c.birthday)?;
                }
                "every" => {
                    c.every = if value.is_empty() { String::new() } else { parse_span(&value)?.to_string() };
                    settle(doc, "every", &c.every)?;
                }
                "met" => c.met = value.clone(),
                "help" => c.help = value.clone(),
                "kinds" | "kind" => c.kinds = clean_tags(std::slice::from_ref(&value))?,
                "archived" => {
                    c.archived = match value.to_lowercase().as_str() {
                        "yes" | "true" | "1" => true,
                        "no" | "false" | "0" | "" => false,
                        other => return Err(AppError::user(format!("archived is true or false, not '{other}'"))),
                    };
                    settle(doc, "archived", if c.archived { "true" } else { "false" })?;
                }
                "email" | "phone" | "url" => {
                    let map = match field.as_str() {
                        "email" => &mut c.emails,
                        "phone" => &mut c.phones,
                        _ => &mut c.urls,
                    };
                    if value.is_empty() {
                        map.clear();
                    } else {
                        let v = if field == "email" { check_email(&value)? } else { value.clone() };
                        first_or_new(map, now).value = v;
                    }
                }
                "org" | "title" => {
                    if value.is_empty() && c.orgs.len() <= 1 && field == "org" {
                        c.orgs.clear();
                    } else {
                        let r = first_or_new(&mut c.orgs, now);
                        if field == "org" {
                            r.org = value.clone();
                        } else {
                            r.title = value.clone();
                        }
                    }
                }
                "lead" => {
                    c.lead = if value.is_empty() { String::new() } else { crate::keep::parse_lead(&value)? };
                    settle(doc, "lead", &c.lead)?;
                }
                f if f.starts_with("date.") && !f[5..].contains('.') => {
                    crate::keep::set_date(c, &field_arg[5..], &value, entry_key(now))?;
                }
                f if f.starts_with("custom.") && f.len() > 7 => {
                    let key = field_arg[7..].to_string();
                    if value.is_empty() {
                        c.custom.remove(&key);
                    } else {
                        c.custom.insert(key.clone(), value.clone());
                    }
                    settle(doc, &format!("custom.{key}"), &value)?;
                }
                f if f.contains('.') && entry_path(doc, c, field_arg)?.is_some() => {
                    // GROUP.ENTRY.FIELD, e.g. org.Commodore.title: one field of one entry.
                    let path = entry_path(doc, c, field_arg)?.expect("checked by the guard");
                    let parts: Vec<&str> = path.splitn(3, '.').collect();
                    let (group, key, fld) = (parts[0], parts[1], parts[2]);
                    let v = if group == "emails" && fld == "value" && !value.is_empty() {
                        check_email(&value)?
                    } else {
                        value.clone()
                    };
                    use kith_core::model::Record as _;
                    match group {
                        "orgs" => c.orgs.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                        "emails" => c.emails.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                        "phones" => c.phones.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                        "urls" => c.urls.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                        "dates" => c.dates.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                        "addresses" => c.addresses.get_mut(key).map(|r| r.set_field(fld, v.clone())),
                        _ => None,
                    };
                    settle(doc, &path, &v)?;
                }
                other => {
                    return Err(AppError::hint(
                        format!("'{other}' is not a field kith can set"),
                        "fields: name, nickname, given, family, email, phone, url, org, title, birthday, met, every, lead, date.LABEL, kinds, archived, custom.KEY, or one field of an entry like org.ORGANISATION.title or email.ADDRESS.label (use `kith edit` for the rest)",
                    ))
                }
            }
            Ok(())
        })
    }

    /// Adds the tags `add` and removes the tags `del` (each cleaned as by [`clean_tags`]).
    /// Returns whether anything changed and the contact's tags afterwards.
    pub fn retag(&self, id: DocId, add: &[String], del: &[String]) -> Result<(bool, Vec<String>)> {
        let add = clean_tags(add)?;
        let del = clean_tags(del)?;
        let changed = self.update_contact(id, |c, _| {
            c.tags.extend(add.iter().cloned());
            for t in &del {
                c.tags.remove(t);
            }
            Ok(())
        })?;
        let tags = self
            .vault
            .read()?
            .contact(id)?
            .map(|s| s.tags)
            .unwrap_or_default();
        Ok((changed, tags))
    }
}

impl App {
    /// `kith rm --undo` of a contact: brings an archived contact back. Returns whether it was
    /// archived.
    pub fn unarchive(&self, id: DocId) -> Result<bool> {
        self.update_contact(id, |c, _| {
            c.archived = false;
            Ok(())
        })
    }
}
