//! The Automerge schema of kith's four document kinds, and typed views of them.
//!
//! Every entity is its own Automerge document whose root map carries `kind` and `schema`.
//! `read_*` builds a typed value from a document; `write_*` compares a typed value with what
//! the document holds and writes only the fields that differ, so concurrent edits on other
//! devices to other fields (or other characters of a text) still merge.
//!
//! Invariants:
//! - Keys this version does not know are never deleted or rewritten (forward compatibility):
//!   writers only touch the keys listed in this module.
//! - Multi-valued fields (emails, phones, ...) are maps keyed by a stable entry id, never lists,
//!   so concurrent additions on two devices both survive.
//! - Short values are last-writer-wins scalars; long free text (`met`, note bodies, interaction
//!   summaries) is an Automerge Text object, merged character by character.
//! - Reading never fails on unexpected shapes written by a peer: a value of the wrong type reads
//!   as absent.

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use serde::{Deserialize, Serialize};

use crate::id::DocId;

mod build;
mod read;
pub use build::{new_contact, new_interaction, new_note, new_reminder};
pub use read::{read_contact, read_interaction, read_note};

/// The schema version written into every document's root (`schema` key).
pub const SCHEMA_VERSION: i64 = 1;

/// The kind of a document, stored at the root under `kind`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Contact,
    Note,
    Interaction,
    Reminder,
    /// The membership document (see `devices.rs`).
    Devices,
    /// An opportunity: a job lead, collaboration, project or referral (`kith opp`).
    Opportunity,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Contact,
        Kind::Note,
        Kind::Interaction,
        Kind::Reminder,
        Kind::Devices,
        Kind::Opportunity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Contact => "contact",
            Kind::Note => "note",
            Kind::Interaction => "interaction",
            Kind::Reminder => "reminder",
            Kind::Devices => "devices",
            Kind::Opportunity => "opportunity",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// One byte code used by the store.
    pub fn code(self) -> u8 {
        match self {
            Kind::Contact => 1,
            Kind::Note => 2,
            Kind::Interaction => 3,
            Kind::Reminder => 4,
            Kind::Devices => 5,
            Kind::Opportunity => 6,
        }
    }

    pub fn from_code(c: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == c)
    }
}

/// Interaction kinds kith suggests; any word is accepted.
pub const INTERACTION_KINDS: &[&str] = &[
    "meeting", "call", "email", "message", "coffee", "event", "other",
];

/// Relationship kinds kith suggests; any word is accepted.
pub const RELATIONSHIP_KINDS: &[&str] = &[
    "mentor",
    "mentee",
    "colleague",
    "client",
    "friend",
    "family",
    "investor",
    "recruiter",
    "peer",
];

/// The kind recorded in a document's root, if any.
pub fn doc_kind<D: ReadDoc>(doc: &D) -> Option<Kind> {
    read_str(doc, &ROOT, "kind").and_then(|s| Kind::parse(&s))
}

// ---------------------------------------------------------------------------------------------
// Records: small maps of string fields inside a parent map, keyed by an entry id.

/// A typed record stored as a map of string fields. Only `FIELDS` are ever written.
pub trait Record: Default + Clone + PartialEq {
    const FIELDS: &'static [&'static str];
    fn field(&self, name: &str) -> &str;
    fn set_field(&mut self, name: &str, value: String);
}

macro_rules! record {
    ($(#[$m:meta])* $name:ident { $($f:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            $(#[serde(default, skip_serializing_if = "String::is_empty")] pub $f: String,)*
        }
        impl Record for $name {
            const FIELDS: &'static [&'static str] = &[$(stringify!($f)),*];
            fn field(&self, name: &str) -> &str {
                match name { $(stringify!($f) => &self.$f,)* _ => "" }
            }
            fn set_field(&mut self, name: &str, value: String) {
                match name { $(stringify!($f) => self.$f = value,)* _ => {} }
            }
        }
    };
}

record!(
    /// An email, phone, URL/social handle or important date with its label.
    Labeled { value, label }
);
record!(
    /// A postal address.
    Address { label, pobox, ext, street, locality, region, postcode, country }
);
record!(
    /// An organisation and role, with optional dates (ISO, free precision).
    Role { org, unit, title, since, until }
);
record!(
    /// A link to another contact (hex id) with a relation word.
    Link { to, rel }
);
record!(
    /// A structured name.
    StructuredName { family, given, additional, prefix, suffix }
);
record!(
    /// A vCard property kith does not model, kept verbatim for export.
    /// `params` is the raw parameter text (`TYPE=home;PREF=1`), `value` the raw value.
    ExtraProp { group, name, params, value }
);

/// A contact document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    #[serde(default)]
    pub n: StructuredName,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nickname: String,
    #[serde(default)]
    pub emails: BTreeMap<String, Labeled>,
    #[serde(default)]
    pub phones: BTreeMap<String, Labeled>,
    #[serde(default)]
    pub urls: BTreeMap<String, Labeled>,
    #[serde(default)]
    pub addresses: BTreeMap<String, Address>,
    #[serde(default)]
    pub orgs: BTreeMap<String, Role>,
    /// `YYYY-MM-DD` or `--MM-DD` when the year is unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub birthday: String,
    /// Other important dates: value `YYYY-MM-DD` or `--MM-DD`, label e.g. `anniversary`.
    #[serde(default)]
    pub dates: BTreeMap<String, Labeled>,
    /// How we met (Text).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub met: String,
    /// How they could help (a short scalar; shared by default in a slice, docs/design/sharing.md).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
    /// Relationship kinds (mentor, client, ...).
    #[serde(default)]
    pub kinds: BTreeSet<String>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// Keep-in-touch cadence, canonical span like `30d`, `2w`, `6m`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub every: String,
    /// How long before a birthday or other date `kith due` shows it, canonical span like
    /// `14d`; empty means the default (7 days).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lead: String,
    #[serde(default)]
    pub links: BTreeMap<String, Link>,
    #[serde(default)]
    pub custom: BTreeMap<String, String>,
    /// vCard UID, kept for de-duplication on import.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// vCard properties kith does not model, kept verbatim.
    #[serde(default)]
    pub extra: BTreeMap<String, ExtraProp>,
    /// Set when this contact was merged into another one (`kith merge`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub merged_into: String,
    #[serde(default)]
    pub archived: bool,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub updated: i64,
}

impl Contact {
    pub fn primary_email(&self) -> Option<&str> {
        self.emails.values().map(|e| e.value.as_str()).next()
    }
    pub fn primary_role(&self) -> Option<&Role> {
        self.orgs
            .values()
            .find(|r| r.until.is_empty())
            .or_else(|| self.orgs.values().next())
    }
}

/// A note document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub body: String,
    #[serde(default)]
    pub contacts: BTreeSet<DocId>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    pub created: i64,
    pub updated: i64,
}

/// An interaction document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// `YYYY-MM-DD`
    pub date: String,
    pub kind: String,
    #[serde(default)]
    pub contacts: BTreeSet<DocId>,
    pub summary: String,
    pub created: i64,
    pub updated: i64,
}

