//! The text form of a contact that `kith edit` opens in $EDITOR, and its parser.
//!
//! Invariant: `parse(render(c), c) == c` for every contact (fields the buffer does not show,
//! such as kept vCard properties and entry keys, are carried over from the original), and
//! parsing changes only what the user changed: an entry whose value is unchanged keeps its key,
//! so concurrent edits made on another device to other entries still merge.

use std::collections::BTreeMap;

use kith_core::model::{Address, Contact, Labeled, Link, Record, Reminder, Role};

use crate::app::Item;

pub const MET_MARKER: &str = "--- how we met (free text until the end of the file) ---";

/// A buffer that does not parse: the line number (1-based) and what is wrong there.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

fn fmt_labeled(l: &Labeled) -> String {
    if l.label.is_empty() {
        l.value.clone()
    } else {
        format!("{} ({})", l.value, l.label)
    }
}

fn parse_labeled(v: &str) -> Labeled {
    let v = v.trim();
    if let Some(open) = v.rfind(" (") {
        if v.ends_with(')') {
            return Labeled {
                value: v[..open].trim().to_string(),
                label: v[open + 2..v.len() - 1].trim().to_string(),
            };
        }
    }
    Labeled {
        value: v.to_string(),
        label: String::new(),
    }
}

fn fmt_address(a: &Address) -> String {
    let parts = [&a.street, &a.locality, &a.region, &a.postcode, &a.country];
    let body = parts
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    if a.label.is_empty() {
        body
    } else {
        format!("{body} ({})", a.label)
    }
}

fn fmt_role(r: &Role) -> String {
    let mut parts = vec![
        r.org.as_str(),
        r.title.as_str(),
        r.since.as_str(),
        r.until.as_str(),
    ];
    while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts.join("; ")
}

/// The comment line that records the version (document heads) a buffer was rendered from, so
/// that an edit resumed later (`kith edit REF --from FILE`) still merges against what the user
/// saw.
pub const BASE_PREFIX: &str = "# base: ";

/// The heads text recorded in a buffer, if any.
pub fn find_base(buf: &str) -> Option<&str> {
    buf.lines()
        .find_map(|l| l.strip_prefix(BASE_PREFIX))
        .map(str::trim)
}

