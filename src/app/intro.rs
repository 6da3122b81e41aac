//! Introductions (issue 10, docs/design/sharing.md "Introductions"): asking the person who
//! shared a contact for an introduction, answering, and the documents both sides exchange over
//! `kith/share/1` version 2.
//!
//! Invariants:
//! - The asker writes only its request documents, the owner only its answers document, each
//!   with its own fresh intro actor per person (never the vault's actor), commit time 0, no
//!   message; neither ever writes into the other's documents.
//! - Received intro documents are stored only by `store_intro_received`, which refuses any
//!   change by an actor other than the person's pinned intro actor, and any document of the
//!   wrong kind; they live in `intro_received`, never among the user's documents.
//! - The owner maps a request's pseudonym back to its own contact locally (share secret and
//!   epoch) and keeps that mapping in `intro_peers`; no contact id is ever written into an
//!   intro document.
//! - Every step of an answer is checked by the state machine (`kith_core::share::intro`) in
//!   the write transaction that records it.

use std::collections::BTreeMap;

use automerge::{ActorId, AutoCommit, Automerge};
use kith_core::share::intro::{self as ki, Answer, Request, State, Step};
use kith_core::share::{self, ShareStore};
use kith_core::{model, DocId};
use serde::{Deserialize, Serialize};

use super::share::{all_persons, Person, Received, ShareDef, Sharing};
use super::{am_err, App, AppError, Result};
use crate::keep::DigestLine;
use crate::store::{Reader, ShareTable, StoreError, Vault, Writer};

/// Most request documents one person may have asked of this user.
pub const MAX_REQUESTS_PER_PERSON: usize = 1000;

/// Per person: this device's intro actor and bookkeeping (`intro_peers`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IntroPeer {
    /// This device's intro actor for the person (hex).
    #[serde(default)]
    pub actor: String,
    /// The person's intro actor (hex), pinned at the first intro session.
    #[serde(default)]
    pub their_actor: String,
    /// This device's answers document for the person (hex id), once it answered.
    #[serde(default)]
    pub answers: String,
    /// Owner side: request id (hex) -> own contact id (hex).
    #[serde(default)]
    pub about: BTreeMap<String, String>,
    /// Times the person tried to change a document authored here (refused).
    #[serde(default)]
    pub write_attempts: u32,
    #[serde(default)]
    pub last_attempt: i64,
}

/// One introduction as `kith intro list` shows it (also its JSON schema).
#[derive(Clone, Debug, Serialize)]
pub struct IntroRow {
    /// The request id (32 hex digits).
    pub id: String,
    /// `asked-by-me` (you asked the person) or `asked-of-me` (the person asked you).
    pub direction: &'static str,
    /// The person (the name you gave them).
    pub person: String,
    /// Whom the introduction is to: the name in the slice (asker) or your contact's name.
    pub about: String,
    /// Your own contact (only for requests asked of you, when it is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<DocId>,
    pub why: String,
    pub state: &'static str,
    pub asked: String,
    #[serde(flatten)]
    pub answer: Answer,
}

fn hex(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(b)
}

pub(super) fn actor_of(h: &str) -> ActorId {
    ActorId::from(
        data_encoding::HEXLOWER
            .decode(h.as_bytes())
            .unwrap_or_default(),
    )
}

pub(super) fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("plain data")
}

pub(super) fn damaged(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Store(StoreError::Internal(format!("damaged {what}: {e}")))
}

pub(super) fn key(person: &str, id: &DocId) -> Vec<u8> {
    let mut k = person.as_bytes().to_vec();
    k.extend_from_slice(&id.0);
    k
}

/// The document id at the end of an intro table key.
pub(super) fn id_of_key(k: &[u8]) -> Option<DocId> {
    let n = k.len().checked_sub(16)?;
    <[u8; 16]>::try_from(&k[n..]).ok().map(DocId)
}

/// The person key at the start of an intro table key.
pub(super) fn person_of_key(k: &[u8]) -> String {
    String::from_utf8_lossy(&k[..k.len().saturating_sub(16)]).to_string()
}