/// A reminder document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reminder {
    /// `YYYY-MM-DD`
    pub due: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<DocId>,
    pub text: String,
    #[serde(default)]
    pub done: bool,
    /// `YYYY-MM-DD`: hidden from `due` until then.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub snoozed_until: String,
    pub created: i64,
    pub updated: i64,
}

// ---------------------------------------------------------------------------------------------
// Low-level readers. They never fail: wrong shapes read as absent.

fn scalar_str(v: &Value<'_>) -> Option<String> {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// A string at `key`: a Str scalar, or the content of a Text object.
pub fn read_str<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(ObjType::Text), id) => doc.text(&id).ok(),
        (v, _) => scalar_str(&v),
    }
}

fn read_i64<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> i64 {
    match doc.get(obj, key).ok().flatten() {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Int(i) | ScalarValue::Timestamp(i) => *i,
            ScalarValue::Uint(u) => i64::try_from(*u).unwrap_or(i64::MAX),
            _ => 0,
        },
        _ => 0,
    }
}

fn read_bool<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> bool {
    matches!(
        doc.get(obj, key).ok().flatten(),
        Some((Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Boolean(true))
    )
}

fn map_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(ObjType::Map), id) => Some(id),
        _ => None,
    }
}

fn read_record<D: ReadDoc, R: Record>(doc: &D, obj: &ObjId) -> R {
    let mut r = R::default();
    for f in R::FIELDS {
        if let Some(v) = read_str(doc, obj, f) {
            r.set_field(f, v);
        }
    }
    r
}