/// Renders a contact. `base` is the heads text of the version shown; `conflicts` are
/// descriptions of its conflicts in words; `link_names` maps linked ids (hex) to names, shown
/// as comments.
pub fn render(
    id: &str,
    base: &str,
    c: &Contact,
    conflicts: &[String],
    link_names: &BTreeMap<String, String>,
) -> String {
    let mut s = String::new();
    s.push_str(&format!("# Editing contact {id}\n"));
    s.push_str(&format!("{BASE_PREFIX}{base}\n"));
    s.push_str("# Lines starting with # are ignored. Leave a value empty to clear it;\n");
    s.push_str("# repeat email/phone/url/address/org/date/link lines for several entries.\n");
    s.push_str("# org: ORGANISATION; TITLE; SINCE; UNTIL    address: STREET; CITY; REGION; POSTCODE; COUNTRY (LABEL)\n");
    s.push_str("# Delete every line to cancel.\n");
    for cf in conflicts {
        s.push_str(&format!("# CONFLICT: {cf}\n"));
    }
    let mut line = |k: &str, v: &str| s.push_str(&format!("{k}: {v}\n"));
    line("name", &c.name);
    line("nickname", &c.nickname);
    line("given", &c.n.given);
    line("family", &c.n.family);
    for e in c.emails.values() {
        line("email", &fmt_labeled(e));
    }
    for p in c.phones.values() {
        line("phone", &fmt_labeled(p));
    }
    for u in c.urls.values() {
        line("url", &fmt_labeled(u));
    }
    for a in c.addresses.values() {
        line("address", &fmt_address(a));
    }
    for r in c.orgs.values() {
        line("org", &fmt_role(r));
    }
    line("birthday", &c.birthday);
    for d in c.dates.values() {
        line("date", &fmt_labeled(d));
    }
    line(
        "kinds",
        &c.kinds.iter().cloned().collect::<Vec<_>>().join(", "),
    );
    line(
        "tags",
        &c.tags.iter().cloned().collect::<Vec<_>>().join(", "),
    );
    line("every", &c.every);
    for l in c.links.values() {
        let name = link_names
            .get(&l.to)
            .map(|n| format!("  # {n}"))
            .unwrap_or_default();
        line("link", &format!("{} {}{}", l.rel, l.to, name));
    }
    for (k, v) in &c.custom {
        line(&format!("custom.{k}"), v);
    }
    line("archived", if c.archived { "yes" } else { "no" });
    s.push_str(MET_MARKER);
    s.push('\n');
    s.push_str(&c.met);
    if !c.met.is_empty() && !c.met.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Re-keys a list of parsed entries against the original map: an entry equal in value to an
/// original keeps its key; the rest take the remaining original keys in order; extra entries
/// get fresh keys from `new_key`.
fn rekey<R: Record>(
    old: &BTreeMap<String, R>,
    parsed: Vec<R>,
    same: impl Fn(&R, &R) -> bool,
    new_key: &mut dyn FnMut() -> String,
) -> BTreeMap<String, R> {
    let mut out = BTreeMap::new();
    let mut free: Vec<&String> = old.keys().collect();
    let mut pending = Vec::new();
    for p in parsed {
        if let Some(pos) = free.iter().position(|k| same(&old[*k], &p)) {
            let k = free.remove(pos);
            out.insert(k.clone(), merge_record(&old[k], p));
        } else {
            pending.push(p);
        }
    }
    for p in pending {
        if !free.is_empty() {
            let k = free.remove(0);
            out.insert(k.clone(), merge_record(&old[k], p));
        } else {
            out.insert(new_key(), p);
        }
    }
    out
}

/// Fields the buffer does not show (e.g. an address's PO box) are kept from the original.
fn merge_record<R: Record>(old: &R, mut new: R) -> R {
    for f in R::FIELDS {
        if hidden_field(f) && new.field(f).is_empty() {
            new.set_field(f, old.field(f).to_string());
        }
    }
    new
}

fn hidden_field(f: &str) -> bool {
    matches!(f, "pobox" | "ext" | "unit")
}

fn words(v: &str) -> Vec<String> {
    v.split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Parses an edited buffer against the original contact. `Ok(None)` means the user emptied the
/// buffer (cancel).
pub fn parse(
    buf: &str,
    old: &Contact,
    new_key: &mut dyn FnMut() -> String,
    check: &dyn Fn(&str, &str) -> Result<String, String>,
) -> Result<Option<Contact>, Vec<ParseError>> {
    if buf
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(None);
    }
    let mut c = old.clone();
    let (mut emails, mut phones, mut urls, mut addrs, mut orgs, mut dates, mut links) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut custom = BTreeMap::new();
    let mut met: Option<String> = None;
    let mut seen_name = false;
    let mut errors: Vec<ParseError> = Vec::new();
    let lines: Vec<&str> = buf.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let n = i + 1;
        i += 1;
        if raw.trim() == MET_MARKER {
            met = Some(lines[i..].join("\n").trim_end().to_string());
            break;
        }
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let Some((key, value)) = t.split_once(':') else {
            errors.push(ParseError {
                line: n,
                msg: format!("expected 'field: value', found '{t}'"),
            });
            continue;
        };
        // Each line is checked on its own so that every mistake is reported at once.
        let mut line = || -> Result<(), ParseError> {
            let key = key.trim();
            let value = value.trim();
            let err = |msg: String| ParseError { line: n, msg };
            let checked = |field: &str, v: &str| -> Result<String, ParseError> {
                if v.is_empty() {
                    return Ok(String::new());
                }
                check(field, v).map_err(|m| ParseError { line: n, msg: m })
            };
            match key {
                "name" => {
                    if value.is_empty() {
                        return Err(err("the name cannot be empty".into()));
                    }
                    c.name = value.to_string();
                    seen_name = true;
                }
                "nickname" => c.nickname = value.to_string(),
                "given" => c.n.given = value.to_string(),
                "family" => c.n.family = value.to_string(),
                "email" if !value.is_empty() => {
                    let mut l = parse_labeled(value);
                    l.value = checked("email", &l.value)?;
                    emails.push(l);
                }
                "phone" if !value.is_empty() => phones.push(parse_labeled(value)),
                "url" if !value.is_empty() => urls.push(parse_labeled(value)),
                "address" if !value.is_empty() => {
                    let l = parse_labeled(value);
                    let p: Vec<&str> = l.value.split(';').map(str::trim).collect();
                    if p.len() > 5 {
                        return Err(err(
                        "an address has at most 5 parts: STREET; CITY; REGION; POSTCODE; COUNTRY"
                            .into(),
                    ));
                    }
                    let get = |k: usize| p.get(k).map(|s| s.to_string()).unwrap_or_default();
                    addrs.push(Address {
                        label: l.label,
                        street: get(0),
                        locality: get(1),
                        region: get(2),
                        postcode: get(3),
                        country: get(4),
                        ..Default::default()
                    });
                }
                "org" if !value.is_empty() => {
                    let p: Vec<&str> = value.split(';').map(str::trim).collect();
                    if p.len() > 4 {
                        return Err(err(
                            "an org line has at most 4 parts: ORGANISATION; TITLE; SINCE; UNTIL"
                                .into(),
                        ));
                    }
                    let get = |k: usize| p.get(k).map(|s| s.to_string()).unwrap_or_default();
                    orgs.push(Role {
                        org: get(0),
                        title: get(1),
                        since: get(2),
                        until: get(3),
                        ..Default::default()
                    });
                }
                "birthday" => c.birthday = checked("birthday", value)?,
                "date" if !value.is_empty() => {
                    let mut l = parse_labeled(value);
                    l.value = checked("date", &l.value)?;
                    dates.push(l);
                }
                "kinds" => c.kinds = words(value).into_iter().collect(),
                "tags" => c.tags = words(value).into_iter().collect(),
                "every" => c.every = checked("every", value)?,
                "link" if !value.is_empty() => {
                    let v = value.split('#').next().unwrap_or("").trim();
                    let mut parts = v.split_whitespace();
                    let (Some(rel), Some(to), None) = (parts.next(), parts.next(), parts.next())
                    else {
                        return Err(err("a link line is 'link: RELATION CONTACT-ID'".into()));
                    };
                    let to = checked("link", to)?;
                    links.push(Link {
                        rel: rel.to_string(),
                        to,
                    });
                }
                "archived" => {
                    c.archived = match value.to_lowercase().as_str() {
                        "yes" | "true" => true,
                        "no" | "false" | "" => false,
                        other => return Err(err(format!("archived is yes or no, not '{other}'"))),
                    }
                }
                "email" | "phone" | "url" | "address" | "org" | "date" | "link" => {}
                k if k.starts_with("custom.") && k.len() > 7 => {
                    if !value.is_empty() {
                        custom.insert(k[7..].to_string(), value.to_string());
                    }
                }
                other => return Err(err(format!("unknown field '{other}'"))),
            }
            Ok(())
        };
        if let Err(e) = line() {
            errors.push(e);
        }
    }
    if !seen_name
        && !errors
            .iter()
            .any(|e| e.msg.contains("name cannot be empty"))
    {
        errors.push(ParseError {
            line: 1,
            msg: "the 'name:' line is missing".into(),
        });
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(errors);
    }
    c.emails = rekey(
        &old.emails,
        emails,
        |a, b| a.value.eq_ignore_ascii_case(&b.value),
        new_key,
    );
    c.phones = rekey(&old.phones, phones, |a, b| a.value == b.value, new_key);
    c.urls = rekey(&old.urls, urls, |a, b| a.value == b.value, new_key);
    c.addresses = rekey(
        &old.addresses,
        addrs,
        |a, b| a.street == b.street && a.locality == b.locality,
        new_key,
    );
    c.orgs = rekey(&old.orgs, orgs, |a, b| a.org == b.org, new_key);
    c.dates = rekey(
        &old.dates,
        dates,
        |a, b| a.value == b.value && a.label == b.label,
        new_key,
    );
    c.links = rekey(
        &old.links,
        links,
        |a, b| a.to == b.to && a.rel == b.rel,
        new_key,
    );
    c.custom = custom;
    c.met = met.unwrap_or_default();
    Ok(Some(c))
}

