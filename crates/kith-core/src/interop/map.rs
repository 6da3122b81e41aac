//! Mapping between the tool-neutral [`CardData`] and kith's [`Contact`], and the field-by-field
//! merge rules of import (`merge_import`) and of `kith merge` (`merge_contacts`).
//!
//! Invariants:
//! - Pure and deterministic: the same card and the same `now` give the same contact, entry keys
//!   included; `extra` keys are a hash of the property, so re-importing a card finds them again.
//! - `contact_to_card(card_to_contact(c))` re-imports to the same contact (the fixed point the
//!   round-trip tests check): labels, types and PREF are encoded in the kith label in a way that
//!   decodes back (see [`encode_label`]).
//! - Merges only add or change, never delete: an entry the incoming side lacks is kept.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::vcard::{escape_text, split_escaped, unescape};
use super::{Address as CardAddress, CardData, Labelled, Org, PartialDate, Photo, Property};
use crate::id::DocId;
use crate::index::phone_key;
use crate::model::{Address, Contact, ExtraProp, Labeled, Role, StructuredName};

/// Photos larger than this (decoded bytes) are not kept by default: every contact edit syncs
/// the whole document history once, and a large photo would dominate the vault.
pub const MAX_PHOTO_BYTES: usize = 64 * 1024;

/// What import keeps of a card's photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOptions {
    pub skip_photos: bool,
    pub max_photo_bytes: usize,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            skip_photos: false,
            max_photo_bytes: MAX_PHOTO_BYTES,
        }
    }
}

/// A card mapped to kith: the contact and what becomes separate documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub contact: Contact,
    /// NOTE text: becomes a note linked to the contact.
    pub note: Option<String>,
    /// Size in bytes of an inline photo that was not kept (too large, or `skip_photos`).
    pub photo_skipped: Option<usize>,
    /// `X-KITH-LINK`s: (relation, UID of the other contact), resolved by the importer once
    /// every card is in.
    pub links: Vec<(String, String)>,
}

/// The UID kith exports for a contact that has none: its document id as a `urn:uuid:`.
pub fn kith_uid(id: &DocId) -> String {
    let s = id.to_hex();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..]
    )
}

/// The document id a UID of the [`kith_uid`] shape names (any `urn:uuid:` parses; whether a
/// contact has that id is for the caller to check).
pub fn doc_id_of_uid(uid: &str) -> Option<DocId> {
    let rest = uid.trim().strip_prefix("urn:uuid:")?;
    let hex: String = rest.chars().filter(|c| *c != '-').collect();
    hex.to_ascii_lowercase().parse().ok()
}

fn kith_prop(name: &str, parts: &[&str]) -> Property {
    Property {
        group: None,
        name: name.into(),
        params: Vec::new(),
        value: parts
            .iter()
            .map(|p| escape_text(p))
            .collect::<Vec<_>>()
            .join(";"),
    }
}

/// Why a card cannot become a contact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("the card has no name (no FN, N, ORG or EMAIL)")]
    NoName,
}