pub(super) fn peer_in_reader(r: &Reader, person: &str) -> Result<IntroPeer> {
    match r.share_get(ShareTable::IntroPeers, person.as_bytes())? {
        Some(v) => serde_json::from_slice(&v).map_err(|e| damaged("intro peer", e)),
        None => Ok(IntroPeer::default()),
    }
}

pub(super) fn peer_in(w: &Writer, person: &str) -> Result<IntroPeer> {
    match w.share_get(ShareTable::IntroPeers, person.as_bytes())? {
        Some(v) => serde_json::from_slice(&v).map_err(|e| damaged("intro peer", e)),
        None => Ok(IntroPeer::default()),
    }
}

/// The peer record, with this device's intro actor created when missing.
pub(crate) fn peer_with_actor(w: &mut Writer, person: &str) -> Result<IntroPeer> {
    let mut p = peer_in(w, person)?;
    if p.actor.is_empty() {
        p.actor = hex(&rand::random::<[u8; 16]>());
        w.share_put(ShareTable::IntroPeers, person.as_bytes(), &enc(&p))?;
    }
    Ok(p)
}

fn load(bytes: &[u8], what: &str) -> Result<Automerge> {
    Automerge::load(bytes).map_err(|e| damaged(what, e))
}

/// What one side brings to an intro session with a person.
pub struct IntroSession {
    /// This device's intro actor (hex), announced to the person.
    pub actor: String,
    /// The documents authored here, which the person may not change.
    pub mine: Vec<DocId>,
    /// Authored here and received from the person, for this person only.
    pub store: ShareStore,
}

/// The intro use cases the network code calls (over the daemon's or the command's vault).
pub struct Intros<'a> {
    pub vault: &'a Vault,
    /// Milliseconds since the epoch.
    pub now: i64,
}