// ---------------------------------------------------------------------------------------------
// Notes, interactions and reminders.

/// The marker after which an item's free text starts.
pub fn item_marker(kind: &str) -> String {
    format!("--- {kind} text (free text until the end of the file) ---")
}

fn item_kind(it: &Item) -> &'static str {
    match it {
        Item::Note(_) => "note",
        Item::Interaction(_) => "interaction",
        Item::Reminder(_) => "reminder",
    }
}

/// Renders a note, interaction or reminder. `names` maps contact ids (hex) to names, shown as
/// comments.
pub fn render_item(
    id: &str,
    base: &str,
    it: &Item,
    conflicts: &[String],
    names: &BTreeMap<String, String>,
) -> String {
    let kind = item_kind(it);
    let mut s = String::new();
    s.push_str(&format!("# Editing {kind} {id}\n"));
    s.push_str(&format!("{BASE_PREFIX}{base}\n"));
    s.push_str(
        "# Lines starting with # are ignored above the text marker. A contact line takes an\n",
    );
    s.push_str(
        "# id prefix, a name or an email; repeat it for several. Delete every line to cancel.\n",
    );
    for cf in conflicts {
        s.push_str(&format!("# CONFLICT: {cf}\n"));
    }
    let contact = |s: &mut String, id: &str| {
        let name = names
            .get(id)
            .map(|n| format!("  # {n}"))
            .unwrap_or_default();
        s.push_str(&format!("contact: {id}{name}\n"));
    };
    let text = match it {
        Item::Note(n) => {
            for c in &n.contacts {
                contact(&mut s, &c.to_hex());
            }
            let tags: Vec<&str> = n.tags.iter().map(|t| t.as_str()).collect();
            s.push_str(&format!("tags: {}\n", tags.join(", ")));
            &n.body
        }
        Item::Interaction(i) => {
            s.push_str(&format!("date: {}\n", i.date));
            s.push_str(&format!("kind: {}\n", i.kind));
            for c in &i.contacts {
                contact(&mut s, &c.to_hex());
            }
            &i.summary
        }
        Item::Reminder(r) => {
            s.push_str(&format!("due: {}\n", r.due));
            if let Some(c) = r.contact {
                contact(&mut s, &c.to_hex());
            }
            s.push_str(&format!("done: {}\n", if r.done { "yes" } else { "no" }));
            s.push_str(&format!("snoozed until: {}\n", r.snoozed_until));
            &r.text
        }
    };
    s.push_str(&item_marker(kind));
    s.push('\n');
    s.push_str(text);
    if !text.is_empty() && !text.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Parses an edited item buffer against the item it was rendered from. `check(field, value)`
/// validates and canonicalises `contact` (to a hex id) and the dates `date`, `due` and
/// `snoozed` (to `YYYY-MM-DD`). `Ok(None)` means the user emptied the buffer (cancel). Every
/// mistake is reported, not just the first.
pub fn parse_item(
    buf: &str,
    old: &Item,
    check: &dyn Fn(&str, &str) -> Result<String, String>,
) -> Result<Option<Item>, Vec<ParseError>> {
    if buf
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(None);
    }
    let kind = item_kind(old);
    let marker = item_marker(kind);
    let mut new = old.clone();
    let mut errors = Vec::new();
    let mut contacts: Vec<kith_core::DocId> = Vec::new();
    let mut text: Option<String> = None;
    let lines: Vec<&str> = buf.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let n = i + 1;
        i += 1;
        if raw.trim() == marker {
            text = Some(lines[i..].join("\n").trim_end().to_string());
            break;
        }
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let Some((key, value)) = t.split_once(':') else {
            errors.push(ParseError {
                line: n,
                msg: format!("expected 'field: value', found '{t}'"),
            });
            continue;
        };
        let key = key.trim().to_lowercase();
        let value = value.trim();
        let mut line = || -> Result<(), String> {
            let opt = |field: &str| -> Result<String, String> {
                if value.is_empty() {
                    Ok(String::new())
                } else {
                    check(field, value)
                }
            };
            match (&mut new, key.as_str()) {
                (_, "contact") => {
                    let v = value.split('#').next().unwrap_or("").trim();
                    if !v.is_empty() {
                        let hex = check("contact", v)?;
                        let id = hex.parse().map_err(|_| format!("'{v}' is not a contact"))?;
                        if !contacts.contains(&id) {
                            contacts.push(id);
                        }
                    }
                }
                (Item::Note(note), "tags") => {
                    note.tags = words(value).into_iter().collect();
                }
                (Item::Interaction(it), "date") => {
                    if value.is_empty() {
                        return Err("an interaction needs a date".into());
                    }
                    it.date = check("date", value)?;
                }
                (Item::Interaction(it), "kind") => {
                    let k = value.to_lowercase();
                    if k.is_empty() || k.contains(char::is_whitespace) {
                        return Err(format!(
                            "the kind is one word (call, meeting, ...), not '{value}'"
                        ));
                    }
                    it.kind = k;
                }
                (Item::Reminder(r), "due") => {
                    if value.is_empty() {
                        return Err("a reminder needs a due date".into());
                    }
                    r.due = check("due", value)?;
                }
                (Item::Reminder(r), "done") => {
                    r.done = match value.to_lowercase().as_str() {
                        "yes" | "true" => true,
                        "no" | "false" | "" => false,
                        other => return Err(format!("done is yes or no, not '{other}'")),
                    }
                }
                (Item::Reminder(r), "snoozed until") => r.snoozed_until = opt("snoozed")?,
                (_, other) => return Err(format!("unknown field '{other}' in a {kind}")),
            }
            Ok(())
        };
        if let Err(msg) = line() {
            errors.push(ParseError { line: n, msg });
        }
    }
    let Some(text) = text else {
        errors.push(ParseError {
            line: lines.len().max(1),
            msg: format!("the line '{marker}' is missing"),
        });
        return Err(errors);
    };
    // A text equal to the old one up to trailing blanks is the old one (no spurious change).
    let keep = |old: &str| -> String {
        if old.trim_end() == text {
            old.to_string()
        } else {
            text.clone()
        }
    };
    match &mut new {
        Item::Note(note) => {
            if text.trim().is_empty() {
                errors.push(ParseError {
                    line: lines.len(),
                    msg: "the note text is empty (remove a note with `kith rm`)".into(),
                });
            }
            note.body = keep(&note.body);
            note.contacts = contacts.into_iter().collect();
        }
        Item::Interaction(it) => {
            if contacts.is_empty() {
                errors.push(ParseError {
                    line: 1,
                    msg: "an interaction needs at least one 'contact:' line".into(),
                });
            }
            it.summary = keep(&it.summary);
            it.contacts = contacts.into_iter().collect();
        }
        Item::Reminder(r) => {
            if text.trim().is_empty() {
                errors.push(ParseError {
                    line: lines.len(),
                    msg: "the reminder text is empty".into(),
                });
            }
            if contacts.len() > 1 {
                errors.push(ParseError {
                    line: 1,
                    msg: "a reminder is about one contact: keep one 'contact:' line".into(),
                });
            }
            r.text = keep(&r.text);
            r.contact = contacts.first().copied();
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(errors);
    }
    Ok(Some(new))
}

