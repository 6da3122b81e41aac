//! Introductions (docs/design/sharing.md, "Introductions"): the asker's request documents, the
//! owner's answer documents and the state machine of an introduction.
//!
//! Invariants: a request document is written only by the asker's per-person intro actor and
//! holds the share id, the epoch, the pseudonym of the received contact, the name the asker saw
//! in the slice, `why` and the day it was asked, nothing of the asker's vault; an answers
//! document is written only by the owner's per-person intro actor and holds, per request id,
//! the state and its days, a note and the outcome text, never a contact id. Commits carry time 0
//! and no message; every value is a scalar. Readers never fail on a malformed peer document.

use std::collections::BTreeMap;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use serde::Serialize;

/// The `kind` at the root of a request document (authored by the asker).
pub const REQUEST_KIND: &str = "intro-request";
/// The `kind` at the root of an answers document (authored by the owner).
pub const ANSWERS_KIND: &str = "intro-answers";
/// The most bytes of a `why`, note or outcome text.
pub const MAX_TEXT: usize = 4096;

type AmResult<T> = Result<T, automerge::AutomergeError>;

/// An introduction request, as the asker wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Request {
    /// The share the contact came from (32 hex digits).
    pub share: String,
    /// The share's epoch when asked.
    pub epoch: u32,
    /// The pseudonym of the contact in that share (32 hex digits).
    pub about: String,
    /// The contact's name as the slice showed it.
    pub name: String,
    pub why: String,
    /// The day it was asked (YYYY-MM-DD).
    pub asked: String,
}

/// The owner's answer to one request. Empty strings are "not yet".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Answer {
    pub accepted: String,
    pub declined: String,
    pub made: String,
    pub outcome_on: String,
    pub outcome: String,
    pub note: String,
}

/// Where an introduction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Asked,
    Accepted,
    Declined,
    Made,
    Outcome,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Asked => "asked",
            State::Accepted => "accepted",
            State::Declined => "declined",
            State::Made => "made",
            State::Outcome => "outcome",
        }
    }

    pub fn of(answer: Option<&Answer>) -> State {
        match answer {
            None => State::Asked,
            Some(a) if !a.outcome_on.is_empty() => State::Outcome,
            Some(a) if !a.made.is_empty() => State::Made,
            Some(a) if !a.declined.is_empty() => State::Declined,
            Some(a) if !a.accepted.is_empty() => State::Accepted,
            Some(_) => State::Asked,
        }
    }
}

/// What the owner does to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Accept { note: String },
    Decline { note: String },
    Made,
    Outcome { text: String },
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::Accept { .. } => "accept",
            Step::Decline { .. } => "decline",
            Step::Made => "mark as made",
            Step::Outcome { .. } => "record the outcome of",
        }
    }
}

/// The state machine: asked -> accepted | declined; accepted -> made; made -> outcome. Returns
/// the new answer, or why the step is refused (in words, for an `error:` line).
pub fn transition(current: Option<&Answer>, step: &Step, day: &str) -> Result<Answer, String> {
    let state = State::of(current);
    let mut a = current.cloned().unwrap_or_default();
    match (state, step) {
        (State::Asked, Step::Accept { note }) => {
            a.accepted = day.to_string();
            a.note = note.clone();
        }
        (State::Asked, Step::Decline { note }) => {
            a.declined = day.to_string();
            a.note = note.clone();
        }
        (State::Accepted, Step::Made) => a.made = day.to_string(),
        (State::Made, Step::Outcome { text }) => {
            if text.trim().is_empty() {
                return Err("the outcome text is empty".into());
            }
            a.outcome_on = day.to_string();
            a.outcome = text.trim().to_string();
        }
        (s, step) => {
            let allowed = match s {
                State::Asked => "accept or decline",
                State::Accepted => "made",
                State::Made => "outcome",
                State::Declined | State::Outcome => "nothing more (it is closed)",
            };
            return Err(format!(
                "cannot {} an introduction that is {}; next step: {allowed}",
                step.name(),
                s.as_str()
            ));
        }
    }
    Ok(a)
}

/// A new request document by `actor` (time 0, no message, scalars only).
pub fn build_request(r: &Request, actor: ActorId) -> AmResult<AutoCommit> {
    let mut doc = AutoCommit::new().with_actor(actor);
    doc.put(&ROOT, "kind", REQUEST_KIND)?;
    doc.put(&ROOT, "share", r.share.as_str())?;
    doc.put(&ROOT, "epoch", ScalarValue::Uint(u64::from(r.epoch)))?;
    doc.put(&ROOT, "about", r.about.as_str())?;
    doc.put(&ROOT, "name", r.name.as_str())?;
    doc.put(&ROOT, "why", r.why.as_str())?;
    doc.put(&ROOT, "asked", r.asked.as_str())?;
    doc.commit_with(CommitOptions::default());
    Ok(doc)
}

fn str_at<D: ReadDoc>(doc: &D, obj: &automerge::ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// The `kind` at a document's root, if it is a string.
pub fn kind_of<D: ReadDoc>(doc: &D) -> Option<String> {
    str_at(doc, &ROOT, "kind")
}

/// Reads a request document; `None` when it is not one (never fails).
pub fn read_request<D: ReadDoc>(doc: &D) -> Option<Request> {
    if kind_of(doc).as_deref() != Some(REQUEST_KIND) {
        return None;
    }
    let epoch = match doc.get(&ROOT, "epoch") {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Uint(n) => u32::try_from(*n).ok()?,
            ScalarValue::Int(n) => u32::try_from(*n).ok()?,
            _ => return None,
        },
        _ => return None,
    };
    Some(Request {
        share: str_at(doc, &ROOT, "share")?,
        epoch,
        about: str_at(doc, &ROOT, "about")?,
        name: str_at(doc, &ROOT, "name").unwrap_or_default(),
        why: str_at(doc, &ROOT, "why").unwrap_or_default(),
        asked: str_at(doc, &ROOT, "asked").unwrap_or_default(),
    })
}