impl Intros<'_> {
    /// The scoped store of one person's intro documents (both directions) for a session.
    pub fn session(&self, person: &str) -> Result<IntroSession> {
        let peer = self.vault.write(self.now, |w| peer_with_actor(w, person))?;
        let r = self.vault.read()?;
        let mut store = ShareStore::new();
        let mut mine = Vec::new();
        for (k, v) in r.share_scan(ShareTable::IntroDocs, person.as_bytes())? {
            let Some(id) = id_of_key(&k) else { continue };
            store.put(id, load(&v, "intro document")?);
            mine.push(id);
        }
        for (k, v) in r.share_scan(ShareTable::IntroReceived, person.as_bytes())? {
            let Some(id) = id_of_key(&k) else { continue };
            if let Ok(doc) = Automerge::load(&v) {
                store.put(id, doc);
            }
        }
        Ok(IntroSession {
            actor: peer.actor,
            mine,
            store,
        })
    }

    /// Pins the person's announced intro actor at the first session; a different actor later
    /// is refused. Returns the pinned actor.
    pub fn pin_actor(&self, person: &str, announced: &str) -> Result<ActorId> {
        let ok =
            announced.len() == 32 && data_encoding::HEXLOWER.decode(announced.as_bytes()).is_ok();
        if !ok {
            return Err(AppError::user(
                "the person announced a malformed intro actor",
            ));
        }
        self.vault.write(self.now, |w| {
            let mut p = peer_in(w, person)?;
            if p.their_actor.is_empty() {
                p.their_actor = announced.to_string();
                w.share_put(ShareTable::IntroPeers, person.as_bytes(), &enc(&p))?;
            } else if p.their_actor != announced {
                return Err(AppError::user(
                    "the person announced another intro actor than before; their intro documents are refused",
                ));
            }
            Ok(actor_of(&p.their_actor))
        })
    }

    /// Stores intro documents received from a person after a completed session. Each must be
    /// of the kind the person authors (`expect`), hold only changes by their pinned actor, and
    /// not be a document authored here; else nothing is stored. On the owner's side a new
    /// request's contact is resolved here (share secret and epoch) and kept locally.
    pub fn store_intro_received(
        &self,
        person: &str,
        expect: &str,
        docs: &[(DocId, Automerge)],
    ) -> Result<()> {
        // Asker side: the own contact that stands for the person (their name, resolved like
        // `kith show NAME`), on which an introduction they made is logged as `got`.
        let person_contact = if expect == ki::ANSWERS_KIND {
            let r = self.vault.read()?;
            all_persons(&r)?
                .into_iter()
                .find(|p| p.key == person)
                .and_then(|p| {
                    super::resolve_contact(&r, &p.name)
                        .ok()
                        .map(|c| (p.name, c))
                })
        } else {
            None
        };
        self.vault.write(self.now, |w| {
            let mut peer = peer_in(w, person)?;
            let actor = actor_of(&peer.their_actor);
            let had = w.share_scan(ShareTable::IntroReceived, person.as_bytes())?.len();
            let mut added = 0;
            for (id, doc) in docs {
                if w.share_get(ShareTable::IntroDocs, &key(person, id))?.is_some() {
                    return Err(AppError::user(format!(
                        "refused a change to intro document {} authored here",
                        id.short()
                    )));
                }
                if ki::kind_of(doc).as_deref() != Some(expect)
                    || !share::changes_only_by(doc, std::slice::from_ref(&actor))
                {
                    return Err(AppError::user(format!(
                        "refused intro document {}: not a {expect} by the person's intro actor",
                        id.short()
                    )));
                }
                let k = key(person, id);
                if w.share_get(ShareTable::IntroReceived, &k)?.is_none() {
                    added += 1;
                }
                if expect == ki::REQUEST_KIND {
                    if had + added > MAX_REQUESTS_PER_PERSON {
                        return Err(AppError::user(format!(
                            "refused: more than {MAX_REQUESTS_PER_PERSON} introduction requests from one person"
                        )));
                    }
                    if let Some(req) = ki::read_request(doc) {
                        check_texts(id, &req)?;
                        if let Some(c) = resolve_about(w, person, &req)? {
                            peer.about.insert(id.to_hex(), c.to_hex());
                        }
                    }
                }
                if let Some((name, contact)) = &person_contact {
                    log_made_for_me(w, person, &k, doc, name, *contact)?;
                }
                w.share_put(ShareTable::IntroReceived, &k, &doc.save())?;
            }
            w.share_put(ShareTable::IntroPeers, person.as_bytes(), &enc(&peer))?;
            Ok(())
        })
    }

    /// Records that the person tried to change a document authored here (refused).
    pub fn record_intro_write_attempt(&self, person: &str) -> Result<()> {
        let now = self.now;
        self.vault.write(now, |w| {
            let mut p = peer_in(w, person)?;
            p.write_attempts += 1;
            p.last_attempt = now;
            w.share_put(ShareTable::IntroPeers, person.as_bytes(), &enc(&p))?;
            Ok(())
        })
    }
}

/// Refuses a received request whose texts are longer than `ki::MAX_TEXT`.
pub(super) fn check_texts(id: &DocId, req: &Request) -> Result<()> {
    if req.why.len() > ki::MAX_TEXT || req.name.len() > ki::MAX_TEXT {
        return Err(AppError::user(format!(
            "refused intro request {}: a text is longer than {} bytes",
            id.short(),
            ki::MAX_TEXT
        )));
    }
    Ok(())
}

/// The fixed key of the ids of `got` interactions logged for introductions made for the
/// user (`pseudonym(GOT_KEY, 0, request id)`): one id per request, so the entry is written
/// once whichever device stores the answer first.
const GOT_KEY: &[u8; 32] = b"kith-intro-got-interaction-id\0\0\0";