// ---------------------------------------------------------------------------------------------
// What an edit changed, in words (one short line per field).

fn quoted(v: &str) -> String {
    if v.is_empty() {
        "(empty)".into()
    } else {
        let one: String = v.lines().next().unwrap_or("").chars().take(40).collect();
        if one.len() < v.len() {
            format!("'{one}…'")
        } else {
            format!("'{one}'")
        }
    }
}

fn scalar_change(out: &mut Vec<String>, field: &str, a: &str, b: &str) {
    if a != b {
        out.push(format!("{field}: {} -> {}", quoted(a), quoted(b)));
    }
}

fn text_change(out: &mut Vec<String>, field: &str, a: &str, b: &str) {
    if a != b {
        out.push(format!(
            "{field}: edited ({} -> {} characters)",
            a.chars().count(),
            b.chars().count()
        ));
    }
}

fn set_change(out: &mut Vec<String>, field: &str, a: &[String], b: &[String]) {
    let mut parts = Vec::new();
    for x in b.iter().filter(|x| !a.contains(x)) {
        parts.push(format!("+{x}"));
    }
    for x in a.iter().filter(|x| !b.contains(x)) {
        parts.push(format!("-{x}"));
    }
    if !parts.is_empty() {
        out.push(format!("{field}: {}", parts.join(" ")));
    }
}

