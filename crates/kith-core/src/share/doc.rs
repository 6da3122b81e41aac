//! Projection documents: new Automerge documents built from projected values.
//!
//! Invariant: a projection document is only ever written here, by the actor the caller passes
//! (the share's epoch actor), with commits of time 0 and no message; values are scalars (no
//! Text), multi-valued fields are maps keyed by the value. Nothing here takes a source
//! document: history cannot leak because there is none to copy.

use std::collections::BTreeSet;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Automerge, ObjType, ReadDoc, Value, ROOT};

use super::{PValue, Projection};

/// The `kind` at the root of a projection document.
pub const PROJECTION_KIND: &str = "shared-contact";

type AmResult<T> = Result<T, automerge::AutomergeError>;

/// A new projection document holding `values`, authored by `actor`.
pub fn build_projection(values: &Projection, actor: ActorId) -> AmResult<AutoCommit> {
    let mut doc = AutoCommit::new().with_actor(actor);
    doc.put(&ROOT, "kind", PROJECTION_KIND)?;
    write_values(&mut doc, values)?;
    doc.commit_with(CommitOptions::default());
    Ok(doc)
}

/// Brings a projection document to `values`, writing only what differs, as `actor`. Returns
/// whether anything changed.
pub fn refresh_projection(
    doc: &mut AutoCommit,
    values: &Projection,
    actor: ActorId,
) -> AmResult<bool> {
    if read_projection(doc) == *values {
        return Ok(false);
    }
    doc.set_actor(actor);
    write_values(doc, values)?;
    doc.commit_with(CommitOptions::default());
    Ok(true)
}

fn write_values(doc: &mut AutoCommit, values: &Projection) -> AmResult<()> {
    let old = read_projection(doc);
    for k in old.keys() {
        if !values.contains_key(k) {
            doc.delete(&ROOT, k.as_str())?;
        }
    }
    for (k, v) in values {
        if old.get(k) == Some(v) {
            continue;
        }
        match v {
            PValue::Str(s) => doc.put(&ROOT, k.as_str(), s.as_str())?,
            PValue::Set(set) => {
                let obj = match doc.get(&ROOT, k.as_str())? {
                    Some((Value::Object(ObjType::Map), id)) => id,
                    _ => doc.put_object(&ROOT, k.as_str(), ObjType::Map)?,
                };
                let have: Vec<String> = doc.keys(&obj).collect();
                for h in &have {
                    if !set.contains(h) {
                        doc.delete(&obj, h.as_str())?;
                    }
                }
                for s in set {
                    if !have.contains(s) {
                        doc.put(&obj, s.as_str(), true)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The values a projection document holds (what the person sees). Never fails: wrong shapes
/// read as absent.
pub fn read_projection<D: ReadDoc>(doc: &D) -> Projection {
    let mut out = Projection::new();
    for k in doc.keys(&ROOT) {
        if k == "kind" {
            continue;
        }
        match doc.get(&ROOT, k.as_str()) {
            Ok(Some((Value::Scalar(s), _))) => {
                if let automerge::ScalarValue::Str(s) = s.as_ref() {
                    out.insert(k, PValue::Str(s.to_string()));
                }
            }
            Ok(Some((Value::Object(ObjType::Map), id))) => {
                let set: BTreeSet<String> = doc.keys(&id).collect();
                if !set.is_empty() {
                    out.insert(k, PValue::Set(set));
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether every change of the document was made by one of `actors` (a recipient accepts only
/// the actors the owner announced for the epoch).
pub fn changes_only_by(doc: &Automerge, actors: &[ActorId]) -> bool {
    doc.get_changes(&[])
        .iter()
        .all(|c| actors.contains(c.actor_id()))
}

/// The whole history of a document as text: every change decoded (actor, time, message, every
/// operation with its key and value), one JSON object per line. Tests search it for values that
/// must never be there.
pub fn history_text(doc: &Automerge) -> String {
    let mut out = String::new();
    for c in doc.get_changes(&[]) {
        out.push_str(&serde_json::to_string(&c.decode()).unwrap_or_default());
        out.push('\n');
    }
    out
}
