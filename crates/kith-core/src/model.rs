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
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Contact,
        Kind::Note,
        Kind::Interaction,
        Kind::Reminder,
        Kind::Devices,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Contact => "contact",
            Kind::Note => "note",
            Kind::Interaction => "interaction",
            Kind::Reminder => "reminder",
            Kind::Devices => "devices",
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
    /// Relationship kinds (mentor, client, ...).
    #[serde(default)]
    pub kinds: BTreeSet<String>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// Keep-in-touch cadence, canonical span like `30d`, `2w`, `6m`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub every: String,
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

fn read_records<D: ReadDoc, R: Record>(doc: &D, obj: &ObjId, key: &str) -> BTreeMap<String, R> {
    let mut out = BTreeMap::new();
    if let Some(m) = map_at(doc, obj, key) {
        for k in doc.keys(&m) {
            if let Some(entry) = map_at(doc, &m, &k) {
                out.insert(k, read_record(doc, &entry));
            }
        }
    }
    out
}

fn read_set<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> BTreeSet<String> {
    match map_at(doc, obj, key) {
        Some(m) => doc.keys(&m).collect(),
        None => BTreeSet::new(),
    }
}

fn read_id_set<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> BTreeSet<DocId> {
    read_set(doc, obj, key)
        .into_iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn read_str_map<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(m) = map_at(doc, obj, key) {
        for k in doc.keys(&m) {
            if let Some(v) = read_str(doc, &m, &k) {
                out.insert(k, v);
            }
        }
    }
    out
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

fn ensure_map(doc: &mut AutoCommit, obj: &ObjId, key: &str) -> AmResult<ObjId> {
    match map_at(doc, obj, key) {
        Some(id) => Ok(id),
        None => doc.put_object(obj, key, ObjType::Map),
    }
}

fn write_record<R: Record>(doc: &mut AutoCommit, obj: &ObjId, new: &R) -> AmResult<()> {
    for f in R::FIELDS {
        write_str(doc, obj, f, new.field(f))?;
    }
    Ok(())
}

fn write_records<R: Record>(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    new: &BTreeMap<String, R>,
) -> AmResult<()> {
    let old: BTreeMap<String, R> = read_records(doc, obj, key);
    if &old == new && (map_at(doc, obj, key).is_some() || new.is_empty()) {
        return Ok(());
    }
    let m = ensure_map(doc, obj, key)?;
    for (k, rec) in new {
        match old.get(k) {
            Some(o) if o == rec => {}
            Some(_) => {
                let entry = map_at(doc, &m, k).expect("entry read above");
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
            doc.delete(&m, k.as_str())?;
        }
    }
    Ok(())
}

fn write_set(doc: &mut AutoCommit, obj: &ObjId, key: &str, new: &BTreeSet<String>) -> AmResult<()> {
    let old = read_set(doc, obj, key);
    if &old == new && (map_at(doc, obj, key).is_some() || new.is_empty()) {
        return Ok(());
    }
    let m = ensure_map(doc, obj, key)?;
    for k in new.difference(&old) {
        doc.put(&m, k.as_str(), true)?;
    }
    for k in old.difference(new) {
        doc.delete(&m, k.as_str())?;
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

fn write_str_map(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    new: &BTreeMap<String, String>,
) -> AmResult<()> {
    let old = read_str_map(doc, obj, key);
    if &old == new && (map_at(doc, obj, key).is_some() || new.is_empty()) {
        return Ok(());
    }
    let m = ensure_map(doc, obj, key)?;
    for (k, v) in new {
        write_str(doc, &m, k, v)?;
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            doc.delete(&m, k.as_str())?;
        }
    }
    Ok(())
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

fn write_header(doc: &mut AutoCommit, kind: Kind) -> AmResult<()> {
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

pub fn read_contact<D: ReadDoc>(doc: &D) -> Contact {
    let r = &ROOT;
    Contact {
        name: read_str(doc, r, "name").unwrap_or_default(),
        n: map_at(doc, r, "n")
            .map(|m| read_record(doc, &m))
            .unwrap_or_default(),
        nickname: read_str(doc, r, "nickname").unwrap_or_default(),
        emails: read_records(doc, r, "emails"),
        phones: read_records(doc, r, "phones"),
        urls: read_records(doc, r, "urls"),
        addresses: read_records(doc, r, "addresses"),
        orgs: read_records(doc, r, "orgs"),
        birthday: read_str(doc, r, "birthday").unwrap_or_default(),
        dates: read_records(doc, r, "dates"),
        met: read_str(doc, r, "met").unwrap_or_default(),
        kinds: read_set(doc, r, "kinds"),
        tags: read_set(doc, r, "tags"),
        every: read_str(doc, r, "every").unwrap_or_default(),
        links: read_records(doc, r, "links"),
        custom: read_str_map(doc, r, "custom"),
        uid: read_str(doc, r, "uid").unwrap_or_default(),
        extra: read_records(doc, r, "extra"),
        merged_into: read_str(doc, r, "merged_into").unwrap_or_default(),
        archived: read_bool(doc, r, "archived"),
        created: read_i64(doc, r, "created"),
        updated: read_i64(doc, r, "updated"),
    }
}

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
    if new.n != StructuredName::default() || map_at(doc, r, "n").is_some() {
        let n = ensure_map(doc, r, "n")?;
        write_record(doc, &n, &new.n)?;
    }
    write_str(doc, r, "nickname", &new.nickname)?;
    write_records(doc, r, "emails", &new.emails)?;
    write_records(doc, r, "phones", &new.phones)?;
    write_records(doc, r, "urls", &new.urls)?;
    write_records(doc, r, "addresses", &new.addresses)?;
    write_records(doc, r, "orgs", &new.orgs)?;
    write_str(doc, r, "birthday", &new.birthday)?;
    write_records(doc, r, "dates", &new.dates)?;
    write_text(doc, r, "met", &new.met)?;
    write_set(doc, r, "kinds", &new.kinds)?;
    write_set(doc, r, "tags", &new.tags)?;
    write_str(doc, r, "every", &new.every)?;
    write_records(doc, r, "links", &new.links)?;
    write_str_map(doc, r, "custom", &new.custom)?;
    write_str(doc, r, "uid", &new.uid)?;
    write_records(doc, r, "extra", &new.extra)?;
    write_str(doc, r, "merged_into", &new.merged_into)?;
    write_bool(doc, r, "archived", new.archived)?;
    write_stamps(doc, fresh, new.created, now)?;
    Ok(true)
}

pub fn read_note<D: ReadDoc>(doc: &D) -> Note {
    let r = &ROOT;
    Note {
        body: read_str(doc, r, "body").unwrap_or_default(),
        contacts: read_id_set(doc, r, "contacts"),
        tags: read_set(doc, r, "tags"),
        created: read_i64(doc, r, "created"),
        updated: read_i64(doc, r, "updated"),
    }
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

pub fn read_interaction<D: ReadDoc>(doc: &D) -> Interaction {
    let r = &ROOT;
    Interaction {
        date: read_str(doc, r, "date").unwrap_or_default(),
        kind: read_str(doc, r, "type").unwrap_or_default(),
        contacts: read_id_set(doc, r, "contacts"),
        summary: read_str(doc, r, "summary").unwrap_or_default(),
        created: read_i64(doc, r, "created"),
        updated: read_i64(doc, r, "updated"),
    }
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

fn conflicts_in<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    prefix: &str,
    keys: &[&str],
    out: &mut Vec<Conflict>,
) {
    for key in keys {
        let all = match doc.get_all(obj, *key) {
            Ok(all) => all,
            Err(_) => continue,
        };
        if all.len() > 1 {
            let winner = doc
                .get(obj, *key)
                .ok()
                .flatten()
                .map(|(v, _)| scalar_display(&v));
            let values: Vec<String> = all.iter().map(|(v, _)| scalar_display(v)).collect();
            let value = winner.unwrap_or_default();
            let mut others: Vec<String> = values.into_iter().filter(|v| *v != value).collect();
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
}

/// Settles a conflict on a contact field (a path as reported by [`contact_conflicts`], e.g.
/// `name` or `emails.K.value`) by writing the value the user chose, even when it equals the
/// value currently shown. Returns false when the path names no scalar field.
pub fn settle_conflict(doc: &mut AutoCommit, field: &str, value: &str) -> AmResult<bool> {
    let parts: Vec<&str> = field.split('.').collect();
    let mut obj = ROOT;
    for p in &parts[..parts.len() - 1] {
        match map_at(doc, &obj, p) {
            Some(o) => obj = o,
            None => return Ok(false),
        }
    }
    let key = parts[parts.len() - 1];
    if key == "archived" {
        doc.put(&obj, key, value == "true")?;
    } else if value.is_empty() {
        doc.delete(&obj, key)?;
    } else {
        doc.put(&obj, key, value)?;
    }
    Ok(true)
}

/// The scalar fields of a note, interaction or reminder whose concurrent writes conflict
/// (`type` is an interaction's kind).
pub fn item_conflicts<D: ReadDoc>(doc: &D) -> Vec<Conflict> {
    let mut out = Vec::new();
    conflicts_in(
        doc,
        &ROOT,
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
        ],
        &mut out,
    );
    out
}

/// The scalar fields of a contact whose concurrent writes conflict.
pub fn contact_conflicts<D: ReadDoc>(doc: &D) -> Vec<Conflict> {
    let mut out = Vec::new();
    conflicts_in(
        doc,
        &ROOT,
        "",
        &["name", "nickname", "birthday", "every", "uid", "archived"],
        &mut out,
    );
    if let Some(n) = map_at(doc, &ROOT, "n") {
        conflicts_in(doc, &n, "n.", StructuredName::FIELDS, &mut out);
    }
    for (group, fields) in [
        ("emails", Labeled::FIELDS),
        ("phones", Labeled::FIELDS),
        ("urls", Labeled::FIELDS),
        ("dates", Labeled::FIELDS),
        ("addresses", Address::FIELDS),
        ("orgs", Role::FIELDS),
        ("links", Link::FIELDS),
    ] {
        if let Some(m) = map_at(doc, &ROOT, group) {
            for k in doc.keys(&m).collect::<Vec<_>>() {
                if let Some(e) = map_at(doc, &m, &k) {
                    conflicts_in(doc, &e, &format!("{group}.{k}."), fields, &mut out);
                }
            }
        }
    }
    if let Some(m) = map_at(doc, &ROOT, "custom") {
        let keys: Vec<String> = doc.keys(&m).collect();
        let refs: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
        conflicts_in(doc, &m, "custom.", &refs, &mut out);
    }
    out
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
}