/// Every map object stored under `key`: Automerge's winner first, then the other concurrent
/// values of the key. Two devices that each created the map (older versions created it when
/// the first entry was added) leave several after a merge, and every one of them must be read.
///
/// One lookup: Automerge's `get` is the last value `get_all` returns (both read the same ops
/// of the key), so the winner is taken from there instead of seeking the key twice.
fn maps_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Vec<ObjId> {
    let Ok(all) = doc.get_all(obj, key) else {
        return Vec::new();
    };
    let is_map = |v: &Value| matches!(v, Value::Object(ObjType::Map));
    let mut out: Vec<ObjId> = Vec::with_capacity(all.len());
    if let Some((v, id)) = all.last() {
        if is_map(v) {
            out.push(id.clone());
        }
    }
    for (v, id) in all {
        if is_map(&v) && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// The entry object for `k` in the first of `maps` that has one (the one readers show).
fn entry_in<D: ReadDoc>(doc: &D, maps: &[ObjId], k: &str) -> Option<ObjId> {
    maps.iter().find_map(|m| map_at(doc, m, k))
}

/// The first of `maps` that holds a string at `k`.
fn str_holder<D: ReadDoc>(doc: &D, maps: &[ObjId], k: &str) -> Option<ObjId> {
    maps.iter().find(|m| read_str(doc, m, k).is_some()).cloned()
}

/// The union of the entries of `maps`; an entry id present in several reads from the first.
fn read_records_in<D: ReadDoc, R: Record>(doc: &D, maps: &[ObjId]) -> BTreeMap<String, R> {
    let mut out = BTreeMap::new();
    for m in maps {
        for k in doc.keys(m) {
            if out.contains_key(&k) {
                continue;
            }
            if let Some(entry) = map_at(doc, m, &k) {
                out.insert(k, read_record(doc, &entry));
            }
        }
    }
    out
}

#[cfg(test)] // the per-key reader the one-pass one is tested against
fn read_records<D: ReadDoc, R: Record>(doc: &D, obj: &ObjId, key: &str) -> BTreeMap<String, R> {
    read_records_in(doc, &maps_at(doc, obj, key))
}

/// A record whose fields may be spread over several concurrent maps (e.g. `n`).
fn read_record_in<D: ReadDoc, R: Record>(doc: &D, maps: &[ObjId]) -> R {
    let mut r = R::default();
    for f in R::FIELDS {
        if let Some(v) = maps.iter().find_map(|m| read_str(doc, m, f)) {
            r.set_field(f, v);
        }
    }
    r
}

fn read_set<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> BTreeSet<String> {
    maps_at(doc, obj, key)
        .iter()
        .flat_map(|m| doc.keys(m).collect::<Vec<_>>())
        .collect()
}

fn read_id_set<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> BTreeSet<DocId> {
    read_set(doc, obj, key)
        .into_iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn read_str_map_in<D: ReadDoc>(doc: &D, maps: &[ObjId]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for m in maps {
        for k in doc.keys(m) {
            if out.contains_key(&k) {
                continue;
            }
            if let Some(v) = read_str(doc, m, &k) {
                out.insert(k, v);
            }
        }
    }
    out
}

#[cfg(test)] // the per-key reader the one-pass one is tested against
fn read_str_map<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> BTreeMap<String, String> {
    read_str_map_in(doc, &maps_at(doc, obj, key))
}

// ---------------------------------------------------------------------------------------------
// Low-level writers: each writes only when the stored value differs.

type AmResult<T> = Result<T, automerge::AutomergeError>;

fn write_str(doc: &mut AutoCommit, obj: &ObjId, key: &str, new: &str) -> AmResult<()> {
    let old = read_str(doc, obj, key);
    if old.as_deref().unwrap_or("") == new {
        return Ok(());
    }
    if new.is_empty() {
        doc.delete(obj, key)?;
    } else {
        doc.put(obj, key, new)?;
    }
    Ok(())
}

fn write_text(doc: &mut AutoCommit, obj: &ObjId, key: &str, new: &str) -> AmResult<()> {
    match doc.get(obj, key)? {
        Some((Value::Object(ObjType::Text), id)) => {
            if doc.text(&id)? != new {
                doc.update_text(&id, new)?;
            }
        }
        _ => {
            if new.is_empty() && doc.get(obj, key)?.is_none() {
                return Ok(());
            }
            let id = doc.put_object(obj, key, ObjType::Text)?;
            doc.splice_text(&id, 0, 0, new)?;
        }
    }
    Ok(())
}

fn write_i64(doc: &mut AutoCommit, obj: &ObjId, key: &str, new: i64) -> AmResult<()> {
    if read_i64(doc, obj, key) != new || doc.get(obj, key)?.is_none() {
        doc.put(obj, key, new)?;
    }
    Ok(())
}

fn write_bool(doc: &mut AutoCommit, obj: &ObjId, key: &str, new: bool) -> AmResult<()> {
    let present = doc.get(obj, key)?.is_some();
    if read_bool(doc, obj, key) != new || (!present && new) {
        doc.put(obj, key, new)?;
    }
    Ok(())
}

fn write_record<R: Record>(doc: &mut AutoCommit, obj: &ObjId, new: &R) -> AmResult<()> {
    for f in R::FIELDS {
        write_str(doc, obj, f, new.field(f))?;
    }
    Ok(())
}

/// Deletes `k` from every one of `maps` that holds it.
fn delete_everywhere(doc: &mut AutoCommit, maps: &[ObjId], k: &str) -> AmResult<()> {
    for m in maps {
        if doc.get(m, k)?.is_some() {
            doc.delete(m, k)?;
        }
    }
    Ok(())
}

/// The winning map under `key` (created when there is none), for new entries.
fn winner_or_new(doc: &mut AutoCommit, maps: &[ObjId], obj: &ObjId, key: &str) -> AmResult<ObjId> {
    match maps.first() {
        Some(m) => Ok(m.clone()),
        None => doc.put_object(obj, key, ObjType::Map),
    }
}

/// Writes a multi-valued field. New entries go into the winning map; an edited entry is
/// edited where it is read from; a removed entry is removed from every concurrent map.
fn write_records<R: Record>(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    new: &BTreeMap<String, R>,
) -> AmResult<()> {
    let maps = maps_at(doc, obj, key);
    let old: BTreeMap<String, R> = read_records_in(doc, &maps);
    if &old == new && (!maps.is_empty() || new.is_empty()) {
        return Ok(());
    }
    let m = winner_or_new(doc, &maps, obj, key)?;
    for (k, rec) in new {
        match old.get(k) {
            Some(o) if o == rec => {}
            Some(_) => {
                let entry = entry_in(doc, &maps, k).expect("entry read above");
                write_record(doc, &entry, rec)?;
            }
            None => {
                let entry = doc.put_object(&m, k.as_str(), ObjType::Map)?;
                write_record(doc, &entry, rec)?;
            }
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            delete_everywhere(doc, &maps, k)?;
        }
    }
    Ok(())
}

fn write_set(doc: &mut AutoCommit, obj: &ObjId, key: &str, new: &BTreeSet<String>) -> AmResult<()> {
    let maps = maps_at(doc, obj, key);
    let old: BTreeSet<String> = maps
        .iter()
        .flat_map(|m| doc.keys(m).collect::<Vec<_>>())
        .collect();
    if &old == new && (!maps.is_empty() || new.is_empty()) {
        return Ok(());
    }
    let m = winner_or_new(doc, &maps, obj, key)?;
    for k in new.difference(&old) {
        doc.put(&m, k.as_str(), true)?;
    }
    for k in old.difference(new) {
        delete_everywhere(doc, &maps, k)?;
    }
    Ok(())
}

fn write_id_set(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    new: &BTreeSet<DocId>,
) -> AmResult<()> {
    let new: BTreeSet<String> = new.iter().map(|i| i.to_hex()).collect();
    write_set(doc, obj, key, &new)
}

/// Writes string fields that may be spread over several concurrent maps (`custom`, `n`): a
/// changed value is written where it is read from (or into the winner), an emptied or removed
/// one is deleted from every map.
fn write_fields_in(
    doc: &mut AutoCommit,
    maps: &[ObjId],
    target: &ObjId,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> AmResult<()> {
    for (k, v) in new {
        if old.get(k) == Some(v) || (v.is_empty() && !old.contains_key(k)) {
            continue;
        }
        if v.is_empty() {
            delete_everywhere(doc, maps, k)?;
        } else {
            let at = str_holder(doc, maps, k).unwrap_or_else(|| target.clone());
            write_str(doc, &at, k, v)?;
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            delete_everywhere(doc, maps, k)?;
        }
    }
    Ok(())
}

fn write_str_map(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    new: &BTreeMap<String, String>,
) -> AmResult<()> {
    let maps = maps_at(doc, obj, key);
    let old = read_str_map_in(doc, &maps);
    if &old == new && (!maps.is_empty() || new.is_empty()) {
        return Ok(());
    }
    let m = winner_or_new(doc, &maps, obj, key)?;
    write_fields_in(doc, &maps, &m, &old, new)
}

/// Writes a record kept directly in a map under `key` (`n`), whose fields may be spread over
/// several concurrent maps.
fn write_record_at<R: Record>(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    new: &R,
) -> AmResult<()> {
    let maps = maps_at(doc, obj, key);
    let old: R = read_record_in(doc, &maps);
    if &old == new && (!maps.is_empty() || *new == R::default()) {
        return Ok(());
    }
    let fields = |r: &R| -> BTreeMap<String, String> {
        R::FIELDS
            .iter()
            .filter(|f| !r.field(f).is_empty())
            .map(|f| (f.to_string(), r.field(f).to_string()))
            .collect()
    };
    let m = winner_or_new(doc, &maps, obj, key)?;
    write_fields_in(doc, &maps, &m, &fields(&old), &fields(new))
}

/// Sets `created` on a new document (to `created`, or `now` when that is 0) and `updated`.
fn write_stamps(doc: &mut AutoCommit, fresh: bool, created: i64, now: i64) -> AmResult<()> {
    if fresh || read_i64(doc, &ROOT, "created") == 0 {
        write_i64(
            doc,
            &ROOT,
            "created",
            if created != 0 { created } else { now },
        )?;
    }
    write_i64(doc, &ROOT, "updated", now)
}

/// The maps nested at the root of a document of `kind` (its multi-valued fields, sets and
/// structured records). They are created with the document, so that devices adding a first
/// entry concurrently write into the same object.
pub fn nested_maps(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Contact => &[
            "n",
            "emails",
            "phones",
            "urls",
            "addresses",
            "orgs",
            "dates",
            "kinds",
            "tags",
            "links",
            "custom",
            "extra",
        ],
        Kind::Note => &["contacts", "tags"],
        Kind::Interaction => &["contacts"],
        Kind::Opportunity => &["contacts"],
        Kind::Reminder | Kind::Devices => &[],
    }
}

/// The Text objects at the root of a document of `kind`, created with it for the same reason.
fn nested_texts(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Contact => &["met"],
        Kind::Note => &["body"],
        Kind::Interaction => &["summary"],
        Kind::Opportunity => &["note"],
        Kind::Reminder | Kind::Devices => &[],
    }
}

/// Creates every nested map and Text of `kind` that the document does not have yet.
fn create_nested(doc: &mut AutoCommit, kind: Kind) -> AmResult<()> {
    for key in nested_maps(kind) {
        if doc.get(&ROOT, *key)?.is_none() {
            doc.put_object(&ROOT, *key, ObjType::Map)?;
        }
    }
    for key in nested_texts(kind) {
        if doc.get(&ROOT, *key)?.is_none() {
            doc.put_object(&ROOT, *key, ObjType::Text)?;
        }
    }
    Ok(())
}

fn write_header(doc: &mut AutoCommit, kind: Kind) -> AmResult<()> {
    if doc_kind(doc).is_none() {
        create_nested(doc, kind)?;
    }
    if read_str(doc, &ROOT, "kind").as_deref() != Some(kind.as_str()) {
        doc.put(&ROOT, "kind", kind.as_str())?;
    }
    if read_i64(doc, &ROOT, "schema") < SCHEMA_VERSION {
        doc.put(&ROOT, "schema", SCHEMA_VERSION)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Typed read/write.

/// Writes the fields of `new` that differ from the document. `now` becomes `updated` when
/// anything changed (and `created` on a new document). Returns whether anything changed.
pub fn write_contact(doc: &mut AutoCommit, new: &Contact, now: i64) -> AmResult<bool> {
    let old = read_contact(doc);
    let fresh = doc_kind(doc).is_none();
    let mut cmp = new.clone();
    cmp.created = old.created;
    cmp.updated = old.updated;
    if !fresh && old == cmp {
        return Ok(false);
    }
    let r = &ROOT;
    write_header(doc, Kind::Contact)?;
    write_str(doc, r, "name", &new.name)?;
    write_record_at(doc, r, "n", &new.n)?;
    write_str(doc, r, "nickname", &new.nickname)?;
    write_records(doc, r, "emails", &new.emails)?;
    write_records(doc, r, "phones", &new.phones)?;
    write_records(doc, r, "urls", &new.urls)?;
    write_records(doc, r, "addresses", &new.addresses)?;
    write_records(doc, r, "orgs", &new.orgs)?;
    write_str(doc, r, "birthday", &new.birthday)?;
    write_records(doc, r, "dates", &new.dates)?;
    write_text(doc, r, "met", &new.met)?;
    write_str(doc, r, "help", &new.help)?;
    write_set(doc, r, "kinds", &new.kinds)?;
    write_set(doc, r, "tags", &new.tags)?;
    write_str(doc, r, "every", &new.every)?;
    write_str(doc, r, "lead", &new.lead)?;
    write_records(doc, r, "links", &new.links)?;
    write_str_map(doc, r, "custom", &new.custom)?;
    write_str(doc, r, "uid", &new.uid)?;
    write_records(doc, r, "extra", &new.extra)?;
    write_str(doc, r, "merged_into", &new.merged_into)?;
    write_bool(doc, r, "archived", new.archived)?;
    write_stamps(doc, fresh, new.created, now)?;
    Ok(true)
}

pub fn write_note(doc: &mut AutoCommit, new: &Note, now: i64) -> AmResult<bool> {
    let old = read_note(doc);
    let fresh = doc_kind(doc).is_none();
    if !fresh && old.body == new.body && old.contacts == new.contacts && old.tags == new.tags {
        return Ok(false);
    }
    let r = &ROOT;
    write_header(doc, Kind::Note)?;
    write_text(doc, r, "body", &new.body)?;
    write_id_set(doc, r, "contacts", &new.contacts)?;
    write_set(doc, r, "tags", &new.tags)?;
    write_stamps(doc, fresh, new.created, now)?;
    Ok(true)
}

pub fn write_interaction(doc: &mut AutoCommit, new: &Interaction, now: i64) -> AmResult<bool> {
    let old = read_interaction(doc);
    let fresh = doc_kind(doc).is_none();
    let same = old.date == new.date
        && old.kind == new.kind
        && old.contacts == new.contacts
        && old.summary == new.summary;
    if !fresh && same {
        return Ok(false);
    }
    let r = &ROOT;
    write_header(doc, Kind::Interaction)?;
    write_str(doc, r, "date", &new.date)?;
    write_str(doc, r, "type", &new.kind)?;
    write_id_set(doc, r, "contacts", &new.contacts)?;
    write_text(doc, r, "summary", &new.summary)?;
    write_stamps(doc, fresh, new.created, now)?;
    Ok(true)
}

pub fn read_reminder<D: ReadDoc>(doc: &D) -> Reminder {
    let r = &ROOT;
    Reminder {
        due: read_str(doc, r, "due").unwrap_or_default(),
        contact: read_str(doc, r, "contact").and_then(|s| s.parse().ok()),
        text: read_str(doc, r, "text").unwrap_or_default(),
        done: read_bool(doc, r, "done"),
        snoozed_until: read_str(doc, r, "snoozed_until").unwrap_or_default(),
        created: read_i64(doc, r, "created"),
        updated: read_i64(doc, r, "updated"),
    }
}

pub fn write_reminder(doc: &mut AutoCommit, new: &Reminder, now: i64) -> AmResult<bool> {
    let old = read_reminder(doc);
    let fresh = doc_kind(doc).is_none();
    let same = old.due == new.due
        && old.contact == new.contact
        && old.text == new.text
        && old.done == new.done
        && old.snoozed_until == new.snoozed_until;
    if !fresh && same {
        return Ok(false);
    }
    let r = &ROOT;
    write_header(doc, Kind::Reminder)?;
    write_str(doc, r, "due", &new.due)?;
    let contact = new.contact.map(|c| c.to_hex()).unwrap_or_default();
    write_str(doc, r, "contact", &contact)?;
    write_str(doc, r, "text", &new.text)?;
    write_bool(doc, r, "done", new.done)?;
    write_str(doc, r, "snoozed_until", &new.snoozed_until)?;
    write_stamps(doc, fresh, new.created, now)?;
    Ok(true)
}

/// An opportunity document: a job lead, collaboration, project or referral.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    pub title: String,
    /// One word: `lead`, `active`, `won`, `lost` or a stage the user defined.
    pub stage: String,
    #[serde(default)]
    pub contacts: BTreeSet<DocId>,
    /// Free text (Text).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub created: i64,
    pub updated: i64,
}

pub fn read_opportunity<D: ReadDoc>(doc: &D) -> Opportunity {
    let r = &ROOT;
    Opportunity {
        title: read_str(doc, r, "title").unwrap_or_default(),
        stage: read_str(doc, r, "stage").unwrap_or_default(),
        contacts: read_id_set(doc, r, "contacts"),
        note: read_str(doc, r, "note").unwrap_or_default(),
        created: read_i64(doc, r, "created"),
        updated: read_i64(doc, r, "updated"),
    }
}

pub fn write_opportunity(doc: &mut AutoCommit, new: &Opportunity, now: i64) -> AmResult<bool> {
    let old = read_opportunity(doc);
    let fresh = doc_kind(doc).is_none();
    let same = old.title == new.title
        && old.stage == new.stage
        && old.contacts == new.contacts
        && old.note == new.note;
    if !fresh && same {
        return Ok(false);
    }
    let r = &ROOT;
    write_header(doc, Kind::Opportunity)?;
    write_str(doc, r, "title", &new.title)?;
    write_str(doc, r, "stage", &new.stage)?;
    write_id_set(doc, r, "contacts", &new.contacts)?;
    write_text(doc, r, "note", &new.note)?;
    write_stamps(doc, fresh, new.created, now)?;
    Ok(true)
}

/// Whether a note, interaction or reminder was removed (`kith rm`): the root key `deleted`.
/// A removed item keeps its content and history, so the removal can be undone and a concurrent
/// edit made on another device is kept (it shows again when the item is restored).
pub fn item_deleted<D: ReadDoc>(doc: &D) -> bool {
    read_bool(doc, &ROOT, "deleted")
}

/// Marks an item removed (or restores it). Returns whether anything changed.
pub fn set_item_deleted(doc: &mut AutoCommit, deleted: bool, now: i64) -> AmResult<bool> {
    if item_deleted(doc) == deleted {
        return Ok(false);
    }
    write_bool(doc, &ROOT, "deleted", deleted)?;
    write_i64(doc, &ROOT, "updated", now)?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Conflicts.

/// A field whose concurrent writes disagree. `value` is the one every device shows (Automerge's
/// deterministic winner); `others` are the values it hides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub field: String,
    pub value: String,
    pub others: Vec<String>,
}

fn scalar_display(v: &Value<'_>) -> String {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            other => other.to_string(),
        },
        Value::Object(t) => format!("<{t}>"),
    }
}

/// Reports, for each of `keys`, the values hidden behind the one readers show: the concurrent
/// values of the key in every one of `objs` (concurrent copies of one map), beyond the value
/// read from the first object that holds the key.
fn conflicts_in<D: ReadDoc>(
    doc: &D,
    objs: &[ObjId],
    prefix: &str,
    keys: &[&str],
    out: &mut Vec<Conflict>,
) {
    for key in keys {
        let mut value: Option<String> = None;
        let mut all: Vec<String> = Vec::new();
        for obj in objs {
            let Ok(vals) = doc.get_all(obj, *key) else {
                continue;
            };
            if vals.is_empty() {
                continue;
            }
            if value.is_none() {
                value = doc
                    .get(obj, *key)
                    .ok()
                    .flatten()
                    .map(|(v, _)| scalar_display(&v));
            }
            all.extend(vals.iter().map(|(v, _)| scalar_display(v)));
        }
        let value = value.unwrap_or_default();
        let mut others: Vec<String> = all.into_iter().filter(|v| *v != value).collect();
        others.dedup();
        if !others.is_empty() {
            out.push(Conflict {
                field: format!("{prefix}{key}"),
                value,
                others,
            });
        }
    }
}

/// Every map object reached by following `path` from the root through every concurrent map.
fn objects_at<D: ReadDoc>(doc: &D, path: &[&str]) -> Vec<ObjId> {
    let mut objs = vec![ROOT];
    for p in path {
        let mut next: Vec<ObjId> = Vec::new();
        for o in &objs {
            for m in maps_at(doc, o, p) {
                if !next.contains(&m) {
                    next.push(m);
                }
            }
        }
        objs = next;
    }
    objs
}

/// Settles a conflict on a contact field (a path as reported by [`contact_conflicts`], e.g.
/// `name` or `emails.K.value`) by writing the value the user chose, even when it equals the
/// value currently shown, into every concurrent copy of the map that holds the field.
/// Returns false when the path names no scalar field.
pub fn settle_conflict(doc: &mut AutoCommit, field: &str, value: &str) -> AmResult<bool> {
    let parts: Vec<&str> = field.split('.').collect();
    let objs = objects_at(doc, &parts[..parts.len() - 1]);
    if objs.is_empty() {
        return Ok(false);
    }
    let key = parts[parts.len() - 1];
    let mut holders: Vec<ObjId> = Vec::new();
    for o in &objs {
        if doc.get(o, key)?.is_some() {
            holders.push(o.clone());
        }
    }
    if holders.is_empty() {
        holders.push(objs[0].clone());
    }
    for obj in &holders {
        if matches!(key, "archived" | "done" | "deleted") {
            // The booleans (a contact's `archived`, an item's `done` and `deleted`).
            doc.put(obj, key, value == "true")?;
        } else if value.is_empty() {
            if doc.get(obj, key)?.is_some() {
                doc.delete(obj, key)?;
            }
        } else {
            doc.put(obj, key, value)?;
        }
    }
    Ok(true)
}

/// The scalar fields of a note, interaction or reminder whose concurrent writes conflict
/// (`type` is an interaction's kind).
pub fn item_conflicts<D: ReadDoc>(doc: &D) -> Vec<Conflict> {
    let mut out = Vec::new();
    conflicts_in(
        doc,
        &[ROOT],
        "",
        &[
            "date",
            "type",
            "due",
            "contact",
            "text",
            "done",
            "snoozed_until",
            "deleted",
            "title",
            "stage",
        ],
        &mut out,
    );
    out
}

/// The scalar fields of a contact whose concurrent writes conflict, including values hidden in
/// concurrent copies of a map.
pub fn contact_conflicts<D: ReadDoc>(doc: &D) -> Vec<Conflict> {
    let mut out = Vec::new();
    conflicts_in(
        doc,
        &[ROOT],
        "",
        &[
            "name", "nickname", "birthday", "every", "lead", "uid", "archived", "help",
        ],
        &mut out,
    );
    conflicts_in(
        doc,
        &maps_at(doc, &ROOT, "n"),
        "n.",
        StructuredName::FIELDS,
        &mut out,
    );
    for (group, fields) in [
        ("emails", Labeled::FIELDS),
        ("phones", Labeled::FIELDS),
        ("urls", Labeled::FIELDS),
        ("dates", Labeled::FIELDS),
        ("addresses", Address::FIELDS),
        ("orgs", Role::FIELDS),
        ("links", Link::FIELDS),
    ] {
        let maps = maps_at(doc, &ROOT, group);
        let keys: BTreeSet<String> = maps
            .iter()
            .flat_map(|m| doc.keys(m).collect::<Vec<_>>())
            .collect();
        for k in keys {
            let mut entries: Vec<ObjId> = Vec::new();
            for m in &maps {
                for e in maps_at(doc, m, &k) {
                    if !entries.contains(&e) {
                        entries.push(e);
                    }
                }
            }
            conflicts_in(doc, &entries, &format!("{group}.{k}."), fields, &mut out);
        }
    }
    let custom = maps_at(doc, &ROOT, "custom");
    let keys: BTreeSet<String> = custom
        .iter()
        .flat_map(|m| doc.keys(m).collect::<Vec<_>>())
        .collect();
    let refs: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
    conflicts_in(doc, &custom, "custom.", &refs, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Repair of concurrent maps.

/// Whether any nested map of the document exists as several concurrent objects and a losing
/// one holds entries.
pub fn has_competing_maps<D: ReadDoc>(doc: &D) -> bool {
    let Some(kind) = doc_kind(doc) else {
        return false;
    };
    nested_maps(kind).iter().any(|key| {
        maps_at(doc, &ROOT, key)
            .iter()
            .skip(1)
            .any(|m| doc.length(m) > 0)
    })
}

/// Copies the value at `from[k]` (a scalar, or an object copied deeply) to `to[k]`.
fn copy_value(doc: &mut AutoCommit, from: &ObjId, k: &str, to: &ObjId) -> AmResult<()> {
    let v = doc.get(from, k)?.map(|(v, id)| (v.into_owned(), id));
    match v {
        None => {}
        Some((Value::Scalar(s), _)) => doc.put(to, k, s.into_owned())?,
        Some((Value::Object(t), src)) => {
            let dst = doc.put_object(to, k, t)?;
            copy_object(doc, &src, &dst, t)?;
        }
    }
    Ok(())
}

fn copy_object(doc: &mut AutoCommit, src: &ObjId, dst: &ObjId, t: ObjType) -> AmResult<()> {
    match t {
        ObjType::Map | ObjType::Table => {
            let keys: Vec<String> = doc.keys(src).collect();
            for k in keys {
                copy_value(doc, src, &k, dst)?;
            }
        }
        ObjType::Text => {
            let text = doc.text(src)?;
            doc.splice_text(dst, 0, 0, &text)?;
        }
        ObjType::List => {
            for i in 0..doc.length(src) {
                let v = doc.get(src, i)?.map(|(v, id)| (v.into_owned(), id));
                match v {
                    None => {}
                    Some((Value::Scalar(s), _)) => doc.insert(dst, i, s.into_owned())?,
                    Some((Value::Object(t), from)) => {
                        let to = doc.insert_object(dst, i, t)?;
                        copy_object(doc, &from, &to, t)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// A comparable rendering of the value at `obj[k]`, for deciding whether two copies agree.
fn render_value<D: ReadDoc>(doc: &D, obj: &ObjId, k: &str) -> Option<String> {
    match doc.get(obj, k).ok()?? {
        (Value::Scalar(s), _) => Some(format!("{s:?}")),
        (Value::Object(ObjType::Text), id) => doc.text(&id).ok().map(|t| format!("text {t:?}")),
        (Value::Object(_), id) => {
            let mut parts = Vec::new();
            for key in doc.keys(&id) {
                parts.push(format!("{key:?}={:?}", render_value(doc, &id, &key)));
            }
            Some(format!("{{{}}}", parts.join(",")))
        }
    }
}

/// Moves the entries of the losing copies of every nested map into the winning copy (the one
/// Automerge shows), so the document reads the same with only the winner (as older versions
/// read it). An entry the winner lacks is copied into it and then removed from the loser; an
/// entry both hold with equal content is removed from the loser; an entry both hold with
/// different content stays in the loser, where readers report it as a conflict. Nothing is
/// lost. Returns whether the document changed.
pub fn merge_competing_maps(doc: &mut AutoCommit) -> AmResult<bool> {
    let Some(kind) = doc_kind(doc) else {
        return Ok(false);
    };
    let mut changed = false;
    for key in nested_maps(kind) {
        let maps = maps_at(doc, &ROOT, key);
        let Some((winner, losers)) = maps.split_first() else {
            continue;
        };
        for loser in losers {
            let keys: Vec<String> = doc.keys(loser).collect();
            for k in keys {
                if doc.get(winner, &k)?.is_none() {
                    copy_value(doc, loser, &k, winner)?;
                }
                if render_value(doc, winner, &k) == render_value(doc, loser, &k) {
                    doc.delete(loser, &k)?;
                    changed = true;
                }
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact() -> Contact {
        let mut c = Contact {
            name: "Ada Lovelace".into(),
            ..Default::default()
        };
        c.emails.insert(
            "e1".into(),
            Labeled {
                value: "ada@example.com".into(),
                label: "work".into(),
            },
        );
        c.tags.insert("math".into());
        c.met = "At the Analytical Society".into();
        c
    }

    #[test]
    fn contact_round_trips() {
        let mut doc = AutoCommit::new();
        let c = contact();
        assert!(write_contact(&mut doc, &c, 1000).unwrap());
        let back = read_contact(&doc);
        assert_eq!(back.name, c.name);
        assert_eq!(back.emails, c.emails);
        assert_eq!(back.met, c.met);
        assert_eq!(back.created, 1000);
        assert_eq!(doc_kind(&doc), Some(Kind::Contact));
        // Writing the same value again changes nothing.
        let heads = doc.get_heads();
        assert!(!write_contact(&mut doc, &back, 2000).unwrap());
        assert_eq!(doc.get_heads(), heads);
    }

    #[test]
    fn unknown_keys_survive_an_edit() {
        let mut doc = AutoCommit::new();
        write_contact(&mut doc, &contact(), 1).unwrap();
        doc.put(&ROOT, "pronouns", "she/her").unwrap();
        let emails = map_at(&doc, &ROOT, "emails").unwrap();
        let e1 = map_at(&doc, &emails, "e1").unwrap();
        doc.put(&e1, "verified", true).unwrap();
        let mut c = read_contact(&doc);
        c.name = "Augusta Ada King".into();
        c.emails.get_mut("e1").unwrap().label = "home".into();
        write_contact(&mut doc, &c, 2).unwrap();
        assert_eq!(
            read_str(&doc, &ROOT, "pronouns").as_deref(),
            Some("she/her")
        );
        assert!(read_bool(&doc, &e1, "verified"));
        assert_eq!(read_contact(&doc).emails["e1"].label, "home");
    }

    #[test]
    fn concurrent_edits_merge_and_conflicts_show() {
        let mut a = AutoCommit::new();
        write_contact(&mut a, &contact(), 1).unwrap();
        let mut b = a.fork();
        // Different fields on each side; same field `name` on both.
        let mut ca = read_contact(&a);
        ca.nickname = "Ada".into();
        ca.name = "Ada A".into();
        ca.emails.insert(
            "e2".into(),
            Labeled {
                value: "a@x.org".into(),
                label: String::new(),
            },
        );
        ca.met = "At the Analytical Society, 1833".into();
        write_contact(&mut a, &ca, 2).unwrap();
        let mut cb = read_contact(&b);
        cb.birthday = "--12-10".into();
        cb.name = "Ada B".into();
        cb.emails.insert(
            "e3".into(),
            Labeled {
                value: "b@y.org".into(),
                label: String::new(),
            },
        );
        cb.met = "Met at the Analytical Society".into();
        cb.archived = true;
        write_contact(&mut b, &cb, 3).unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        let m = read_contact(&a);
        assert_eq!(m, read_contact(&b));
        assert_eq!(m.nickname, "Ada");
        assert_eq!(m.birthday, "--12-10");
        assert!(m.archived);
        assert_eq!(m.emails.len(), 3);
        assert_eq!(m.met, "Met at the Analytical Society, 1833");
        let conflicts = contact_conflicts(&a);
        let name = conflicts
            .iter()
            .find(|c| c.field == "name")
            .expect("name conflict");
        assert_eq!(name.value, m.name);
        assert_eq!(name.others.len(), 1);
        // An edit of another field leaves the conflict visible.
        let mut other = m.clone();
        other.nickname = "Countess".into();
        assert!(write_contact(&mut a, &other, 4).unwrap());
        assert!(contact_conflicts(&a).iter().any(|c| c.field == "name"));
        // Settling it, even to the value shown, resolves it.
        assert!(settle_conflict(&mut a, "name", &m.name).unwrap());
        assert!(contact_conflicts(&a).iter().all(|c| c.field != "name"));
        assert_eq!(read_contact(&a).name, m.name);
    }

    #[test]
    fn wrong_shapes_read_as_absent() {
        let mut doc = AutoCommit::new();
        doc.put(&ROOT, "kind", "contact").unwrap();
        doc.put(&ROOT, "name", 42i64).unwrap();
        doc.put(&ROOT, "emails", "not a map").unwrap();
        doc.put_object(&ROOT, "tags", ObjType::List).unwrap();
        let c = read_contact(&doc);
        assert_eq!(c.name, "");
        assert!(c.emails.is_empty());
        assert!(c.tags.is_empty());
    }

    #[test]
    fn note_text_merges_by_character() {
        let mut a = AutoCommit::new();
        let n = Note {
            body: "hello world".into(),
            ..Default::default()
        };
        write_note(&mut a, &n, 1).unwrap();
        let mut b = a.fork();
        let mut na = read_note(&a);
        na.body = "Hello world".into();
        write_note(&mut a, &na, 2).unwrap();
        let mut nb = read_note(&b);
        nb.body = "hello world!".into();
        write_note(&mut b, &nb, 3).unwrap();
        a.merge(&mut b).unwrap();
        assert_eq!(read_note(&a).body, "Hello world!");
    }

    fn phone(v: &str) -> Labeled {
        Labeled {
            value: v.into(),
            label: String::new(),
        }
    }

    fn role(org: &str) -> Role {
        Role {
            org: org.into(),
            ..Default::default()
        }
    }

    /// A contact as an older kith left it: no nested map exists until a first entry is added.
    fn old_contact() -> AutoCommit {
        let mut doc = AutoCommit::new();
        let c = Contact {
            name: "Ada".into(),
            ..Default::default()
        };
        write_contact(&mut doc, &c, 1).unwrap();
        for key in nested_maps(Kind::Contact).iter().chain(["met"].iter()) {
            doc.delete(&ROOT, *key).unwrap();
        }
        assert!(maps_at(&doc, &ROOT, "phones").is_empty());
        doc
    }

    /// Two forks of `base` each add a first phone, tag, custom field, org, kind, email and part
    /// of the structured name; returns both after merging both ways.
    fn concurrent_first_entries(base: &AutoCommit) -> (AutoCommit, AutoCommit) {
        let mut a = base.clone();
        let mut b = a.fork();
        let mut ca = read_contact(&a);
        ca.phones.insert("pa".into(), phone("+1 555 0100"));
        ca.emails.insert("ea".into(), phone("a@x.org"));
        ca.tags.insert("math".into());
        ca.kinds.insert("mentor".into());
        ca.custom.insert("github".into(), "ada".into());
        ca.orgs.insert("oa".into(), role("Analytical Society"));
        ca.n.given = "Ada".into();
        write_contact(&mut a, &ca, 2).unwrap();
        let mut cb = read_contact(&b);
        cb.phones.insert("pb".into(), phone("+44 20 0000"));
        cb.emails.insert("eb".into(), phone("b@y.org"));
        cb.tags.insert("poetry".into());
        cb.kinds.insert("friend".into());
        cb.custom.insert("mastodon".into(), "@ada".into());
        cb.orgs.insert("ob".into(), role("Royal Society"));
        cb.n.family = "Lovelace".into();
        write_contact(&mut b, &cb, 3).unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        (a, b)
    }

    fn assert_both_sides_kept(c: &Contact) {
        assert_eq!(c.phones.keys().collect::<Vec<_>>(), ["pa", "pb"]);
        assert_eq!(c.emails.keys().collect::<Vec<_>>(), ["ea", "eb"]);
        assert_eq!(c.tags.iter().collect::<Vec<_>>(), ["math", "poetry"]);
        assert_eq!(c.kinds.iter().collect::<Vec<_>>(), ["friend", "mentor"]);
        assert_eq!(c.custom.keys().collect::<Vec<_>>(), ["github", "mastodon"]);
        assert_eq!(c.orgs.keys().collect::<Vec<_>>(), ["oa", "ob"]);
        assert_eq!(
            (c.n.given.as_str(), c.n.family.as_str()),
            ("Ada", "Lovelace")
        );
    }

    #[test]
    fn new_documents_create_their_maps_so_first_entries_share_them() {
        let mut doc = AutoCommit::new();
        let c = Contact {
            name: "Ada".into(),
            ..Default::default()
        };
        write_contact(&mut doc, &c, 1).unwrap();
        for key in nested_maps(Kind::Contact) {
            assert_eq!(maps_at(&doc, &ROOT, key).len(), 1, "{key}");
        }
        let (a, b) = concurrent_first_entries(&doc);
        assert!(!has_competing_maps(&a));
        for key in nested_maps(Kind::Contact) {
            assert_eq!(maps_at(&a, &ROOT, key).len(), 1, "{key}");
        }
        let c = read_contact(&a);
        assert_eq!(c, read_contact(&b));
        assert_both_sides_kept(&c);
    }

    #[test]
    fn lazily_created_concurrent_maps_are_all_read() {
        let (a, b) = concurrent_first_entries(&old_contact());
        assert!(has_competing_maps(&a));
        assert_eq!(maps_at(&a, &ROOT, "phones").len(), 2);
        let c = read_contact(&a);
        assert_eq!(c, read_contact(&b));
        assert_both_sides_kept(&c);
        assert!(
            contact_conflicts(&a).is_empty(),
            "{:?}",
            contact_conflicts(&a)
        );
        // The index sees every entry too.
        let (_, ix) = crate::index::derive(&a);
        assert!(ix.phones.contains("+15550100") && ix.phones.contains("+44200000"));
        assert!(ix.emails.contains("a@x.org") && ix.emails.contains("b@y.org"));
        assert!(ix.terms.contains_key("royal") && ix.terms.contains_key("analytical"));
        assert!(ix.terms.contains_key("poetry") && ix.terms.contains_key("math"));
        let s = ix.contact.unwrap();
        assert_eq!(s.tags, ["math", "poetry"]);
    }

    #[test]
    fn edits_and_removals_reach_every_concurrent_map() {
        let (mut a, _) = concurrent_first_entries(&old_contact());
        let mut c = read_contact(&a);
        // Remove one entry of each side, edit another, add a new one.
        c.phones.remove("pa");
        c.phones.get_mut("pb").unwrap().label = "home".into();
        c.phones.insert("pc".into(), phone("+33 1 0000"));
        c.tags.remove("poetry");
        c.custom.remove("github");
        c.custom.insert("mastodon".into(), "@ada@x".into());
        c.orgs.remove("ob");
        c.n.family = String::new();
        c.n.given = "Augusta".into();
        write_contact(&mut a, &c, 4).unwrap();
        assert_eq!(read_contact(&a), {
            let mut want = c.clone();
            want.updated = 4;
            want
        });
        // Adds went into the winning map.
        let winner = map_at(&a, &ROOT, "phones").unwrap();
        assert!(map_at(&a, &winner, "pc").is_some());
    }

    #[test]
    fn an_entry_held_by_two_maps_is_removed_from_both() {
        let (mut a, _) = concurrent_first_entries(&old_contact());
        let maps = maps_at(&a, &ROOT, "phones");
        // The same entry in both copies (as a repair on another device leaves it).
        for m in &maps {
            if map_at(&a, m, "pa").is_none() {
                let e = a.put_object(m, "pa", ObjType::Map).unwrap();
                write_record(&mut a, &e, &phone("+1 555 0100")).unwrap();
            }
        }
        let tags = maps_at(&a, &ROOT, "tags");
        for m in &tags {
            a.put(m, "math", true).unwrap();
        }
        let mut c = read_contact(&a);
        assert_both_sides_kept(&c);
        c.phones.remove("pa");
        c.tags.remove("math");
        write_contact(&mut a, &c, 5).unwrap();
        let back = read_contact(&a);
        assert_eq!(back.phones.keys().collect::<Vec<_>>(), ["pb"]);
        assert_eq!(back.tags.iter().collect::<Vec<_>>(), ["poetry"]);
        for m in maps_at(&a, &ROOT, "phones") {
            assert!(a.get(&m, "pa").unwrap().is_none());
        }
    }

    #[test]
    fn notes_and_interactions_keep_concurrent_first_links_and_tags() {
        let c1: DocId = "11111111111111111111111111111111".parse().unwrap();
        let c2: DocId = "22222222222222222222222222222222".parse().unwrap();
        // Old-style documents: no contacts or tags map yet.
        let mut note = AutoCommit::new();
        write_note(
            &mut note,
            &Note {
                body: "hi".into(),
                ..Default::default()
            },
            1,
        )
        .unwrap();
        note.delete(&ROOT, "contacts").unwrap();
        note.delete(&ROOT, "tags").unwrap();
        let mut other = note.fork();
        let mut n = read_note(&note);
        n.contacts.insert(c1);
        n.tags.insert("a".into());
        write_note(&mut note, &n, 2).unwrap();
        let mut n = read_note(&other);
        n.contacts.insert(c2);
        n.tags.insert("b".into());
        write_note(&mut other, &n, 3).unwrap();
        note.merge(&mut other).unwrap();
        let n = read_note(&note);
        assert_eq!(n.contacts, BTreeSet::from([c1, c2]));
        assert_eq!(n.tags.len(), 2);
        assert!(has_competing_maps(&note));
        assert!(merge_competing_maps(&mut note).unwrap());
        assert_eq!(read_note(&note).contacts, BTreeSet::from([c1, c2]));
        assert!(!has_competing_maps(&note));

        let mut i = AutoCommit::new();
        let it = Interaction {
            date: "2026-01-01".into(),
            kind: "call".into(),
            ..Default::default()
        };
        write_interaction(&mut i, &it, 1).unwrap();
        let mut j = i.fork();
        let mut x = read_interaction(&i);
        x.contacts.insert(c1);
        write_interaction(&mut i, &x, 2).unwrap();
        let mut y = read_interaction(&j);
        y.contacts.insert(c2);
        y.summary = "from j".into();
        write_interaction(&mut j, &y, 3).unwrap();
        x.summary = "from i".into();
        write_interaction(&mut i, &x, 4).unwrap();
        i.merge(&mut j).unwrap();
        let m = read_interaction(&i);
        assert_eq!(m.contacts, BTreeSet::from([c1, c2]));
        // The summary Text existed from creation: both first texts are kept, merged.
        assert!(
            m.summary.contains("from i") && m.summary.contains("from j"),
            "{}",
            m.summary
        );
    }

    #[test]
    fn maps_at_lists_the_winner_first_then_every_other_map() {
        let (a, _) = concurrent_first_entries(&old_contact());
        for key in ["phones", "emails", "orgs", "custom", "tags", "n"] {
            let maps = maps_at(&a, &ROOT, key);
            assert_eq!(maps.len(), 2, "{key}: both competing maps");
            assert_eq!(Some(&maps[0]), map_at(&a, &ROOT, key).as_ref(), "{key}");
        }
        // A scalar that wins over a concurrent map: the map is still listed, alone.
        let mut x = AutoCommit::new();
        x.put(&ROOT, "k", "seed").unwrap();
        let mut y = x.fork();
        let m = x.put_object(&ROOT, "k", ObjType::Map).unwrap();
        x.put(&m, "e", "v").unwrap();
        y.put(&ROOT, "other", 1).unwrap(); // a higher counter: y's value of "k" wins
        y.put(&ROOT, "k", "scalar").unwrap();
        x.merge(&mut y).unwrap();
        assert_eq!(x.get_all(&ROOT, "k").unwrap().len(), 2);
        assert_eq!(map_at(&x, &ROOT, "k"), None, "the scalar wins");
        assert_eq!(maps_at(&x, &ROOT, "k"), vec![m]);
        assert_eq!(maps_at(&x, &ROOT, "missing"), Vec::<ObjId>::new());
    }

    #[test]
    fn merging_competing_maps_moves_every_entry_into_the_winner() {
        let (mut a, mut b) = concurrent_first_entries(&old_contact());
        // Make one entry differ between copies: it must stay visible as a conflict.
        let losers: Vec<ObjId> = maps_at(&a, &ROOT, "custom").into_iter().skip(1).collect();
        let winner = map_at(&a, &ROOT, "custom").unwrap();
        let winner_key = a.keys(&winner).next().unwrap();
        a.put(&losers[0], winner_key.as_str(), "hidden").unwrap();
        let before = read_contact(&a);
        assert!(contact_conflicts(&a)
            .iter()
            .any(|c| c.field == format!("custom.{winner_key}") && c.others == ["hidden"]));
        assert!(merge_competing_maps(&mut a).unwrap());
        assert_eq!(
            read_contact(&a),
            before,
            "the repair changes nothing visible"
        );
        // Older readers (winner only) now see every entry.
        for key in ["phones", "emails", "orgs"] {
            let w = map_at(&a, &ROOT, key).unwrap();
            assert_eq!(a.keys(&w).count(), 2, "{key}");
        }
        let w = map_at(&a, &ROOT, "tags").unwrap();
        assert_eq!(a.keys(&w).count(), 2);
        let n = map_at(&a, &ROOT, "n").unwrap();
        assert_eq!(read_record::<_, StructuredName>(&a, &n), before.n);
        // ...except the differing one, still shown as a conflict.
        assert!(contact_conflicts(&a)
            .iter()
            .any(|c| c.field == format!("custom.{winner_key}") && c.others == ["hidden"]));
        assert!(
            !merge_competing_maps(&mut a).unwrap(),
            "a second run changes nothing"
        );
        // A concurrent edit on the other device still merges in.
        let mut cb = read_contact(&b);
        cb.phones.insert("pz".into(), phone("+49 30 0000"));
        write_contact(&mut b, &cb, 9).unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        assert_eq!(read_contact(&a), read_contact(&b));
        assert_eq!(read_contact(&a).phones.len(), 3);
        // Settling the conflict writes the chosen value into every copy.
        assert!(settle_conflict(&mut a, &format!("custom.{winner_key}"), "chosen").unwrap());
        assert!(contact_conflicts(&a).is_empty());
        assert_eq!(read_contact(&a).custom[&winner_key], "chosen");
    }
}