fn entries<R: Record>(m: &BTreeMap<String, R>, f: impl Fn(&R) -> String) -> Vec<String> {
    m.values().map(f).collect()
}

/// One line per field an edit changed, from the version shown to the version saved.
pub fn summarize_contact(a: &Contact, b: &Contact) -> Vec<String> {
    let mut out = Vec::new();
    scalar_change(&mut out, "name", &a.name, &b.name);
    scalar_change(&mut out, "nickname", &a.nickname, &b.nickname);
    scalar_change(&mut out, "given", &a.n.given, &b.n.given);
    scalar_change(&mut out, "family", &a.n.family, &b.n.family);
    set_change(
        &mut out,
        "email",
        &entries(&a.emails, fmt_labeled),
        &entries(&b.emails, fmt_labeled),
    );
    set_change(
        &mut out,
        "phone",
        &entries(&a.phones, fmt_labeled),
        &entries(&b.phones, fmt_labeled),
    );
    set_change(
        &mut out,
        "url",
        &entries(&a.urls, fmt_labeled),
        &entries(&b.urls, fmt_labeled),
    );
    set_change(
        &mut out,
        "address",
        &entries(&a.addresses, fmt_address),
        &entries(&b.addresses, fmt_address),
    );
    set_change(
        &mut out,
        "org",
        &entries(&a.orgs, fmt_role),
        &entries(&b.orgs, fmt_role),
    );
    scalar_change(&mut out, "birthday", &a.birthday, &b.birthday);
    set_change(
        &mut out,
        "date",
        &entries(&a.dates, fmt_labeled),
        &entries(&b.dates, fmt_labeled),
    );
    let v = |s: &std::collections::BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
    set_change(&mut out, "kinds", &v(&a.kinds), &v(&b.kinds));
    set_change(&mut out, "tags", &v(&a.tags), &v(&b.tags));
    scalar_change(&mut out, "every", &a.every, &b.every);
    let link = |l: &Link| format!("{} {}", l.rel, l.to);
    set_change(
        &mut out,
        "link",
        &entries(&a.links, link),
        &entries(&b.links, link),
    );
    let keys: std::collections::BTreeSet<&String> =
        a.custom.keys().chain(b.custom.keys()).collect();
    for k in keys {
        let (x, y) = (
            a.custom.get(k).map(String::as_str).unwrap_or(""),
            b.custom.get(k).map(String::as_str).unwrap_or(""),
        );
        scalar_change(&mut out, &format!("custom.{k}"), x, y);
    }
    if a.archived != b.archived {
        out.push(format!(
            "archived: {}",
            if b.archived { "yes" } else { "no" }
        ));
    }
    text_change(&mut out, "how we met", &a.met, &b.met);
    out
}