/// Asker side, in the write transaction storing the person's answers document `doc` (table
/// key `k`): every request of this user that the answers mark made for the first time is
/// logged as a `got` interaction on `contact` (the own contact standing for the person), so
/// it counts in `kith ledger`.
fn log_made_for_me(
    w: &mut Writer,
    person: &str,
    k: &[u8],
    doc: &Automerge,
    name: &str,
    contact: DocId,
) -> Result<()> {
    let before = match w.share_get(ShareTable::IntroReceived, k)? {
        Some(b) => Automerge::load(&b)
            .map(|d| ki::read_answers(&d))
            .unwrap_or_default(),
        None => BTreeMap::new(),
    };
    for (rid, answer) in ki::read_answers(doc) {
        if answer.made.is_empty() || before.get(&rid).is_some_and(|a| !a.made.is_empty()) {
            continue;
        }
        let Ok(rdoc) = rid.parse::<DocId>() else {
            continue;
        };
        let Some(req) = w
            .share_get(ShareTable::IntroDocs, &key(person, &rdoc))?
            .and_then(|b| Automerge::load(&b).ok())
            .and_then(|d| ki::read_request(&d))
        else {
            continue; // not a request this user asked
        };
        let id = share::pseudonym(GOT_KEY, 0, &rdoc);
        if w.load(id)?.is_some() {
            continue;
        }
        let date = answer
            .made
            .parse::<kith_core::time::Date>()
            .map(|d| d.to_string())
            .unwrap_or(req.asked);
        log_favour(
            w,
            Some(id),
            contact,
            crate::keep::GOT,
            date,
            format!("{name} introduced you to {} ({})", req.name, clip(&req.why)),
        )?;
    }
    Ok(())
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Writes a `gave`/`got` interaction on one contact (a new document; `id` when it must be
/// one per event).
fn log_favour(
    w: &mut Writer,
    id: Option<DocId>,
    contact: DocId,
    kind: &str,
    date: String,
    summary: String,
) -> Result<()> {
    let i = model::Interaction {
        date,
        kind: kind.to_string(),
        contacts: [contact].into_iter().collect(),
        summary,
        ..Default::default()
    };
    let mut l = match id {
        Some(id) => w.create_with_id(id),
        None => w.create(),
    };
    model::write_interaction(&mut l.doc, &i, w.now()).map_err(am_err)?;
    w.save(l)?;
    Ok(())
}

/// Forgets the introductions with a person (`kith person remove`): both directions and the
/// bookkeeping, in the caller's write transaction.
pub(crate) fn drop_intros_of(w: &mut Writer, person: &str) -> Result<()> {
    w.share_delete_prefix(ShareTable::IntroDocs, person.as_bytes())?;
    w.share_delete_prefix(ShareTable::IntroReceived, person.as_bytes())?;
    w.share_delete(ShareTable::IntroPeers, person.as_bytes())?;
    Ok(())
}

/// Owner side: the own contact a request is about, when the share is one this device serves
/// to that person: the contact whose pseudonym in the request's epoch is the request's.
fn resolve_about(w: &Writer, person: &str, req: &Request) -> Result<Option<DocId>> {
    let Ok(sid) = data_encoding::HEXLOWER.decode(req.share.as_bytes()) else {
        return Ok(None);
    };
    let Some(v) = w.share_get(ShareTable::Shares, &sid)? else {
        return Ok(None);
    };
    let def: ShareDef = serde_json::from_slice(&v).map_err(|e| damaged("share", e))?;
    if def.person != person {
        return Ok(None);
    }
    let Some(secret) = data_encoding::HEXLOWER
        .decode(def.secret.as_bytes())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
    else {
        return Ok(None);
    };
    let candidates: Vec<DocId> = if req.epoch == def.epoch {
        def.last.keys().copied().collect()
    } else {
        w.contact_ids()?
    };
    Ok(candidates
        .into_iter()
        .find(|c| share::pseudonym(&secret, req.epoch, c).to_hex() == req.about))
}

fn person_name(persons: &[Person], key: &str) -> String {
    persons
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| key.chars().take(8).collect())
}

/// Every introduction, both directions, newest first.
pub(crate) fn intro_rows(r: &Reader) -> Result<Vec<IntroRow>> {
    let persons = all_persons(r)?;
    let look = r.lookup()?;
    // Answers by person: the document authored here (owner) or received (asker).
    let mut mine_answers: BTreeMap<String, BTreeMap<String, Answer>> = BTreeMap::new();
    let mut their_answers: BTreeMap<String, BTreeMap<String, Answer>> = BTreeMap::new();
    let mut asked_by_me = Vec::new();
    let mut asked_of_me = Vec::new();
    for (table, answers, requests) in [
        (ShareTable::IntroDocs, &mut mine_answers, &mut asked_by_me),
        (
            ShareTable::IntroReceived,
            &mut their_answers,
            &mut asked_of_me,
        ),
    ] {
        for (k, v) in r.share_scan(table, &[])? {
            let (Some(id), Ok(doc)) = (id_of_key(&k), Automerge::load(&v)) else {
                continue;
            };
            let person = person_of_key(&k);
            match ki::kind_of(&doc).as_deref() {
                Some(ki::ANSWERS_KIND) => {
                    answers
                        .entry(person)
                        .or_default()
                        .extend(ki::read_answers(&doc));
                }
                Some(ki::REQUEST_KIND) => {
                    if let Some(req) = ki::read_request(&doc) {
                        requests.push((person, id, req));
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for (person, id, req) in asked_by_me {
        let answer = their_answers
            .get(&person)
            .and_then(|a| a.get(&id.to_hex()))
            .cloned();
        out.push(IntroRow {
            id: id.to_hex(),
            direction: "asked-by-me",
            person: person_name(&persons, &person),
            about: req.name.clone(),
            contact: None,
            why: req.why,
            state: State::of(answer.as_ref()).as_str(),
            asked: req.asked,
            answer: answer.unwrap_or_default(),
        });
    }
    for (person, id, req) in asked_of_me {
        let peer = peer_in_reader(r, &person)?;
        let contact = peer
            .about
            .get(&id.to_hex())
            .and_then(|c| c.parse::<DocId>().ok());
        let about = match contact {
            Some(c) => look
                .contact(c)?
                .map(|s| s.name)
                .unwrap_or_else(|| req.name.clone()),
            None => format!("{} (no longer in a share)", req.name),
        };
        let answer = mine_answers
            .get(&person)
            .and_then(|a| a.get(&id.to_hex()))
            .cloned();
        out.push(IntroRow {
            id: id.to_hex(),
            direction: "asked-of-me",
            person: person_name(&persons, &person),
            about,
            contact,
            why: req.why,
            state: State::of(answer.as_ref()).as_str(),
            asked: req.asked,
            answer: answer.unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| b.asked.cmp(&a.asked).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Persons who tried to change an intro document authored here: (name, times).
pub(crate) fn intro_write_attempts(r: &Reader) -> Result<Vec<(String, u32)>> {
    let persons = all_persons(r)?;
    let mut out = Vec::new();
    for (k, v) in r.share_scan(ShareTable::IntroPeers, &[])? {
        let p: IntroPeer = serde_json::from_slice(&v).map_err(|e| damaged("intro peer", e))?;
        if p.write_attempts > 0 {
            out.push((
                person_name(&persons, &String::from_utf8_lossy(&k)),
                p.write_attempts,
            ));
        }
    }
    Ok(out)
}

/// The received contact REF names (the rule of `kith show` for received contacts: an exact
/// name, a name prefix, or a pseudonym prefix), with the share it came from.
fn resolve_received(
    sharing: &Sharing<'_>,
    reference: &str,
) -> Result<(super::share::SharedRow, Received)> {
    let q = kith_core::text::fold(reference.trim());
    let rows = sharing.shared(None)?;
    let exact: Vec<_> = rows
        .iter()
        .filter(|r| !q.is_empty() && kith_core::text::fold(&r.get("name")) == q)
        .collect();
    let hits: Vec<_> = if exact.is_empty() {
        rows.iter()
            .filter(|r| {
                !q.is_empty()
                    && (kith_core::text::fold(&r.get("name")).starts_with(&q)
                        || (q.len() >= 4 && r.id.starts_with(&q)))
            })
            .collect()
    } else {
        exact
    };
    let row = match hits.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(AppError::hint(
                format!("no contact shared with you matches '{}'", reference.trim()),
                "an introduction is asked about a contact of a received slice; `kith shared` lists them",
            ))
        }
        many => {
            return Err(AppError::hint(
                format!(
                    "'{}' matches {} shared contacts: {}",
                    reference.trim(),
                    many.len(),
                    many.iter()
                        .map(|r| format!("{} ({})", r.get("name"), &r.id[..8]))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "give more of the name, or the id shown in `kith shared --json`",
            ))
        }
    };
    let rec = sharing
        .received()?
        .into_iter()
        .find(|r| r.id.to_hex() == row.share)
        .ok_or_else(|| AppError::user("the slice of that contact is no longer received"))?;
    Ok((row, rec))
}

impl App {
    pub fn intros(&self) -> Intros<'_> {
        Intros {
            vault: &self.vault,
            now: self.now(),
        }
    }

    /// `kith intro ask REF --why TEXT`: a request document to the person who shared REF.
    pub fn intro_ask(&self, reference: &str, why: &str) -> Result<IntroRow> {
        let why = why.trim();
        if why.is_empty() {
            return Err(AppError::hint(
                "--why is empty",
                "say why you ask, e.g. --why \"we are hiring a data engineer\"",
            ));
        }
        if why.len() > ki::MAX_TEXT {
            return Err(AppError::user(format!(
                "--why is longer than {} bytes",
                ki::MAX_TEXT
            )));
        }
        let (row, rec) = resolve_received(&self.sharing(), reference)?;
        let req = Request {
            share: row.share.clone(),
            epoch: rec.epoch,
            about: row.id.clone(),
            name: row.get("name"),
            why: why.to_string(),
            asked: self.today().to_string(),
        };
        let id = DocId(rand::random());
        let person = rec.from.clone();
        // The request is by the intro actor the person pinned, which comes with the person:
        // a device that does not know them yet (never synced with the device they were
        // paired on) would make one they refuse.
        let sharing = self.sharing();
        if !sharing.persons()?.iter().any(|p| p.key == person) {
            return Err(AppError::hint(
                format!(
                    "this device does not know {} as a person yet",
                    rec.from_name
                ),
                "run `kith sync` with the device you paired with them on, then ask again",
            ));
        }
        self.vault.write(self.now(), |w| {
            let peer = peer_with_actor(w, &person)?;
            let mut doc = ki::build_request(&req, actor_of(&peer.actor)).map_err(am_err)?;
            w.share_put(ShareTable::IntroDocs, &key(&person, &id), &doc.save())?;
            Ok::<_, AppError>(())
        })?;
        let r = self.vault.read()?;
        intro_rows(&r)?
            .into_iter()
            .find(|x| x.id == id.to_hex())
            .ok_or_else(|| AppError::user("the request was not stored"))
    }

    /// `kith intro list`.
    pub fn intro_list(&self) -> Result<Vec<IntroRow>> {
        intro_rows(&self.vault.read()?)
    }

    /// Persons who tried to change intro documents authored here (for warnings).
    pub fn intro_write_attempts(&self) -> Result<Vec<(String, u32)>> {
        intro_write_attempts(&self.vault.read()?)
    }

    /// `kith intro accept|decline|made|outcome ID`: the owner's answer, checked by the state
    /// machine and written into the owner's answers document for that person. `made` also
    /// records a `gave` interaction on the contact introduced (so it counts in `kith ledger`
    /// and on the timeline), in the same write transaction.
    pub fn intro_step(&self, reference: &str, step: Step) -> Result<IntroRow> {
        let rows = self.intro_list()?;
        let q = reference.trim().to_lowercase();
        let hits: Vec<&IntroRow> = rows
            .iter()
            .filter(|r| q.len() >= 4 && r.id.starts_with(&q))
            .collect();
        let row = match hits.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(AppError::hint(
                    format!("no introduction '{}'", reference.trim()),
                    "`kith intro list` shows the ids (at least 4 hex digits)",
                ))
            }
            _ => {
                return Err(AppError::user(format!(
                    "'{}' names several introductions; give more digits",
                    reference.trim()
                )))
            }
        };
        if row.direction == "asked-by-me" {
            return Err(AppError::hint(
                format!(
                    "introduction {} is one you asked of {}; only they can answer it",
                    &row.id[..8],
                    row.person,
                ),
                "`kith intro list` shows the requests asked of you",
            ));
        }
        if let Step::Accept { note } | Step::Decline { note } = &step {
            if note.len() > ki::MAX_TEXT {
                return Err(AppError::user(format!(
                    "--note is longer than {} bytes",
                    ki::MAX_TEXT
                )));
            }
        }
        if let Step::Outcome { text } = &step {
            if text.len() > ki::MAX_TEXT {
                return Err(AppError::user(format!(
                    "the outcome is longer than {} bytes",
                    ki::MAX_TEXT
                )));
            }
        }
        // One device answers a person: the one they were paired on (it holds the answers
        // document and is the one they sync with); another writing it under the same intro
        // actor would make conflicting changes.
        let persons = self.sharing().persons()?;
        if let Some(p) = persons.iter().find(|p| p.name == row.person) {
            p.check_paired_here("answer their introductions")?;
        }
        let today = self.today();
        let rid = row.id.clone();
        self.vault.write(self.now(), |w| {
            // The request's person, by its key in `intro_received`.
            let rdoc = DocId(
                data_encoding::HEXLOWER
                    .decode(rid.as_bytes())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .unwrap_or([0; 16]),
            );
            let person = w
                .share_scan(ShareTable::IntroReceived, &[])?
                .into_iter()
                .map(|(k, _)| k)
                .find(|k| id_of_key(k) == Some(rdoc))
                .map(|k| person_of_key(&k))
                .ok_or_else(|| AppError::user("the request is gone"))?;
            let mut peer = peer_with_actor(w, &person)?;
            let actor = actor_of(&peer.actor);
            let (aid, mut doc) = match peer.answers.parse::<DocId>() {
                Ok(aid) => match w.share_get(ShareTable::IntroDocs, &key(&person, &aid))? {
                    Some(b) => (aid, AutoCommit::load(&b).map_err(am_err)?),
                    None => (aid, ki::build_answers(actor.clone()).map_err(am_err)?),
                },
                Err(_) => {
                    let aid = DocId(rand::random());
                    peer.answers = aid.to_hex();
                    w.share_put(ShareTable::IntroPeers, person.as_bytes(), &enc(&peer))?;
                    (aid, ki::build_answers(actor.clone()).map_err(am_err)?)
                }
            };
            let current = ki::read_answers(doc.document()).get(&rid).cloned();
            let next =
                ki::transition(current.as_ref(), &step, &today.to_string()).map_err(|m| {
                    AppError::hint(m, "`kith intro list` shows where each introduction stands")
                })?;
            ki::write_answer(&mut doc, &rid, &next, actor).map_err(am_err)?;
            w.share_put(ShareTable::IntroDocs, &key(&person, &aid), &doc.save())?;
            if step == Step::Made {
                if let Some(c) = row.contact {
                    if w.contact(c)?.is_some() {
                        log_favour(
                            w,
                            None,
                            c,
                            crate::keep::GAVE,
                            today.to_string(),
                            format!("Introduced to {} ({})", row.person, clip(&row.why)),
                        )?;
                    }
                }
            }
            Ok::<_, AppError>(())
        })?;
        let r = self.vault.read()?;
        intro_rows(&r)?
            .into_iter()
            .find(|x| x.id == rid)
            .ok_or_else(|| AppError::user("the introduction is gone"))
    }

    /// Introductions that wait for this user: requests asked of them not yet answered, and
    /// accepted ones not yet made (for `kith due` and `kith digest`).
    pub(crate) fn intros_pending(&self, r: &Reader) -> Result<Vec<DigestLine>> {
        let today = self.today().to_days();
        let mut out = Vec::new();
        for row in intro_rows(r)? {
            if row.direction != "asked-of-me" {
                continue;
            }
            let why = match row.state {
                "asked" => format!(
                    "{} asks for an introduction to {}: {}",
                    row.person, row.about, row.why
                ),
                "accepted" => format!(
                    "you accepted to introduce {} to {}; not made yet",
                    row.person, row.about
                ),
                _ => continue,
            };
            let day = row
                .asked
                .parse::<kith_core::time::Date>()
                .ok()
                .map(|d| d.to_days());
            out.push(DigestLine {
                id: row.id.parse().unwrap_or(DocId([0; 16])),
                contact: row.contact,
                name: row.about.clone(),
                date: day.map(kith_core::time::Date::from_days),
                days: day.map(|d| d - today),
                why,
            });
        }
        Ok(out)
    }
}
