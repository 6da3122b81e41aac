//! `kith history REF [FIELD]`: every change to a contact's fields, read from Automerge's own
//! change graph (no second log): for each change, the fields whose value differs between the
//! document at the change's parents and at the change, the old and new value, the device that
//! made it, when, and whether it came from an import, an edit, another command, or a sync.
//!
//! Where each part comes from:
//! - **device**: the change's actor. This device's changes carry the vault's actor (or, for a
//!   `kith edit`, a fork actor that starts with it: `store::fork_actor`); other devices'
//!   actors are recorded in the membership document (`devices::record_actor`, written by each
//!   device about itself when it pairs or runs the daemon). An actor found nowhere is shown as
//!   "another device" with its first hex digits.
//! - **when**: the change's time (every change this version commits carries one,
//!   `store::commit_pending`); for older changes without one, the `updated` stamp the change
//!   wrote (every writer sets it).
//! - **how**: the change's message is the command that made it (`set`, `edit`, `import`, ...;
//!   `store::set_commit_origin`). A change by another device's actor came in by sync.
//!
//! Invariant: read-only; reads one document and the membership document.

use std::collections::BTreeMap;

use automerge::{ActorId, AutoCommit, ChangeHash};
use kith_core::devices::{self, DEVICES_DOC};
use kith_core::model::{self, Contact};
use kith_core::DocId;
use serde::Serialize;

use crate::app::{App, AppError, Result};

/// One field changed by one change (also its JSON schema).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldChange {
    /// The field as `kith history` names it: `name`, `email`, `phone`, `org`, `tags`, ...
    pub field: String,
    /// The field's path in the document (`emails.<entry>`), which tells entries apart.
    pub path: String,
    /// The value before (absent when the change added it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value after (absent when the change removed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Milliseconds since the epoch (0 when unknown).
    pub at_ms: i64,
    /// The device's name as recorded in the membership document, or a description.
    pub device: String,
    /// The device's id (64 hex digits) when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Whether the change was made on this device.
    pub this_device: bool,
    /// `import`, `edit`, `command` (any other command, named in `command`), `sync` (made on
    /// another device), or `unknown` (a change made before kith recorded its origin).
    pub origin: String,
    /// The command that made the change (`set`, `edit`, `import`, `add`, ...), when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The Automerge change hash (hex).
    pub change: String,
}

/// A contact flattened to `path -> value in words`, the unit `history` compares.
pub fn flatten(c: &Contact) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: String, v: String| {
        if !v.is_empty() {
            m.insert(k, v);
        }
    };
    put("name".into(), c.name.clone());
    put("nickname".into(), c.nickname.clone());
    for f in ["prefix", "given", "additional", "family", "suffix"] {
        use kith_core::model::Record;
        put(format!("n.{f}"), c.n.field(f).to_string());
    }
    let labeled = |l: &model::Labeled| {
        if l.label.is_empty() {
            l.value.clone()
        } else {
            format!("{} ({})", l.value, l.label)
        }
    };
    for (group, entries) in [
        ("emails", &c.emails),
        ("phones", &c.phones),
        ("urls", &c.urls),
        ("dates", &c.dates),
    ] {
        for (k, e) in entries {
            put(format!("{group}.{k}"), labeled(e));
        }
    }
    for (k, r) in &c.orgs {
        let mut s = r.org.clone();
        if !r.unit.is_empty() {
            s = format!("{s} / {}", r.unit);
        }
        if !r.title.is_empty() {
            s = if s.is_empty() {
                r.title.clone()
            } else {
                format!("{} at {s}", r.title)
            };
        }
        if !r.since.is_empty() || !r.until.is_empty() {
            s = format!("{s} ({}..{})", r.since, r.until);
        }
        put(format!("orgs.{k}"), s);
    }
    for (k, a) in &c.addresses {
        let parts: Vec<&str> = [
            &a.pobox,
            &a.ext,
            &a.street,
            &a.locality,
            &a.region,
            &a.postcode,
            &a.country,
        ]
        .iter()
        .map(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .collect();
        put(format!("addresses.{k}"), parts.join(", "));
    }
    put("birthday".into(), c.birthday.clone());
    put("met".into(), c.met.clone());
    put(
        "kinds".into(),
        c.kinds.iter().cloned().collect::<Vec<_>>().join(", "),
    );
    put(
        "tags".into(),
        c.tags.iter().cloned().collect::<Vec<_>>().join(", "),
    );
    put("every".into(), c.every.clone());
    put("lead".into(), c.lead.clone());
    for (k, l) in &c.links {
        put(format!("links.{k}"), format!("{} {}", l.rel, l.to));
    }
    for (k, v) in &c.custom {
        put(format!("custom.{k}"), v.clone());
    }
    put("uid".into(), c.uid.clone());
    for (k, e) in &c.extra {
        put(format!("extra.{k}"), format!("{}:{}", e.name, e.value));
    }
    put("merged_into".into(), c.merged_into.clone());
    if c.archived {
        put("archived".into(), "yes".into());
    }
    m
}

/// The name `history` shows for a path: entries by their group in the singular (`email`),
/// custom fields by their own name, the rest as they are.
pub fn field_name(path: &str) -> String {
    let (group, rest) = path.split_once('.').unwrap_or((path, ""));
    match group {
        "emails" => "email".into(),
        "phones" => "phone".into(),
        "urls" => "url".into(),
        "dates" => "date".into(),
        "orgs" => "org".into(),
        "addresses" => "address".into(),
        "links" => "link".into(),
        "extra" => "vcard".into(),
        "custom" => rest.to_string(),
        "n" => format!("name.{rest}"),
        _ => path.to_string(),
    }
}