/// One line per field an item edit changed.
pub fn summarize_item(a: &Item, b: &Item) -> Vec<String> {
    let mut out = Vec::new();
    let ids = |s: &std::collections::BTreeSet<kith_core::DocId>| {
        s.iter().map(|i| i.short()).collect::<Vec<_>>()
    };
    match (a, b) {
        (Item::Note(x), Item::Note(y)) => {
            set_change(&mut out, "contacts", &ids(&x.contacts), &ids(&y.contacts));
            let v = |s: &std::collections::BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
            set_change(&mut out, "tags", &v(&x.tags), &v(&y.tags));
            text_change(&mut out, "text", &x.body, &y.body);
        }
        (Item::Interaction(x), Item::Interaction(y)) => {
            scalar_change(&mut out, "date", &x.date, &y.date);
            scalar_change(&mut out, "kind", &x.kind, &y.kind);
            set_change(&mut out, "contacts", &ids(&x.contacts), &ids(&y.contacts));
            text_change(&mut out, "text", &x.summary, &y.summary);
        }
        (Item::Reminder(x), Item::Reminder(y)) => {
            scalar_change(&mut out, "due", &x.due, &y.due);
            let c = |r: &Reminder| r.contact.map(|c| c.short()).unwrap_or_default();
            scalar_change(&mut out, "contact", &c(x), &c(y));
            if x.done != y.done {
                out.push(format!("done: {}", if y.done { "yes" } else { "no" }));
            }
            scalar_change(
                &mut out,
                "snoozed until",
                &x.snoozed_until,
                &y.snoozed_until,
            );
            scalar_change(&mut out, "text", &x.text, &y.text);
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_core::model::{Interaction, Note};

    fn sample() -> Contact {
        let mut c = Contact {
            name: "Ada Lovelace".into(),
            ..Default::default()
        };
        c.emails.insert(
            "k1".into(),
            Labeled {
                value: "ada@example.com".into(),
                label: "work".into(),
            },
        );
        c.emails.insert(
            "k2".into(),
            Labeled {
                value: "ada@home.org".into(),
                label: String::new(),
            },
        );
        c.orgs.insert(
            "o1".into(),
            Role {
                org: "Analytical Engines".into(),
                title: "Analyst".into(),
                unit: "R&D".into(),
                ..Default::default()
            },
        );
        c.addresses.insert(
            "a1".into(),
            Address {
                street: "1 Main St".into(),
                locality: "London".into(),
                pobox: "12".into(),
                ..Default::default()
            },
        );
        c.tags.insert("math".into());
        c.custom.insert("github".into(), "ada".into());
        c.met = "At a salon.\nSecond line.".into();
        c.birthday = "1815-12-10".into();
        c
    }

    fn ok(_: &str, v: &str) -> Result<String, String> {
        Ok(v.to_string())
    }

    #[test]
    fn render_then_parse_is_identity() {
        let c = sample();
        let buf = render("abc", "", &c, &[], &BTreeMap::new());
        let mut k = || panic!("no new keys needed");
        let back = parse(&buf, &c, &mut k, &ok).unwrap().unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn edits_keep_keys_of_unchanged_entries() {
        let c = sample();
        let buf = render("abc", "", &c, &[], &BTreeMap::new())
            .replace("email: ada@example.com (work)\n", "")
            .replace(
                "email: ada@home.org\n",
                "email: ada@home.org\nemail: new@x.io (other)\n",
            );
        let mut n = 0;
        let mut k = || {
            n += 1;
            format!("new{n}")
        };
        let back = parse(&buf, &c, &mut k, &ok).unwrap().unwrap();
        // ada@home.org kept k2; the new one took the freed key k1 (a value change of an entry).
        assert_eq!(back.emails["k2"].value, "ada@home.org");
        assert_eq!(back.emails["k1"].value, "new@x.io");
        assert_eq!(back.emails.len(), 2);
        // Hidden fields survive.
        assert_eq!(back.orgs["o1"].unit, "R&D");
        assert_eq!(back.addresses["a1"].pobox, "12");
    }

    #[test]
    fn errors_name_the_line() {
        let c = sample();
        let buf = render("abc", "", &c, &[], &BTreeMap::new())
            .replace("nickname:", "nick name is broken");
        let e = parse(&buf, &c, &mut || "x".into(), &ok).unwrap_err();
        assert_eq!(e[0].line, 8);
        let buf = render("abc", "", &c, &[], &BTreeMap::new()).replace("tags:", "colour:");
        let e = parse(&buf, &c, &mut || "x".into(), &ok).unwrap_err();
        assert!(e[0].msg.contains("unknown field 'colour'"), "{:?}", e);
        let bad = |f: &str, v: &str| {
            if f == "birthday" {
                Err(format!("bad date {v}"))
            } else {
                Ok(v.to_string())
            }
        };
        let buf = render("abc", "", &c, &[], &BTreeMap::new()).replace("1815-12-10", "1815-13-10");
        let e = parse(&buf, &c, &mut || "x".into(), &bad).unwrap_err();
        assert!(e[0].msg.contains("bad date"));
    }

    #[test]
    fn every_error_is_reported() {
        let c = sample();
        let buf = render("abc", "", &c, &[], &BTreeMap::new())
            .replace("nickname:", "nick name is broken")
            .replace("tags:", "colour:");
        let e = parse(&buf, &c, &mut || "x".into(), &ok).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[1].msg.contains("colour"), "{e:?}");
    }

    fn note() -> Item {
        Item::Note(Note {
            body: "First line\nsecond line\n".into(),
            tags: ["work".to_string()].into_iter().collect(),
            ..Default::default()
        })
    }

    #[test]
    fn item_render_then_parse_is_identity() {
        let items = [
            note(),
            Item::Interaction(Interaction {
                date: "2026-11-20".into(),
                kind: "call".into(),
                contacts: [kith_core::DocId([7; 16])].into_iter().collect(),
                summary: "Talked".into(),
                ..Default::default()
            }),
            Item::Reminder(Reminder {
                due: "2026-12-01".into(),
                contact: Some(kith_core::DocId([7; 16])),
                text: "Send the paper".into(),
                ..Default::default()
            }),
        ];
        for it in items {
            let buf = render_item("abc", "h", &it, &[], &BTreeMap::new());
            assert_eq!(find_base(&buf), Some("h"));
            let back = parse_item(&buf, &it, &ok).unwrap().unwrap();
            assert_eq!(back, it, "{buf}");
        }
    }

    #[test]
    fn item_errors_are_all_reported() {
        let buf = render_item("abc", "", &note(), &[], &BTreeMap::new())
            .replace("tags:", "colour:")
            .replace("First line\nsecond line\n", "")
            + "";
        let e = parse_item(&buf, &note(), &ok).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].msg.contains("colour"));
        assert!(e[1].msg.contains("empty"));
    }

    #[test]
    fn summaries_name_fields() {
        let a = sample();
        let mut b = a.clone();
        b.nickname = "Countess".into();
        b.tags.insert("poetry".into());
        b.met.push_str(" More.");
        let s = summarize_contact(&a, &b);
        assert_eq!(
            s,
            [
                "nickname: (empty) -> 'Countess'",
                "tags: +poetry",
                "how we met: edited (24 -> 30 characters)"
            ]
        );
    }

    #[test]
    fn empty_buffer_cancels() {
        assert_eq!(
            parse("# only comments\n\n", &sample(), &mut || "x".into(), &ok).unwrap(),
            None
        );
    }
}
