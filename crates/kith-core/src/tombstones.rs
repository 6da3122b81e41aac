//! The tombstone document: the ids of documents deleted for good (`kith rm --purge`), synced
//! like any other document so that a deletion reaches every device (docs/design/deletion.md).
//!
//! It has the well-known id [`TOMBSTONES_DOC`] (`00..01`) on every device, so copies created
//! independently merge into one. Root: `kind = "tombstones"`, `deleted`: a map from a document
//! id (32 hex digits) to a map with `at` (ms since the epoch), `by` (who deleted it) and, for a
//! contact, `uid` (its vCard UID, so that re-importing an old card does not bring it back).
//!
//! Invariant: deletion wins and is permanent. Nothing ever removes an entry, and readers take
//! the union over every concurrent `deleted` map object and every concurrent entry, so a
//! replica that missed a deletion cannot undo it by merging.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use serde::{Deserialize, Serialize};

use crate::id::DocId;
use crate::model::{read_str, SCHEMA_VERSION};

/// The id of the tombstone document on every device.
pub const TOMBSTONES_DOC: DocId = DocId([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/// The root `kind` of the tombstone document.
pub const KIND: &str = "tombstones";

/// When and by whom a document was deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub at: i64,
    pub by: String,
    /// The deleted contact's vCard UID ("" for other documents).
    #[serde(default)]
    pub uid: String,
}

type AmResult<T> = Result<T, automerge::AutomergeError>;

fn maps_at<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Vec<ObjId> {
    let mut out: Vec<ObjId> = Vec::new();
    if let Ok(Some((Value::Object(ObjType::Map), w))) = doc.get(obj, key) {
        out.push(w);
    }
    if let Ok(all) = doc.get_all(obj, key) {
        for (v, id) in all {
            if matches!(v, Value::Object(ObjType::Map)) && !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
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

/// Every deleted document id, with the earliest record of its deletion. Keys that are not
/// document ids are skipped (a reader never fails on a peer's document).
pub fn read_tombstones<D: ReadDoc>(doc: &D) -> BTreeMap<DocId, Tombstone> {
    let mut out: BTreeMap<DocId, Tombstone> = BTreeMap::new();
    if read_str(doc, &ROOT, "kind").as_deref() != Some(KIND) {
        return out;
    }
    for m in maps_at(doc, &ROOT, "deleted") {
        for k in doc.keys(&m).collect::<Vec<_>>() {
            let Ok(id) = k.parse::<DocId>() else { continue };
            let mut entries = maps_at(doc, &m, &k).into_iter().map(|e| Tombstone {
                at: int_at(doc, &e, "at"),
                by: read_str(doc, &e, "by").unwrap_or_default(),
                uid: read_str(doc, &e, "uid").unwrap_or_default(),
            });
            // A non-map value still marks the id deleted: presence is what counts.
            let t = entries.next().unwrap_or_default();
            let t = entries.fold(t, |a, b| if (b.at, &b.by) < (a.at, &a.by) { b } else { a });
            out.entry(id)
                .and_modify(|old| {
                    if (t.at, &t.by) < (old.at, &old.by) {
                        *old = t.clone();
                    }
                })
                .or_insert(t);
        }
    }
    out
}

/// Whether `id` is recorded as deleted.
pub fn is_deleted<D: ReadDoc>(doc: &D, id: &DocId) -> bool {
    if read_str(doc, &ROOT, "kind").as_deref() != Some(KIND) {
        return false;
    }
    let key = id.to_hex();
    maps_at(doc, &ROOT, "deleted")
        .iter()
        .any(|m| doc.get(m, key.as_str()).ok().flatten().is_some())
}

/// Records `id` as deleted (`uid`: a contact's vCard UID, or ""). Returns false when it
/// already was.
pub fn add_tombstone(
    doc: &mut AutoCommit,
    id: &DocId,
    at: i64,
    by: &str,
    uid: &str,
) -> AmResult<bool> {
    if is_deleted(doc, id) {
        return Ok(false);
    }
    if read_str(doc, &ROOT, "kind").as_deref() != Some(KIND) {
        doc.put(&ROOT, "kind", KIND)?;
        doc.put(&ROOT, "schema", SCHEMA_VERSION)?;
    }
    let m = match maps_at(doc, &ROOT, "deleted").into_iter().next() {
        Some(m) => m,
        None => doc.put_object(&ROOT, "deleted", ObjType::Map)?,
    };
    let e = doc.put_object(&m, id.to_hex().as_str(), ObjType::Map)?;
    doc.put(&e, "at", at)?;
    doc.put(&e, "by", by)?;
    if !uid.is_empty() {
        doc.put(&e, "uid", uid)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> DocId {
        DocId([b; 16])
    }

    #[test]
    fn add_and_read() {
        let mut doc = AutoCommit::new();
        assert!(read_tombstones(&doc).is_empty());
        assert!(add_tombstone(&mut doc, &id(7), 5, "dev-a", "urn:uuid:x").unwrap());
        assert!(!add_tombstone(&mut doc, &id(7), 6, "dev-a", "").unwrap());
        assert!(is_deleted(&doc, &id(7)));
        assert!(!is_deleted(&doc, &id(8)));
        let all = read_tombstones(&doc);
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[&id(7)],
            Tombstone {
                at: 5,
                by: "dev-a".into(),
                uid: "urn:uuid:x".into(),
            }
        );
    }

    #[test]
    fn independently_created_copies_merge_into_the_union() {
        let mut a = AutoCommit::new();
        add_tombstone(&mut a, &id(1), 1, "a", "").unwrap();
        let mut b = AutoCommit::new();
        add_tombstone(&mut b, &id(2), 2, "b", "").unwrap();
        add_tombstone(&mut b, &id(1), 3, "b", "").unwrap();
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        for doc in [&a, &b] {
            let all = read_tombstones(doc);
            assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![id(1), id(2)]);
            // The earliest record of a deletion is the one reported.
            assert_eq!(all[&id(1)].at, 1);
            assert!(is_deleted(doc, &id(2)));
        }
        // A write after the merge is seen by a stale replica that merges it.
        let mut stale = b.fork();
        add_tombstone(&mut a, &id(3), 4, "a", "").unwrap();
        stale.merge(&mut a).unwrap();
        assert!(is_deleted(&stale, &id(3)));
    }

    #[test]
    fn foreign_shapes_read_as_nothing_or_are_skipped() {
        let mut doc = AutoCommit::new();
        doc.put(&ROOT, "kind", "contact").unwrap();
        doc.put_object(&ROOT, "deleted", ObjType::Map).unwrap();
        assert!(read_tombstones(&doc).is_empty());
        let mut doc = AutoCommit::new();
        add_tombstone(&mut doc, &id(1), 1, "a", "").unwrap();
        let m = maps_at(&doc, &ROOT, "deleted")[0].clone();
        doc.put(&m, "not-an-id", 1).unwrap();
        doc.put(&m, id(9).to_hex().as_str(), true).unwrap();
        let all = read_tombstones(&doc);
        assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![id(1), id(9)]);
    }
}