/// Whether `path` is what the user asked for with FIELD: its shown name, its path, its group
/// (`emails`), or the singular of it, case ignored.
pub fn field_matches(path: &str, wanted: &str) -> bool {
    let w = wanted.trim().to_lowercase();
    let name = field_name(path).to_lowercase();
    let group = path.split('.').next().unwrap_or("").to_lowercase();
    name == w
        || path.to_lowercase() == w
        || group == w
        || group.strip_suffix('s') == Some(w.as_str())
        || (w == "title" && group == "orgs")
        || (w == "tag" && group == "tags")
        || (w == "kind" && group == "kinds")
}

/// Who made changes: this vault's actor, and every recorded device's actors.
pub struct Devices {
    mine: ActorId,
    my_name: String,
    my_id: Option<String>,
    /// Actor hex (the first 32 digits: a vault actor) -> (device id, name).
    others: BTreeMap<String, (String, String)>,
}

impl Devices {
    /// (name, id, this device) of a change's actor.
    pub fn of(&self, actor: &ActorId) -> (String, Option<String>, bool) {
        if crate::store::same_device(actor, &self.mine) {
            return (self.my_name.clone(), self.my_id.clone(), true);
        }
        let hex = actor.to_hex_string();
        let key = &hex[..hex.len().min(32)];
        match self.others.get(key) {
            Some((id, name)) => (name.clone(), Some(id.clone()), false),
            None => (
                format!("another device (actor {})", &hex[..hex.len().min(8)]),
                None,
                false,
            ),
        }
    }
}

impl App {
    /// Who is who among the actors of this vault's documents.
    pub fn history_devices(&self) -> Result<Devices> {
        let r = self.vault.read()?;
        let members = r.load(DEVICES_DOC)?;
        let my_id =
            crate::net::existing_device_key(&self.home)?.map(|k| crate::net::id_hex(&k.public()));
        let mut my_name = "this device".to_string();
        let mut others = BTreeMap::new();
        if let Some(doc) = &members {
            let all = devices::read_devices(doc);
            if let Some(d) = my_id.as_ref().and_then(|id| all.get(id)) {
                if !d.name.is_empty() {
                    my_name = format!("{} (this device)", d.name);
                }
            }
            for (actor, id) in devices::actor_devices(doc) {
                let name = all.get(&id).map(|d| d.name.clone()).unwrap_or_default();
                let name = if name.is_empty() {
                    id[..8.min(id.len())].to_string()
                } else {
                    name
                };
                others.insert(actor[..actor.len().min(32)].to_string(), (id, name));
            }
        }
        Ok(Devices {
            mine: self.vault.actor().clone(),
            my_name,
            my_id,
            others,
        })
    }

    /// `kith history REF [FIELD]`: the field changes of a contact, oldest first.
    pub fn history(&self, id: DocId, field: Option<&str>) -> Result<Vec<FieldChange>> {
        let who = self.history_devices()?;
        let r = self.vault.read()?;
        let mut doc = r
            .load(id)?
            .ok_or_else(|| AppError::user(format!("contact {id} no longer exists")))?;
        drop(r);
        let changes: Vec<ChangeMeta> = doc
            .get_changes(&[])
            .iter()
            .map(|c| {
                (
                    c.hash(),
                    c.deps().to_vec(),
                    c.actor_id().clone(),
                    c.timestamp(),
                    c.message().map(str::to_string),
                )
            })
            .collect();
        let mut out = Vec::new();
        for (hash, deps, actor, secs, message) in changes {
            let before = state_at(&mut doc, &deps);
            let after_doc = fork(&mut doc, &[hash]);
            let after = after_doc
                .as_ref()
                .map(|d| flatten(&model::read_contact(d)))
                .unwrap_or_default();
            let at_ms = if secs > 0 {
                secs * 1000
            } else {
                after_doc
                    .as_ref()
                    .map(|d| model::read_contact(d).updated)
                    .unwrap_or(0)
            };
            let (device, device_id, this_device) = who.of(&actor);
            let origin = match (this_device, message.as_deref()) {
                (false, _) => "sync",
                (true, Some("import")) => "import",
                (true, Some("edit")) => "edit",
                (true, Some(_)) => "command",
                (true, None) => "unknown",
            };
            let mut paths: Vec<&String> = before.keys().chain(after.keys()).collect();
            paths.sort();
            paths.dedup();
            for p in paths {
                let (old, new) = (before.get(p), after.get(p));
                if old == new || field.is_some_and(|f| !field_matches(p, f)) {
                    continue;
                }
                out.push(FieldChange {
                    field: field_name(p),
                    path: p.clone(),
                    old: old.cloned(),
                    new: new.cloned(),
                    at: if at_ms > 0 {
                        kith_core::time::format_unix_ms_utc(at_ms)
                    } else {
                        String::new()
                    },
                    at_ms,
                    device: device.clone(),
                    device_id: device_id.clone(),
                    this_device,
                    origin: origin.to_string(),
                    command: message.clone(),
                    change: hash.to_string(),
                });
            }
        }
        // Causal order is what get_changes gives; show by time where known, keeping that order
        // among equal times.
        out.sort_by_key(|c| c.at_ms);
        Ok(out)
    }
}

/// What `history` reads of one change: hash, parents, actor, time (s), message.
type ChangeMeta = (ChangeHash, Vec<ChangeHash>, ActorId, i64, Option<String>);

fn fork(doc: &mut AutoCommit, heads: &[ChangeHash]) -> Option<AutoCommit> {
    doc.fork_at(heads).ok()
}

fn state_at(doc: &mut AutoCommit, heads: &[ChangeHash]) -> BTreeMap<String, String> {
    if heads.is_empty() {
        return BTreeMap::new();
    }
    fork(doc, heads)
        .map(|d| flatten(&model::read_contact(&d)))
        .unwrap_or_default()
}
