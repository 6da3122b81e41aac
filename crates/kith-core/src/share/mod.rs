//! Sharing a slice of the network with a person (docs/design/sharing.md): the share spec, the
//! projection of a contact onto the allowed fields, per-share pseudonyms, and the narrowing rule
//! that decides when a new epoch starts.
//!
//! Invariant: a projection is a pure function of a contact's *current* values and the spec; it
//! never holds a field the spec does not allow, and nothing here reads a source document's
//! history. The projection documents built from it (`doc.rs`) are new documents authored by
//! the share's epoch actor only; the scoped sync store (`store.rs`) holds one share's documents
//! and nothing else.

mod doc;
pub mod intro;
mod store;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::model::Contact;
use crate::DocId;

pub use doc::{
    build_projection, changes_only_by, history_text, read_projection, refresh_projection,
    PROJECTION_KIND,
};
pub use store::{saved_heads, ShareStore};

/// The ALPN string of the share protocol.
pub const ALPN: &[u8] = b"kith/share/1";

/// A field a share may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Name,
    Org,
    Title,
    Tags,
    Emails,
    Phones,
    Urls,
    Help,
    Met,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Field::Name,
        Field::Org,
        Field::Title,
        Field::Tags,
        Field::Emails,
        Field::Phones,
        Field::Urls,
        Field::Help,
        Field::Met,
    ];
    /// The fields a share carries when none are given.
    pub const DEFAULT: [Field; 4] = [Field::Name, Field::Org, Field::Title, Field::Help];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Org => "org",
            Field::Title => "title",
            Field::Tags => "tags",
            Field::Emails => "emails",
            Field::Phones => "phones",
            Field::Urls => "urls",
            Field::Help => "help",
            Field::Met => "met",
        }
    }

    /// Parses a field name (singular forms accepted: `email`, `phone`, `url`, `tag`).
    pub fn parse(s: &str) -> Option<Field> {
        let s = s.trim().to_lowercase();
        let s = match s.as_str() {
            "email" => "emails",
            "phone" => "phones",
            "url" => "urls",
            "tag" => "tags",
            other => other,
        };
        Field::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Whether the field is a set of values (a map keyed by value in the projection).
    pub fn is_set(self) -> bool {
        matches!(
            self,
            Field::Tags | Field::Emails | Field::Phones | Field::Urls
        )
    }
}

/// Parses a comma-separated field list; an unknown name is an error naming it.
pub fn parse_fields(s: &str) -> Result<BTreeSet<Field>, String> {
    let mut out = BTreeSet::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        match Field::parse(part) {
            Some(f) => {
                out.insert(f);
            }
            None => {
                return Err(format!(
                    "'{}' is not a field a share can carry (fields: {})",
                    part.trim(),
                    Field::ALL.map(Field::as_str).join(",")
                ))
            }
        }
    }
    if out.is_empty() {
        return Err("no fields given".into());
    }
    Ok(out)
}

/// Which contacts are in a slice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    /// Contacts carrying any of these tags.
    Tags(BTreeSet<String>),
    /// These contacts.
    Contacts(BTreeSet<DocId>),
    /// The contacts a search query matches (evaluated by the caller at each derivation).
    Query(String),
}

/// What one share carries: which contacts, which fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub filter: Filter,
    pub fields: BTreeSet<Field>,
}

impl Spec {
    /// Whether a contact is in the slice by the tag or contact filter (a query filter is
    /// evaluated by the caller, who passes the matching ids as `query_hits`).
    pub fn selects(&self, id: &DocId, c: &Contact, query_hits: &BTreeSet<DocId>) -> bool {
        if c.archived || !c.merged_into.is_empty() {
            return false;
        }
        match &self.filter {
            Filter::Tags(tags) => c.tags.iter().any(|t| tags.contains(t)),
            Filter::Contacts(ids) => ids.contains(id),
            Filter::Query(_) => query_hits.contains(id),
        }
    }
}

/// A projected value: a scalar string or a set of strings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PValue {
    Str(String),
    Set(BTreeSet<String>),
}

/// The allowed fields' current values of one contact: field name -> value. Empty values are
/// absent.
pub type Projection = BTreeMap<String, PValue>;

/// Projects a contact onto the allowed fields (current values only).
pub fn project(c: &Contact, fields: &BTreeSet<Field>) -> Projection {
    let mut out = Projection::new();
    let role = c.primary_role();
    for f in fields {
        let v = match f {
            Field::Name => str_value(&c.name),
            Field::Org => role.and_then(|r| str_value(&r.org)),
            Field::Title => role.and_then(|r| str_value(&r.title)),
            Field::Help => str_value(&c.help),
            Field::Met => str_value(&c.met),
            Field::Tags => set_value(c.tags.iter().cloned()),
            Field::Emails => set_value(c.emails.values().map(|l| l.value.clone())),
            Field::Phones => set_value(c.phones.values().map(|l| l.value.clone())),
            Field::Urls => set_value(c.urls.values().map(|l| l.value.clone())),
        };
        if let Some(v) = v {
            out.insert(f.as_str().to_string(), v);
        }
    }
    out
}

fn str_value(s: &str) -> Option<PValue> {
    let s = s.trim();
    (!s.is_empty()).then(|| PValue::Str(s.to_string()))
}

fn set_value(it: impl Iterator<Item = String>) -> Option<PValue> {
    let set: BTreeSet<String> = it
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!set.is_empty()).then_some(PValue::Set(set))
}

/// Whether going from `old` to `new` retracts something the person could already see: a
/// field that disappears, a set element removed, or a string cleared. Changing a scalar to
/// another non-empty value is not a retraction (the old value was in the slice).
pub fn retracts(old: &Projection, new: &Projection) -> bool {
    old.iter().any(|(k, v)| match (v, new.get(k)) {
        (_, None) => true,
        (PValue::Set(a), Some(PValue::Set(b))) => !a.is_subset(b),
        (PValue::Str(_), Some(PValue::Str(_))) => false,
        _ => true,
    })
}

/// Whether the slice as a whole narrows: a contact leaves it, or a projection retracts.
pub fn narrows(old: &BTreeMap<DocId, Projection>, new: &BTreeMap<DocId, Projection>) -> bool {
    old.iter().any(|(id, p)| match new.get(id) {
        None => true,
        Some(n) => retracts(p, n),
    })
}

/// The per-share, per-epoch pseudonym of a contact: the first 16 bytes of
/// SHA-256("kith-share-id" ‖ secret ‖ epoch (u32 BE) ‖ contact id). Without the secret the
/// contact id cannot be recovered or linked across shares or epochs.
pub fn pseudonym(secret: &[u8; 32], epoch: u32, contact: &DocId) -> DocId {
    let mut h = Sha256::new();
    h.update(b"kith-share-id");
    h.update(secret);
    h.update(epoch.to_be_bytes());
    h.update(contact.0);
    let d = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    DocId(id)
}