/// A stable 128-bit hash (two FNV-1a 64 lanes) of strings separated by NUL.
pub fn stable_hash(parts: &[&str]) -> u128 {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for (i, p) in parts.iter().enumerate() {
        let sep: &[u8] = if i == 0 { b"" } else { b"\0" };
        for &byte in sep.iter().chain(p.as_bytes()) {
            a = (a ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
            b = (b ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3 ^ 0x10);
            b = b.rotate_left(5);
        }
    }
    ((a as u128) << 64) | b as u128
}

fn is_type_word(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Encodes vCard TYPEs, PREF and a free label (Apple's X-ABLabel) as one kith label:
/// `"work, pref, Book club"`. Types come first; from the first token that is not a lower-case
/// word on, the rest is the free label. `decode_label` reverses it.
pub fn encode_label(types: &[String], pref: Option<u8>, label: Option<&str>) -> String {
    let mut tokens: Vec<String> = types
        .iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if pref.is_some() {
        tokens.push("pref".into());
    }
    if let Some(l) = label.map(str::trim).filter(|l| !l.is_empty()) {
        tokens.push(l.to_string());
    }
    tokens.join(", ")
}

/// Splits a kith label into vCard TYPEs, PREF and a free label.
pub fn decode_label(label: &str) -> (Vec<String>, Option<u8>, Option<String>) {
    let mut types = Vec::new();
    let mut pref = None;
    let tokens: Vec<&str> = label
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let mut i = 0;
    while i < tokens.len() && is_type_word(tokens[i]) {
        if tokens[i] == "pref" {
            pref = Some(1);
        } else {
            types.push(tokens[i].to_string());
        }
        i += 1;
    }
    let rest = tokens[i..].join(", ");
    (types, pref, (!rest.is_empty()).then_some(rest))
}

fn param_value(v: &str) -> String {
    let v = v.replace('"', "'");
    if v.contains([',', ';', ':']) {
        format!("\"{v}\"")
    } else {
        v
    }
}

/// Parameters as text: `TYPE=home,work;PREF=1`, values quoted when they hold `,;:`.
pub fn params_to_text(params: &[(String, Vec<String>)]) -> String {
    params
        .iter()
        .map(|(k, vs)| {
            if vs.is_empty() {
                k.clone()
            } else {
                let vs: Vec<String> = vs.iter().map(|v| param_value(v)).collect();
                format!("{k}={}", vs.join(","))
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

/// Parses the text form of [`params_to_text`].
pub fn params_from_text(text: &str) -> Vec<(String, Vec<String>)> {
    if text.is_empty() {
        return Vec::new();
    }
    split_outside_quotes(text, ';')
        .into_iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (
                k.to_string(),
                split_outside_quotes(v, ',')
                    .into_iter()
                    .map(|v| v.trim_matches('"').to_string())
                    .collect(),
            ),
            None => (p.to_string(), Vec::new()),
        })
        .collect()
}

/// The `extra` entry of an unmodelled property, and its key (a hash of its content).
pub fn extra_of(p: &Property) -> (String, ExtraProp) {
    let e = ExtraProp {
        group: p.group.clone().unwrap_or_default(),
        name: p.name.clone(),
        params: params_to_text(&p.params),
        value: p.value.clone(),
    };
    (extra_key(&e), e)
}

pub fn extra_key(e: &ExtraProp) -> String {
    format!(
        "{:032x}",
        stable_hash(&[&e.group, &e.name, &e.params, &e.value])
    )
}

fn clean_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// A tag from a CATEGORIES value: lower case, whitespace runs become `-`.
pub fn category_tag(c: &str) -> String {
    clean_line(c)
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
}

/// The UID kith gives a card that has none: a hash of who it is (name and first email, phone
/// and URL), shaped as a `urn:uuid:`, so re-importing the same file finds the same contact.
pub fn synthetic_uid(card: &CardData, name: &str) -> String {
    let first = |l: &[Labelled]| {
        l.first()
            .map(|e| e.value.to_lowercase())
            .unwrap_or_default()
    };
    let h = stable_hash(&[
        "kith-import-uid",
        name,
        &first(&card.emails),
        &first(&card.phones),
        &first(&card.urls),
    ]);
    let s = format!("{h:032x}");
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..]
    )
}

/// Entry key of the `index`-th entry of a field, created at `now`: the shape of
/// [`crate::model`] entry keys (11 hex digits of milliseconds + 8 hex), so keys sort by
/// creation time and, within one import, in card order.
pub fn import_key(now: i64, index: usize, value: &str) -> String {
    let h = (stable_hash(&[value]) & 0xffff) as u32;
    format!("{:011x}{:04x}{:04x}", now.max(0), index.min(0xffff), h)
}

fn labeled(l: &Labelled) -> Labeled {
    Labeled {
        value: clean_line(&l.value),
        label: encode_label(&l.types, l.pref, l.label.as_deref()),
    }
}

/// Maps a card to a new contact (entry keys derived from `now`).
pub fn card_to_contact(card: &CardData, now: i64, opts: &MapOptions) -> Result<Mapped, MapError> {
    let name = card
        .display_name()
        .map(|n| clean_line(&n))
        .filter(|n| !n.is_empty())
        .ok_or(MapError::NoName)?;
    let mut c = Contact {
        name: name.clone(),
        ..Default::default()
    };
    if let Some(n) = &card.name {
        c.n = StructuredName {
            family: n.family.clone(),
            given: n.given.clone(),
            additional: n.additional.clone(),
            prefix: n.prefixes.clone(),
            suffix: n.suffixes.clone(),
        };
    }
    c.nickname = card
        .nicknames
        .iter()
        .map(|n| clean_line(n))
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let mut i = 0;
    let mut key = |v: &str| {
        i += 1;
        import_key(now, i, v)
    };
    for (field, list) in [
        (&mut c.emails, &card.emails),
        (&mut c.phones, &card.phones),
        (&mut c.urls, &card.urls),
    ] {
        for l in list {
            let e = labeled(l);
            if e.value.is_empty() || field.values().any(|x| x.value == e.value) {
                continue;
            }
            field.insert(key(&e.value), e);
        }
    }
    for a in &card.addresses {
        let addr = address(a);
        if !c.addresses.values().any(|x| same_address(x, &addr)) {
            let k = key(&addr.street);
            c.addresses.insert(k, addr);
        }
    }
    let roles = card.orgs.len().max(card.titles.len());
    for r in 0..roles {
        let (org, unit) = match card.orgs.get(r) {
            Some(Org { name, units }) => (clean_line(name), units.join(";")),
            None => (String::new(), String::new()),
        };
        let title = card
            .titles
            .get(r)
            .map(|t| clean_line(t))
            .unwrap_or_default();
        if org.is_empty() && unit.is_empty() && title.is_empty() {
            continue;
        }
        let k = key(&org);
        c.orgs.insert(
            k,
            Role {
                org,
                unit,
                title,
                ..Default::default()
            },
        );
    }
    if let Some(b) = &card.birthday {
        c.birthday = b.to_string();
    }
    if let Some(a) = &card.anniversary {
        let v = a.to_string();
        c.dates.insert(
            key(&v),
            Labeled {
                value: v,
                label: "anniversary".into(),
            },
        );
    }
    c.tags = card
        .categories
        .iter()
        .map(|t| category_tag(t))
        .filter(|t| !t.is_empty())
        .collect();
    c.uid = match &card.uid {
        Some(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => synthetic_uid(card, &name),
    };
    // Labels of labelled entries are captured in the entry; drop their X-ABLABEL lines.
    let groups: Vec<String> = card
        .emails
        .iter()
        .chain(&card.phones)
        .chain(&card.urls)
        .filter(|l| l.label.is_some())
        .filter_map(|l| l.group.clone())
        .chain(
            card.addresses
                .iter()
                .filter(|a| a.label.is_some())
                .filter_map(|a| a.group.clone()),
        )
        .map(|g| g.to_ascii_lowercase())
        .collect();
    let mut links = Vec::new();
    let mut j = 0x8000;
    for p in &card.unknown {
        if p.group.is_none() && apply_kith_prop(&mut c, p, &mut links, now, &mut j) {
            continue;
        }
        let captured = p.name == "X-ABLABEL"
            && p.group
                .as_ref()
                .is_some_and(|g| groups.contains(&g.to_ascii_lowercase()));
        if !captured {
            let (k, e) = extra_of(p);
            c.extra.insert(k, e);
        }
    }
    let mut photo_skipped = None;
    match &card.photo {
        Some(Photo::Inline { mime, bytes }) => {
            if opts.skip_photos || bytes.len() > opts.max_photo_bytes {
                photo_skipped = Some(bytes.len());
            } else {
                let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                let e = ExtraProp {
                    name: "PHOTO".into(),
                    value: format!("data:{};base64,{data}", mime.as_deref().unwrap_or("")),
                    ..Default::default()
                };
                c.extra.insert(extra_key(&e), e);
            }
        }
        Some(Photo::Uri(u)) if !opts.skip_photos => {
            let e = ExtraProp {
                name: "PHOTO".into(),
                value: u.clone(),
                ..Default::default()
            };
            c.extra.insert(extra_key(&e), e);
        }
        Some(Photo::Uri(_)) | None => {}
    }
    let note = card.note.as_ref().filter(|n| !n.trim().is_empty()).cloned();
    Ok(Mapped {
        contact: c,
        note,
        photo_skipped,
        links,
    })
}

/// Applies one `X-KITH-*` property (kith's own fields, see docs/export-format.md) to `c`.
/// Returns false for anything else, which then stays in `extra`.
fn apply_kith_prop(
    c: &mut Contact,
    p: &Property,
    links: &mut Vec<(String, String)>,
    now: i64,
    j: &mut usize,
) -> bool {
    let parts = || split_escaped(&p.value, ';');
    let mut key = |v: &str| {
        *j += 1;
        import_key(now, *j, v)
    };
    match p.name.as_str() {
        "X-KITH-MET" => c.met = unescape(&p.value),
        "X-KITH-HELP" => c.help = unescape(&p.value),
        "X-KITH-KIND" => {
            let k = unescape(&p.value);
            if !k.is_empty() {
                c.kinds.insert(k);
            }
        }
        "X-KITH-EVERY" => c.every = unescape(&p.value),
        "X-KITH-LEAD" => c.lead = unescape(&p.value),
        "X-KITH-LINK" => {
            let v = parts();
            let (Some(rel), Some(uid)) = (v.first(), v.get(1)) else {
                return false;
            };
            links.push((rel.clone(), uid.clone()));
        }
        "X-KITH-CUSTOM" => {
            let v = parts();
            let (Some(k), Some(val)) = (v.first(), v.get(1)) else {
                return false;
            };
            c.custom.insert(k.clone(), val.clone());
        }
        "X-KITH-DATE" => {
            let v = parts();
            let (Some(label), Some(value)) = (v.first(), v.get(1)) else {
                return false;
            };
            if !c
                .dates
                .values()
                .any(|d| &d.value == value && &d.label == label)
            {
                let k = key(value);
                c.dates.insert(
                    k,
                    Labeled {
                        value: value.clone(),
                        label: label.clone(),
                    },
                );
            }
        }
        "X-KITH-ROLE" => {
            let v = parts();
            if v.len() != 5 {
                return false;
            }
            let found = c
                .orgs
                .iter()
                .find(|(_, r)| {
                    r.org == v[0]
                        && r.unit == v[1]
                        && r.title == v[2]
                        && r.since.is_empty()
                        && r.until.is_empty()
                })
                .map(|(k, _)| k.clone());
            let k = match found {
                Some(k) => k,
                None => key(&v[0]),
            };
            c.orgs.insert(
                k,
                Role {
                    org: v[0].clone(),
                    unit: v[1].clone(),
                    title: v[2].clone(),
                    since: v[3].clone(),
                    until: v[4].clone(),
                },
            );
        }
        _ => return false,
    }
    true
}

fn address(a: &CardAddress) -> Address {
    Address {
        label: encode_label(&a.types, a.pref, a.label.as_deref()),
        pobox: a.po_box.clone(),
        ext: a.extended.clone(),
        street: a.street.clone(),
        locality: a.locality.clone(),
        region: a.region.clone(),
        postcode: a.postcode.clone(),
        country: a.country.clone(),
    }
}

fn same_address(a: &Address, b: &Address) -> bool {
    let mut a = a.clone();
    a.label = b.label.clone();
    &a == b
}

fn card_labelled(l: &Labeled) -> Labelled {
    let (types, pref, label) = decode_label(&l.label);
    Labelled {
        types,
        pref,
        label,
        group: None,
        value: l.value.clone(),
    }
}

/// Maps a contact back to a card. `notes` are the bodies of its notes (oldest first); they
/// are joined by a blank line into one NOTE. Links name their target by [`kith_uid`].
pub fn contact_to_card(c: &Contact, notes: &[String]) -> CardData {
    let uid_of = |hex: &str| match hex.parse::<DocId>() {
        Ok(id) => kith_uid(&id),
        Err(_) => hex.to_string(),
    };
    contact_to_card_with(c, notes, &uid_of)
}

/// [`contact_to_card`], with kith's own fields as `X-KITH-*` properties (written before the
/// kept `extra` ones): how we met, kinds, cadence, links (`link_uid` gives the UID of a link
/// target's hex id), custom fields, dates other than the anniversary, role dates.
pub fn contact_to_card_with(
    c: &Contact,
    notes: &[String],
    link_uid: &dyn Fn(&str) -> String,
) -> CardData {
    let mut card = CardData {
        uid: (!c.uid.is_empty()).then(|| c.uid.clone()),
        formatted_name: Some(c.name.clone()),
        ..Default::default()
    };
    if c.n != StructuredName::default() {
        card.name = Some(super::StructuredName {
            family: c.n.family.clone(),
            given: c.n.given.clone(),
            additional: c.n.additional.clone(),
            prefixes: c.n.prefix.clone(),
            suffixes: c.n.suffix.clone(),
        });
    }
    card.nicknames = c
        .nickname
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    card.emails = c.emails.values().map(card_labelled).collect();
    card.phones = c.phones.values().map(card_labelled).collect();
    card.urls = c.urls.values().map(card_labelled).collect();
    card.addresses = c
        .addresses
        .values()
        .map(|a| {
            let (types, pref, label) = decode_label(&a.label);
            CardAddress {
                types,
                pref,
                label,
                group: None,
                po_box: a.pobox.clone(),
                extended: a.ext.clone(),
                street: a.street.clone(),
                locality: a.locality.clone(),
                region: a.region.clone(),
                postcode: a.postcode.clone(),
                country: a.country.clone(),
            }
        })
        .collect();
    // ORG i pairs with TITLE i: roles with an organisation first, then title-only roles.
    let (with_org, without): (Vec<&Role>, Vec<&Role>) = c
        .orgs
        .values()
        .partition(|r| !r.org.is_empty() || !r.unit.is_empty());
    for r in &with_org {
        let mut units: Vec<String> = if r.unit.is_empty() {
            Vec::new()
        } else {
            r.unit.split(';').map(String::from).collect()
        };
        let name = if r.org.is_empty() && !units.is_empty() {
            units.remove(0)
        } else {
            r.org.clone()
        };
        card.orgs.push(Org { name, units });
        card.titles.push(r.title.clone());
    }
    card.titles.extend(without.iter().map(|r| r.title.clone()));
    while card.titles.last().is_some_and(|t| t.is_empty()) {
        card.titles.pop();
    }
    card.birthday = PartialDate::parse(&c.birthday);
    let anniversary = c
        .dates
        .iter()
        .filter(|(_, d)| d.label == "anniversary")
        .find_map(|(k, d)| {
            let p = PartialDate::parse(&d.value)?;
            (p.to_string() == d.value).then(|| (k.clone(), p))
        });
    card.anniversary = anniversary.as_ref().map(|(_, p)| *p);
    card.categories = c.tags.iter().cloned().collect();
    let notes: Vec<&str> = notes
        .iter()
        .map(|n| n.as_str())
        .filter(|n| !n.trim().is_empty())
        .collect();
    if !notes.is_empty() {
        card.note = Some(notes.join("\n\n"));
    }
    // kith's own fields.
    let mut kith = Vec::new();
    if !c.met.is_empty() {
        kith.push(kith_prop("X-KITH-MET", &[&c.met]));
    }
    if !c.help.is_empty() {
        kith.push(kith_prop("X-KITH-HELP", &[&c.help]));
    }
    for k in &c.kinds {
        kith.push(kith_prop("X-KITH-KIND", &[k]));
    }
    if !c.every.is_empty() {
        kith.push(kith_prop("X-KITH-EVERY", &[&c.every]));
    }
    if !c.lead.is_empty() {
        kith.push(kith_prop("X-KITH-LEAD", &[&c.lead]));
    }
    for l in c.links.values() {
        kith.push(kith_prop("X-KITH-LINK", &[&l.rel, &link_uid(&l.to)]));
    }
    for (k, v) in &c.custom {
        kith.push(kith_prop("X-KITH-CUSTOM", &[k, v]));
    }
    for (k, d) in &c.dates {
        if anniversary.as_ref().is_some_and(|(ak, _)| ak == k) {
            continue;
        }
        kith.push(kith_prop("X-KITH-DATE", &[&d.label, &d.value]));
    }
    for r in c.orgs.values() {
        if !r.since.is_empty() || !r.until.is_empty() {
            kith.push(kith_prop(
                "X-KITH-ROLE",
                &[&r.org, &r.unit, &r.title, &r.since, &r.until],
            ));
        }
    }
    card.unknown.extend(kith);
    let mut extras: Vec<&ExtraProp> = c.extra.values().collect();
    extras.sort_by(|a, b| {
        (&a.group, &a.name, &a.params, &a.value).cmp(&(&b.group, &b.name, &b.params, &b.value))
    });
    for e in extras {
        if e.name == "PHOTO" && e.group.is_empty() && e.params.is_empty() && card.photo.is_none() {
            card.photo = Some(photo_of(&e.value));
            continue;
        }
        card.unknown.push(Property {
            group: (!e.group.is_empty()).then(|| e.group.clone()),
            name: e.name.clone(),
            params: params_from_text(&e.params),
            value: e.value.clone(),
        });
    }
    card
}

fn photo_of(value: &str) -> Photo {
    if let Some(rest) = value.strip_prefix("data:") {
        if let Some((mime, data)) = rest.split_once(";base64,") {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) {
                return Photo::Inline {
                    mime: (!mime.is_empty()).then(|| mime.to_string()),
                    bytes,
                };
            }
        }
    }
    Photo::Uri(value.to_string())
}

/// How a multi-valued entry is compared when merging: emails case-insensitively, phones by
/// their digits, the rest exactly.
fn labeled_match(field: &str, a: &str, b: &str) -> bool {
    match field {
        "emails" => a.eq_ignore_ascii_case(b),
        "phones" => {
            let (ka, kb) = (phone_key(a), phone_key(b));
            if ka.is_empty() {
                a == b
            } else {
                ka == kb
            }
        }
        _ => a == b,
    }
}

fn fresh_key<V>(map: &BTreeMap<String, V>, key: &str) -> String {
    let mut k = key.to_string();
    let mut n = 0u32;
    while map.contains_key(&k) {
        n += 1;
        k = format!("{key}{n}");
    }
    k
}

/// Unions labelled entries: an entry whose value is already present keeps its key and takes
/// the incoming label when `take_label` and that label is not empty; others are added.
fn union_labeled(
    field: &str,
    mine: &mut BTreeMap<String, Labeled>,
    theirs: &BTreeMap<String, Labeled>,
    take_label: bool,
) {
    for (k, e) in theirs {
        let found = mine
            .iter()
            .find(|(_, x)| labeled_match(field, &x.value, &e.value))
            .map(|(k, _)| k.clone());
        match found {
            Some(mk) => {
                let m = mine.get_mut(&mk).expect("found above");
                if (take_label || m.label.is_empty()) && !e.label.is_empty() && m.label != e.label {
                    m.label = e.label.clone();
                }
            }
            None => {
                let k = fresh_key(mine, k);
                mine.insert(k, e.clone());
            }
        }
    }
}

fn union_common(mine: &mut Contact, theirs: &Contact, take: bool) {
    union_labeled("emails", &mut mine.emails, &theirs.emails, take);
    union_labeled("phones", &mut mine.phones, &theirs.phones, take);
    union_labeled("urls", &mut mine.urls, &theirs.urls, take);
    for (k, d) in &theirs.dates {
        if !mine
            .dates
            .values()
            .any(|x| x.value == d.value && x.label == d.label)
        {
            let k = fresh_key(&mine.dates, k);
            mine.dates.insert(k, d.clone());
        }
    }
    for (k, a) in &theirs.addresses {
        let found = mine
            .addresses
            .iter()
            .find(|(_, x)| same_address(x, a))
            .map(|(k, _)| k.clone());
        match found {
            Some(mk) => {
                let m = mine.addresses.get_mut(&mk).expect("found above");
                if (take || m.label.is_empty()) && !a.label.is_empty() {
                    m.label = a.label.clone();
                }
            }
            None => {
                let k = fresh_key(&mine.addresses, k);
                mine.addresses.insert(k, a.clone());
            }
        }
    }
    for (k, r) in &theirs.orgs {
        let same = |x: &Role| {
            x.org.to_lowercase() == r.org.to_lowercase()
                && x.unit == r.unit
                && (x.title == r.title || r.title.is_empty())
        };
        if mine.orgs.values().any(same) {
            continue;
        }
        // The same organisation without a title yet: fill the title in.
        let untitled = mine
            .orgs
            .iter()
            .find(|(_, x)| {
                x.org.to_lowercase() == r.org.to_lowercase()
                    && x.unit == r.unit
                    && x.title.is_empty()
                    && x.until.is_empty()
            })
            .map(|(k, _)| k.clone());
        match untitled {
            Some(mk) => mine.orgs.get_mut(&mk).expect("found above").title = r.title.clone(),
            None => {
                let k = fresh_key(&mine.orgs, k);
                mine.orgs.insert(k, r.clone());
            }
        }
    }
    mine.tags.extend(theirs.tags.iter().cloned());
    mine.kinds.extend(theirs.kinds.iter().cloned());
    for (k, e) in &theirs.extra {
        mine.extra.entry(k.clone()).or_insert_with(|| e.clone());
    }
    for (k, v) in &theirs.custom {
        mine.custom.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

/// Import merge: the card's non-empty scalar values win (as an edit would), entries are
/// unioned, nothing the card lacks is removed. `met` is only filled when empty.
pub fn merge_import(mine: &mut Contact, card: &Contact) {
    if !card.name.is_empty() {
        mine.name = card.name.clone();
    }
    if card.n != StructuredName::default() {
        mine.n = card.n.clone();
    }
    if !card.nickname.is_empty() {
        mine.nickname = card.nickname.clone();
    }
    if !card.birthday.is_empty() {
        mine.birthday = card.birthday.clone();
    }
    if !card.every.is_empty() {
        mine.every = card.every.clone();
    }
    if !card.lead.is_empty() {
        mine.lead = card.lead.clone();
    }
    if mine.uid.is_empty() {
        mine.uid = card.uid.clone();
    }
    if mine.met.trim().is_empty() && !card.met.is_empty() {
        mine.met = card.met.clone();
    }
    union_common(mine, card, true);
}

/// Import merge of a later card of the same import into a contact an earlier card already
/// matched: it only fills what the contact lacks (empty scalars, missing entries and labels),
/// so several cards of one person give the same contact however often they are imported.
pub fn merge_import_fill(mine: &mut Contact, card: &Contact) {
    let fill = |a: &mut String, b: &String| {
        if a.trim().is_empty() && !b.is_empty() {
            *a = b.clone();
        }
    };
    fill(&mut mine.nickname, &card.nickname);
    fill(&mut mine.birthday, &card.birthday);
    fill(&mut mine.every, &card.every);
    fill(&mut mine.lead, &card.lead);
    fill(&mut mine.uid, &card.uid);
    fill(&mut mine.met, &card.met);
    if mine.n == StructuredName::default() {
        mine.n = card.n.clone();
    }
    union_common(mine, card, false);
}

/// The `extra` entry that keeps an `X-KITH-LINK` whose target is not in the vault.
pub fn unresolved_link(rel: &str, uid: &str) -> (String, ExtraProp) {
    let p = kith_prop("X-KITH-LINK", &[rel, uid]);
    extra_of(&p)
}

/// `kith merge`: `other` folds into `survivor`. Scalars keep the survivor's unless empty,
/// entries are unioned, `met` texts are both kept, links to either contact are dropped.
pub fn merge_contacts(survivor: &mut Contact, other: &Contact, survivor_id: &str, other_id: &str) {
    let fill = |a: &mut String, b: &String| {
        if a.trim().is_empty() && !b.is_empty() {
            *a = b.clone();
        }
    };
    fill(&mut survivor.nickname, &other.nickname);
    fill(&mut survivor.birthday, &other.birthday);
    fill(&mut survivor.every, &other.every);
    fill(&mut survivor.lead, &other.lead);
    fill(&mut survivor.uid, &other.uid);
    if survivor.n == StructuredName::default() {
        survivor.n = other.n.clone();
    }
    if survivor.met.trim().is_empty() {
        survivor.met = other.met.clone();
    } else if !other.met.trim().is_empty() && !survivor.met.contains(other.met.trim()) {
        survivor.met = format!("{}\n\n{}", survivor.met, other.met);
    }
    union_common(survivor, other, false);
    for (k, l) in &other.links {
        if l.to == survivor_id || l.to == other_id {
            continue;
        }
        if !survivor
            .links
            .values()
            .any(|x| x.to == l.to && x.rel == l.rel)
        {
            let k = fresh_key(&survivor.links, k);
            survivor.links.insert(k, l.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::{write_vcard, VCardReader, WriteVersion};

    fn parse(text: &str) -> Vec<CardData> {
        let mut r = VCardReader::new();
        let mut out = Vec::new();
        for line in text.split_inclusive('\n') {
            if let Some(c) = r.push_line(line.as_bytes()) {
                out.push(CardData::from_raw(&c.unwrap()));
            }
        }
        out
    }

    /// (vCard TYPE values, PREF, Apple label, kith label)
    type LabelCase<'a> = (&'a [&'a str], Option<u8>, Option<&'a str>, &'a str);

    #[test]
    fn labels_encode_and_decode() {
        let cases: &[LabelCase] = &[
            (&["work"], None, None, "work"),
            (&["home", "voice"], Some(1), None, "home, voice, pref"),
            (&[], None, Some("Book club"), "Book club"),
            (&["work"], None, Some("Book, club"), "work, Book, club"),
        ];
        for (types, pref, label, text) in cases {
            let types: Vec<String> = types.iter().map(|s| s.to_string()).collect();
            assert_eq!(encode_label(&types, *pref, *label), *text);
            let (t, p, l) = decode_label(text);
            assert_eq!((t, p, l.as_deref()), (types, *pref, *label));
        }
    }

    #[test]
    fn params_text_round_trips() {
        let p = vec![
            (
                "TYPE".to_string(),
                vec!["work".to_string(), "voice".to_string()],
            ),
            (
                "LABEL".to_string(),
                vec!["1 Main St; Springfield".to_string()],
            ),
            ("X-FLAG".to_string(), vec![]),
        ];
        assert_eq!(params_from_text(&params_to_text(&p)), p);
    }

    #[test]
    fn card_to_contact_and_back_is_a_fixed_point() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\n\
item1.EMAIL;type=INTERNET;type=pref:ada@example.com\r\nitem1.X-ABLabel:Book club\r\n\
TEL;TYPE=CELL:+44 20 1234\r\nORG:Analytical Engines;R&D\r\nORG:Royal Society\r\n\
TITLE:Programmer\r\nCATEGORIES:Math,Book Club\r\nNOTE:Met at a salon\r\n\
X-CUSTOM;X-P=\"a,b\":value\r\nBDAY:--1210\r\nEND:VCARD\r\n";
        let card = &parse(text)[0];
        let m = card_to_contact(card, 1000, &MapOptions::default()).unwrap();
        let c = &m.contact;
        assert_eq!(c.name, "Ada Lovelace");
        assert_eq!(m.note.as_deref(), Some("Met at a salon"));
        assert!(c.tags.contains("book-club"));
        assert_eq!(c.orgs.len(), 2);
        assert!(c.uid.starts_with("urn:uuid:"));
        assert_eq!(c.extra.len(), 1, "{:?}", c.extra);
        let label = &c.emails.values().next().unwrap().label;
        assert_eq!(label, "pref, Book club");
        let notes = vec![m.note.clone().unwrap()];
        let out1 = write_vcard(&contact_to_card(c, &notes), WriteVersion::V4_0);
        let again = card_to_contact(&parse(&out1)[0], 1000, &MapOptions::default()).unwrap();
        assert_eq!(&again.contact, c);
        let out2 = write_vcard(&contact_to_card(&again.contact, &notes), WriteVersion::V4_0);
        assert_eq!(out1, out2);
    }

    #[test]
    fn import_merge_adds_and_never_removes() {
        let mut mine = Contact {
            name: "Ada".into(),
            ..Default::default()
        };
        mine.emails.insert(
            "a".into(),
            Labeled {
                value: "ADA@x.org".into(),
                label: String::new(),
            },
        );
        mine.phones.insert(
            "p".into(),
            Labeled {
                value: "+1 555 0100".into(),
                label: String::new(),
            },
        );
        let mut card = Contact {
            name: "Ada Lovelace".into(),
            ..Default::default()
        };
        card.emails.insert(
            "b".into(),
            Labeled {
                value: "ada@x.org".into(),
                label: "work".into(),
            },
        );
        let before = mine.clone();
        merge_import(&mut mine, &card);
        assert_eq!(mine.name, "Ada Lovelace");
        assert_eq!(mine.emails.len(), 1);
        assert_eq!(mine.emails["a"].label, "work");
        assert_eq!(mine.phones, before.phones);
        let once = mine.clone();
        merge_import(&mut mine, &card);
        assert_eq!(mine, once, "merging twice changes nothing");
    }
}