/// A new, empty answers document by `actor`.
pub fn build_answers(actor: ActorId) -> AmResult<AutoCommit> {
    let mut doc = AutoCommit::new().with_actor(actor);
    doc.put(&ROOT, "kind", ANSWERS_KIND)?;
    doc.put_object(&ROOT, "answers", ObjType::Map)?;
    doc.commit_with(CommitOptions::default());
    Ok(doc)
}

const ANSWER_KEYS: [&str; 6] = [
    "accepted",
    "declined",
    "made",
    "outcome_on",
    "outcome",
    "note",
];

/// The answers an answers document holds, by request id (32 hex digits). Never fails.
pub fn read_answers<D: ReadDoc>(doc: &D) -> BTreeMap<String, Answer> {
    let mut out = BTreeMap::new();
    if kind_of(doc).as_deref() != Some(ANSWERS_KIND) {
        return out;
    }
    let Ok(Some((Value::Object(ObjType::Map), answers))) = doc.get(&ROOT, "answers") else {
        return out;
    };
    for k in doc.keys(&answers) {
        let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(&answers, k.as_str()) else {
            continue;
        };
        let get = |key: &str| str_at(doc, &obj, key).unwrap_or_default();
        out.insert(
            k.clone(),
            Answer {
                accepted: get("accepted"),
                declined: get("declined"),
                made: get("made"),
                outcome_on: get("outcome_on"),
                outcome: get("outcome"),
                note: get("note"),
            },
        );
    }
    out
}

/// Writes one answer into an answers document as `actor`, only the values that differ.
pub fn write_answer(
    doc: &mut AutoCommit,
    request: &str,
    a: &Answer,
    actor: ActorId,
) -> AmResult<()> {
    doc.set_actor(actor);
    let answers = match doc.get(&ROOT, "answers")? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => doc.put_object(&ROOT, "answers", ObjType::Map)?,
    };
    let obj = match doc.get(&answers, request)? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => doc.put_object(&answers, request, ObjType::Map)?,
    };
    let values = [
        &a.accepted,
        &a.declined,
        &a.made,
        &a.outcome_on,
        &a.outcome,
        &a.note,
    ];
    for (k, v) in ANSWER_KEYS.iter().zip(values) {
        if str_at(doc, &obj, k).unwrap_or_default() != *v {
            doc.put(&obj, *k, v.as_str())?;
        }
    }
    doc.commit_with(CommitOptions::default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::{changes_only_by, history_text};

    fn req() -> Request {
        Request {
            share: "ab".repeat(16),
            epoch: 2,
            about: "cd".repeat(16),
            name: "Ada".into(),
            why: "hiring".into(),
            asked: "2026-11-22".into(),
        }
    }

    #[test]
    fn a_request_round_trips_and_is_by_its_actor_only() {
        let actor = ActorId::from([3u8; 16]);
        let mut d = build_request(&req(), actor.clone()).unwrap();
        assert_eq!(read_request(d.document()), Some(req()));
        assert!(changes_only_by(d.document(), &[actor]));
        let h = history_text(d.document());
        assert!(h.contains("\"time\":0"), "{h}");
        assert!(read_answers(d.document()).is_empty());
    }

    #[test]
    fn the_state_machine_refuses_bad_transitions() {
        let acc = Step::Accept { note: "ok".into() };
        let a = transition(None, &acc, "2026-11-22").unwrap();
        assert_eq!(State::of(Some(&a)), State::Accepted);
        let e = transition(Some(&a), &acc, "2026-11-23").unwrap_err();
        assert!(
            e.contains("cannot accept an introduction that is accepted"),
            "{e}"
        );
        let e = transition(None, &Step::Made, "x").unwrap_err();
        assert!(e.contains("next step: accept or decline"), "{e}");
        let m = transition(Some(&a), &Step::Made, "2026-11-24").unwrap();
        assert_eq!(State::of(Some(&m)), State::Made);
        let e = transition(Some(&m), &Step::Outcome { text: " ".into() }, "x").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let o = transition(
            Some(&m),
            &Step::Outcome {
                text: "hired".into(),
            },
            "d",
        )
        .unwrap();
        assert_eq!(
            (State::of(Some(&o)), o.outcome.as_str()),
            (State::Outcome, "hired")
        );
        let d = transition(
            None,
            &Step::Decline {
                note: String::new(),
            },
            "d",
        )
        .unwrap();
        assert!(transition(Some(&d), &Step::Made, "d")
            .unwrap_err()
            .contains("closed"));
    }

    #[test]
    fn answers_are_written_and_read_by_request() {
        let actor = ActorId::from([4u8; 16]);
        let mut d = build_answers(actor.clone()).unwrap();
        let a = transition(
            None,
            &Step::Accept {
                note: "sure".into(),
            },
            "2026-11-22",
        )
        .unwrap();
        write_answer(&mut d, "r1", &a, actor.clone()).unwrap();
        let m = transition(Some(&a), &Step::Made, "2026-11-23").unwrap();
        write_answer(&mut d, "r1", &m, actor.clone()).unwrap();
        let got = read_answers(d.document());
        assert_eq!(got.get("r1"), Some(&m));
        assert!(changes_only_by(d.document(), &[actor]));
        assert_eq!(read_request(d.document()), None);
    }
}
