//! The membership document: the user's own devices, synced like any other document.
//!
//! It has the well-known id [`DEVICES_DOC`] (all zeros) on every device, so the copies that two
//! devices created independently merge into one. Root: `kind = "devices"`, `devices`: a map from
//! a device id (64 hex digits of its iroh public key) to a map with `name`, `added_by`,
//! `added_at`, `addrs` (map "ip:port" -> true, the addresses the device listens on), `actors`
//! (map Automerge actor hex -> true: the device's vault actors, written by the device itself, so
//! `kith history` can name the device of a change), and, once removed, `removed = true`,
//! `removed_by`, `removed_at`.
//!
//! Invariant: removal is permanent. Nothing ever writes `removed = false`, and a device counts
//! as removed when *any* concurrent value of its `removed` key is true, so a stale replica that
//! missed the removal cannot re-admit the device by adding it again: the merge keeps it removed.

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use serde::Serialize;

use crate::id::DocId;
use crate::model::{read_str, Kind, SCHEMA_VERSION};

/// The id of the membership document on every device.
pub const DEVICES_DOC: DocId = DocId([0u8; 16]);

/// One device as recorded in the membership document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Device {
    /// 64 hex digits: the device's iroh endpoint id.
    pub id: String,
    pub name: String,
    pub added_by: String,
    pub added_at: i64,
    pub addrs: BTreeSet<String>,
    pub removed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub removed_by: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub removed_at: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// How a device id stands in the membership document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    Trusted,
    Removed,
    Unknown,
}

type AmResult<T> = Result<T, automerge::AutomergeError>;

fn map_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(ObjType::Map), id) => Some(id),
        _ => None,
    }
}

fn int_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> i64 {
    match doc.get(obj, key).ok().flatten() {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Int(i) | ScalarValue::Timestamp(i) => *i,
            _ => 0,
        },
        _ => 0,
    }
}

/// Whether any concurrent value of `removed` is true.
fn removed_at<D: ReadDoc>(doc: &D, entry: &ObjId) -> bool {
    doc.get_all(entry, "removed")
        .map(|all| {
            all.iter().any(|(v, _)| {
                matches!(v, Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Boolean(true)))
            })
        })
        .unwrap_or(false)
}

