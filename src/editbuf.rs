//! The text form of a contact that `kith edit` opens in $EDITOR, and its parser.
//!
//! Invariant: `parse(render(c), c) == c` for every contact (fields the buffer does not show,
//! such as kept vCard properties and entry keys, are carried over from the original), and
//! parsing changes only what the user changed: an entry whose value is unchanged keeps its key,
//! so concurrent edits made on another device to other entries still merge.

use std::collections::BTreeMap;

use kith_core::model::{Address, Conflict, Contact, Labeled, Link, Record, Role};

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

/// Renders a contact. `link_names` maps linked ids (hex) to names, shown as comments.
pub fn render(
    id: &str,
    c: &Contact,
    conflicts: &[Conflict],
    link_names: &BTreeMap<String, String>,
) -> String {
    let mut s = String::new();
    s.push_str(&format!("# Editing contact {id}\n"));
    s.push_str("# Lines starting with # are ignored. Leave a value empty to clear it;\n");
    s.push_str("# repeat email/phone/url/address/org/date/link lines for several entries.\n");
    s.push_str("# org: ORGANISATION; TITLE; SINCE; UNTIL    address: STREET; CITY; REGION; POSTCODE; COUNTRY (LABEL)\n");
    s.push_str("# Delete every line to cancel.\n");
    for cf in conflicts {
        s.push_str(&format!(
            "# CONFLICT on {}: shown '{}', other value(s): {}\n",
            cf.field,
            cf.value,
            cf.others.join(" | ")
        ));
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
) -> Result<Option<Contact>, ParseError> {
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
            return Err(ParseError {
                line: n,
                msg: format!("expected 'field: value', found '{t}'"),
            });
        };
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
                        "an org line has at most 4 parts: ORGANISATION; TITLE; SINCE; UNTIL".into(),
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
                let (Some(rel), Some(to), None) = (parts.next(), parts.next(), parts.next()) else {
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
    }
    if !seen_name {
        return Err(ParseError {
            line: 1,
            msg: "the 'name:' line is missing".into(),
        });
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let buf = render("abc", &c, &[], &BTreeMap::new());
        let mut k = || panic!("no new keys needed");
        let back = parse(&buf, &c, &mut k, &ok).unwrap().unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn edits_keep_keys_of_unchanged_entries() {
        let c = sample();
        let buf = render("abc", &c, &[], &BTreeMap::new())
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
        let buf =
            render("abc", &c, &[], &BTreeMap::new()).replace("nickname:", "nick name is broken");
        let e = parse(&buf, &c, &mut || "x".into(), &ok).unwrap_err();
        assert_eq!(e.line, 7);
        let buf = render("abc", &c, &[], &BTreeMap::new()).replace("tags:", "colour:");
        let e = parse(&buf, &c, &mut || "x".into(), &ok).unwrap_err();
        assert!(e.msg.contains("unknown field 'colour'"), "{}", e.msg);
        let bad = |f: &str, v: &str| {
            if f == "birthday" {
                Err(format!("bad date {v}"))
            } else {
                Ok(v.to_string())
            }
        };
        let buf = render("abc", &c, &[], &BTreeMap::new()).replace("1815-12-10", "1815-13-10");
        let e = parse(&buf, &c, &mut || "x".into(), &bad).unwrap_err();
        assert!(e.msg.contains("bad date"));
    }

    #[test]
    fn empty_buffer_cancels() {
        assert_eq!(
            parse("# only comments\n\n", &sample(), &mut || "x".into(), &ok).unwrap(),
            None
        );
    }
}