/// Every `devices` map object at the root, the winner first. Two devices that created the
/// document independently each created one; after a merge both are there, as concurrent values
/// of the same key, and every one of them must be read.
fn devices_maps<D: ReadDoc>(doc: &D) -> Vec<ObjId> {
    let mut out: Vec<ObjId> = Vec::new();
    if let Some(w) = map_at(doc, &ROOT, "devices") {
        out.push(w);
    }
    if let Ok(all) = doc.get_all(&ROOT, "devices") {
        for (v, id) in all {
            if matches!(v, Value::Object(ObjType::Map)) && !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

/// Every entry object recorded for `id`, across all `devices` maps and concurrent values
/// (winner first).
fn entries<D: ReadDoc>(doc: &D, id: &str) -> Vec<ObjId> {
    let mut out: Vec<ObjId> = Vec::new();
    for m in devices_maps(doc) {
        if let Some(w) = map_at(doc, &m, id) {
            if !out.contains(&w) {
                out.push(w);
            }
        }
        if let Ok(all) = doc.get_all(&m, id) {
            for (v, e) in all {
                if matches!(v, Value::Object(ObjType::Map)) && !out.contains(&e) {
                    out.push(e);
                }
            }
        }
    }
    out
}

/// Whether any entry object recorded for `id` is removed.
fn any_removed<D: ReadDoc>(doc: &D, id: &str) -> bool {
    entries(doc, id).iter().any(|e| removed_at(doc, e))
}

fn read_entry<D: ReadDoc>(doc: &D, id: &str, e: &ObjId) -> Device {
    Device {
        id: id.to_string(),
        name: read_str(doc, e, "name").unwrap_or_default(),
        added_by: read_str(doc, e, "added_by").unwrap_or_default(),
        added_at: int_at(doc, e, "added_at"),
        addrs: map_at(doc, e, "addrs")
            .map(|m| doc.keys(&m).collect())
            .unwrap_or_default(),
        removed: removed_at(doc, e),
        removed_by: read_str(doc, e, "removed_by").unwrap_or_default(),
        removed_at: int_at(doc, e, "removed_at"),
    }
}

/// Every device ever recorded, removed ones included, by id.
pub fn read_devices<D: ReadDoc>(doc: &D) -> BTreeMap<String, Device> {
    let mut out = BTreeMap::new();
    for m in devices_maps(doc) {
        for k in doc.keys(&m).collect::<Vec<_>>() {
            if out.contains_key(&k) {
                continue;
            }
            if let Some(e) = entries(doc, &k).first() {
                let mut d = read_entry(doc, &k, e);
                d.removed = any_removed(doc, &k);
                out.insert(k.clone(), d);
            }
        }
    }
    out
}

/// How `device` (64 hex digits) stands.
pub fn trust_of<D: ReadDoc>(doc: &D, device: &str) -> Trust {
    let found = entries(doc, device);
    if found.is_empty() {
        Trust::Unknown
    } else if found.iter().any(|e| removed_at(doc, e)) {
        Trust::Removed
    } else {
        Trust::Trusted
    }
}

fn devices_map(doc: &mut AutoCommit) -> AmResult<ObjId> {
    if read_str(doc, &ROOT, "kind").as_deref() != Some("devices") {
        doc.put(&ROOT, "kind", "devices")?;
        doc.put(&ROOT, "schema", SCHEMA_VERSION)?;
    }
    match map_at(doc, &ROOT, "devices") {
        Some(m) => Ok(m),
        None => doc.put_object(&ROOT, "devices", ObjType::Map),
    }
}

/// Records a device as one of the user's own. A device already recorded keeps its entry (and
/// stays removed if it was). Returns whether anything was written.
pub fn add_device(
    doc: &mut AutoCommit,
    id: &str,
    name: &str,
    by: &str,
    now: i64,
) -> AmResult<bool> {
    let m = devices_map(doc)?;
    if !entries(doc, id).is_empty() {
        return Ok(false);
    }
    let e = doc.put_object(&m, id, ObjType::Map)?;
    doc.put(&e, "name", name)?;
    doc.put(&e, "added_by", by)?;
    doc.put(&e, "added_at", now)?;
    doc.put_object(&e, "addrs", ObjType::Map)?;
    Ok(true)
}

/// Marks a device removed, for good. Returns false when it is not recorded.
pub fn remove_device(doc: &mut AutoCommit, id: &str, by: &str, now: i64) -> AmResult<bool> {
    devices_map(doc)?;
    let found = entries(doc, id);
    if found.is_empty() {
        return Ok(false);
    }
    // Mark every entry object, so no merge can surface an unmarked one.
    for e in found {
        if !removed_at(doc, &e) {
            doc.put(&e, "removed", true)?;
            doc.put(&e, "removed_by", by)?;
            doc.put(&e, "removed_at", now)?;
        }
    }
    Ok(true)
}

/// Renames a recorded device. Returns false when it is not recorded.
pub fn rename_device(doc: &mut AutoCommit, id: &str, name: &str) -> AmResult<bool> {
    devices_map(doc)?;
    let Some(e) = entries(doc, id).into_iter().next() else {
        return Ok(false);
    };
    if read_str(doc, &e, "name").as_deref() != Some(name) {
        doc.put(&e, "name", name)?;
    }
    Ok(true)
}

/// Records that changes by `actor` (hex) were made on device `id` (the entry's `actors` map:
/// actor hex -> true; a device has one actor per vault it ever used). `kith history` names the
/// device of a change from it. Only the device itself writes its own entry's `actors`. Returns
/// whether anything was written (false when the device is not recorded or the actor is known).
pub fn record_actor(doc: &mut AutoCommit, id: &str, actor: &str) -> AmResult<bool> {
    devices_map(doc)?;
    let Some(e) = entries(doc, id).into_iter().next() else {
        return Ok(false);
    };
    if actors_of(doc, id).contains(actor) {
        return Ok(false);
    }
    let m = match map_at(doc, &e, "actors") {
        Some(m) => m,
        None => doc.put_object(&e, "actors", ObjType::Map)?,
    };
    doc.put(&m, actor, true)?;
    Ok(true)
}

/// The actors (hex) recorded for device `id`, across every entry object and concurrent map.
pub fn actors_of<D: ReadDoc>(doc: &D, id: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in entries(doc, id) {
        if let Ok(all) = doc.get_all(&e, "actors") {
            for (v, m) in all {
                if matches!(v, Value::Object(ObjType::Map)) {
                    out.extend(doc.keys(&m));
                }
            }
        }
    }
    out
}

/// Which device made changes by which actor: actor hex -> device id, for every recorded device.
pub fn actor_devices<D: ReadDoc>(doc: &D) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for id in read_devices(doc).into_keys() {
        for a in actors_of(doc, &id) {
            out.insert(a, id.clone());
        }
    }
    out
}

/// Replaces the addresses a device listens on. Returns whether anything changed.
pub fn set_addrs(doc: &mut AutoCommit, id: &str, addrs: &BTreeSet<String>) -> AmResult<bool> {
    devices_map(doc)?;
    let Some(e) = entries(doc, id).into_iter().next() else {
        return Ok(false);
    };
    let am = match map_at(doc, &e, "addrs") {
        Some(a) => a,
        None => doc.put_object(&e, "addrs", ObjType::Map)?,
    };
    let old: BTreeSet<String> = doc.keys(&am).collect();
    if &old == addrs {
        return Ok(false);
    }
    for a in addrs.difference(&old) {
        doc.put(&am, a.as_str(), true)?;
    }
    for a in old.difference(addrs) {
        doc.delete(&am, a.as_str())?;
    }
    Ok(true)
}

/// Whether a document is the membership document.
pub fn is_devices_doc<D: ReadDoc>(doc: &D) -> bool {
    crate::model::doc_kind(doc) == Some(Kind::Devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aa";
    const B: &str = "bb";
    const C: &str = "cc";

    #[test]
    fn add_remove_rename() {
        let mut doc = AutoCommit::new();
        assert!(add_device(&mut doc, A, "laptop", A, 1).unwrap());
        assert!(add_device(&mut doc, B, "desktop", A, 2).unwrap());
        assert!(!add_device(&mut doc, B, "again", A, 3).unwrap());
        assert_eq!(trust_of(&doc, B), Trust::Trusted);
        assert_eq!(trust_of(&doc, C), Trust::Unknown);
        assert!(rename_device(&mut doc, B, "tower").unwrap());
        assert!(remove_device(&mut doc, B, A, 4).unwrap());
        assert_eq!(trust_of(&doc, B), Trust::Removed);
        let all = read_devices(&doc);
        assert_eq!(all[B].name, "tower");
        assert!(all[B].removed);
        assert_eq!(all[B].removed_by, A);
        assert!(is_devices_doc(&doc));
    }

    #[test]
    fn independent_copies_merge_and_removal_is_sticky() {
        // Two devices create the document independently (as when they pair).
        let mut a = AutoCommit::new();
        add_device(&mut a, A, "laptop", A, 1).unwrap();
        add_device(&mut a, B, "desktop", A, 1).unwrap();
        let mut b = AutoCommit::new();
        add_device(&mut b, B, "desktop", B, 1).unwrap();
        add_device(&mut b, A, "laptop", B, 1).unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        assert_eq!(read_devices(&a).len(), 2);
        assert_eq!(trust_of(&a, B), Trust::Trusted);
        // A stale replica (c) that already knew B misses a's removal and "re-adds" B: no-op.
        let mut c = b.fork();
        remove_device(&mut a, B, A, 5).unwrap();
        assert!(!add_device(&mut c, B, "desktop again", C, 6).unwrap());
        a.merge(&mut c).unwrap();
        c.merge(&mut a).unwrap();
        assert_eq!(trust_of(&a, B), Trust::Removed);
        assert_eq!(trust_of(&c, B), Trust::Removed);
    }

    #[test]
    fn a_replica_that_never_knew_the_device_cannot_readmit_it() {
        let mut base = AutoCommit::new();
        add_device(&mut base, A, "laptop", A, 1).unwrap();
        let mut stale = base.fork();
        // `base` adds B and removes it; `stale` concurrently adds B with a fresh entry object.
        add_device(&mut base, B, "desktop", A, 2).unwrap();
        remove_device(&mut base, B, A, 3).unwrap();
        add_device(&mut stale, B, "desktop", C, 4).unwrap();
        base.merge(&mut stale).unwrap();
        stale.merge(&mut base).unwrap();
        assert_eq!(trust_of(&base, B), Trust::Removed);
        assert_eq!(trust_of(&stale, B), Trust::Removed);
        assert!(read_devices(&stale)[B].removed);
    }

    #[test]
    fn independently_created_documents_show_every_device_after_merging() {
        // Each device creates its own copy (and its own `devices` map) before they ever meet.
        let mut a = AutoCommit::new();
        add_device(&mut a, A, "laptop", A, 1).unwrap();
        let mut b = AutoCommit::new();
        add_device(&mut b, B, "desktop", B, 1).unwrap();
        add_device(&mut b, C, "server", B, 1).unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        for doc in [&a, &b] {
            let all = read_devices(doc);
            assert_eq!(
                all.keys().cloned().collect::<Vec<_>>(),
                vec![A, B, C],
                "every device visible"
            );
            for id in [A, B, C] {
                assert_eq!(trust_of(doc, id), Trust::Trusted);
            }
        }
        // Writes reach entries in either map, and removal holds after another merge.
        assert!(rename_device(&mut a, C, "nas").unwrap());
        assert!(remove_device(&mut a, B, A, 2).unwrap());
        b.merge(&mut a).unwrap();
        assert_eq!(read_devices(&b)[C].name, "nas");
        assert_eq!(trust_of(&b, B), Trust::Removed);
        assert!(!add_device(&mut b, B, "again", C, 3).unwrap());
    }

    #[test]
    fn addrs_are_replaced() {
        let mut doc = AutoCommit::new();
        add_device(&mut doc, A, "laptop", A, 1).unwrap();
        let addrs: BTreeSet<String> = ["127.0.0.1:4000".to_string()].into();
        assert!(set_addrs(&mut doc, A, &addrs).unwrap());
        assert!(!set_addrs(&mut doc, A, &addrs).unwrap());
        assert_eq!(read_devices(&doc)[A].addrs, addrs);
    }
}
