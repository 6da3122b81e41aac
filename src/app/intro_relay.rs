//! Persons and introductions on the user's other devices (docs/design/sharing.md,
//! "Introductions on your other devices"): what one device tells an own device over the intro
//! stream of `kith/slices/1` (the persons paired on it, with their intro actors and
//! bookkeeping), and the scoped store of intro documents both devices sync there.
//!
//! Invariants:
//! - A person is relayed only first-hand, by the device they were paired on (`via`); a person
//!   paired here is never replaced by a relayed one, and a relayed one the device no longer
//!   lists is forgotten with its introductions.
//! - The intro actor of a person is the one made on the device they were paired on; other
//!   devices take it from there, so every device of the user authors requests under the one
//!   actor the person pinned. Requests are written once (a new document per request), and the
//!   answers document only on the device the person was paired on, so no two devices ever
//!   write the same document under the same actor.
//! - Two devices exchange the intro documents of a person only when they agree on both intro
//!   actors (`scope`); a received document is stored only if every change in it is by one of
//!   them (by the user's actor: `intro_docs`; by the person's: `intro_received`), it is an
//!   intro document, and it does not move between persons or tables. It is merged into what
//!   the device holds, in one write transaction, so nothing written meanwhile is lost.

use std::collections::BTreeMap;

use automerge::{ActorId, Automerge};
use kith_core::share::intro as ki;
use kith_core::share::{self, ShareStore};
use kith_core::DocId;
use serde::{Deserialize, Serialize};

use super::intro::{
    actor_of, check_texts, damaged, drop_intros_of, enc, id_of_key, key, peer_in, peer_with_actor,
    IntroPeer, Intros, MAX_REQUESTS_PER_PERSON,
};
use super::share::{dec, Person};
use super::{AppError, Result};
use crate::store::{ShareTable, Writer};

/// A person as the device they were paired on tells an own device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayPerson {
    /// The person's key (hex).
    pub key: String,
    pub name: String,
    pub addrs: Vec<String>,
    pub added: i64,
    /// The user's intro actor for the person (hex).
    pub actor: String,
    /// The person's pinned intro actor (hex; empty before the first intro session).
    pub their_actor: String,
    /// The answers document (hex id; empty before the first answer).
    pub answers: String,
    /// Owner side: request id -> the user's own contact it is about.
    pub about: Vec<([u8; 16], [u8; 16])>,
    pub write_attempts: u32,
    pub last_attempt: i64,
}

/// A person as one device knows them, for agreeing on the intro documents to exchange.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Known {
    pub key: String,
    pub actor: String,
    pub their_actor: String,
}

/// The persons whose intro documents two devices exchange: those both know with the same
/// intro actors (both sides compute the same set from the two lists).
pub fn scope(mine: &[Known], theirs: &[Known]) -> Vec<Known> {
    mine.iter()
        .filter(|k| !k.actor.is_empty() && theirs.contains(k))
        .cloned()
        .collect()
}

fn hex16(h: &str) -> Option<[u8; 16]> {
    data_encoding::HEXLOWER
        .decode(h.as_bytes())
        .ok()
        .and_then(|b| b.try_into().ok())
}

fn persons_in(w: &Writer) -> Result<Vec<Person>> {
    w.share_scan(ShareTable::Persons, &[])?
        .iter()
        .map(|(_, v)| dec(v, "person"))
        .collect()
}

fn relay_of(p: Person, peer: IntroPeer) -> RelayPerson {
    RelayPerson {
        key: p.key,
        name: p.name,
        addrs: p.addrs,
        added: p.added,
        actor: peer.actor,
        their_actor: peer.their_actor,
        answers: peer.answers,
        about: peer
            .about
            .iter()
            .filter_map(|(r, c)| Some((hex16(r)?, hex16(c)?)))
            .collect(),
        write_attempts: peer.write_attempts,
        last_attempt: peer.last_attempt,
    }
}

impl Intros<'_> {
    /// The persons paired on this device, as told to an own device (an intro actor is made for
    /// one that has none yet, so the other device asks under it).
    pub fn relay_persons(&self) -> Result<Vec<RelayPerson>> {
        // Most pulls find every actor made: no write transaction then.
        let r = self.vault.read()?;
        let paired: Vec<Person> = super::share::all_persons(&r)?
            .into_iter()
            .filter(Person::paired_here)
            .collect();
        let mut all_made = true;
        for p in &paired {
            all_made &= super::intro::peer_in_reader(&r, &p.key)?.actor.len() == 32;
        }
        drop(r);
        if paired.is_empty() {
            return Ok(Vec::new());
        }
        if all_made {
            let r = self.vault.read()?;
            return paired
                .into_iter()
                .map(|p| {
                    let peer = super::intro::peer_in_reader(&r, &p.key)?;
                    Ok(relay_of(p, peer))
                })
                .collect();
        }
        self.vault.write(self.now, |w| {
            let mut out = Vec::new();
            for p in persons_in(w)?.into_iter().filter(Person::paired_here) {
                let peer = peer_with_actor(w, &p.key)?;
                out.push(relay_of(p, peer));
            }
            Ok(out)
        })
    }

    /// Records the persons own device `device` (key, hex) was paired with, replacing what it
    /// told before: a person it no longer lists is forgotten here with their introductions. A
    /// person paired here, or relayed by another device first, is left as it is. Returns how
    /// many persons changed.
    pub fn apply_relayed_persons(&self, device: &str, list: &[RelayPerson]) -> Result<usize> {
        if list.len() > 4096 {
            return Err(AppError::user("an own device listed too many persons"));
        }
        if list.is_empty() {
            // Nothing to record unless that device relayed persons before.
            let r = self.vault.read()?;
            if !super::share::all_persons(&r)?
                .iter()
                .any(|p| p.via == device)
            {
                return Ok(0);
            }
        }
        self.vault.write(self.now, |w| {
            let known = persons_in(w)?;
            let mut changed = 0;
            for gone in known
                .iter()
                .filter(|p| p.via == device && !list.iter().any(|r| r.key == p.key))
            {
                w.share_delete(ShareTable::Persons, gone.key.as_bytes())?;
                drop_intros_of(w, &gone.key)?;
                changed += 1;
            }
            for r in list {
                let hex_of = |h: &str, n: usize| {
                    h.len() == n && data_encoding::HEXLOWER.decode(h.as_bytes()).is_ok()
                };
                let well_formed = hex_of(&r.key, 64)
                    && hex_of(&r.actor, 32)
                    && (r.their_actor.is_empty() || hex_of(&r.their_actor, 32))
                    && (r.answers.is_empty() || hex_of(&r.answers, 32))
                    && !r.name.trim().is_empty()
                    && r.name.len() <= 200;
                if !well_formed {
                    return Err(AppError::user("an own device relayed a malformed person"));
                }
                let old = known.iter().find(|p| p.key == r.key);
                if old.is_some_and(|p| p.via != device) {
                    continue; // paired here, or relayed by another device first
                }
                let clash = known
                    .iter()
                    .any(|p| p.key != r.key && p.name.eq_ignore_ascii_case(&r.name));
                let p = Person {
                    name: if clash {
                        format!("{} ({})", r.name, &r.key[..8])
                    } else {
                        r.name.clone()
                    },
                    key: r.key.clone(),
                    addrs: r
                        .addrs
                        .iter()
                        .filter(|a| a.parse::<std::net::SocketAddr>().is_ok())
                        .take(16)
                        .cloned()
                        .collect(),
                    added: r.added,
                    last_sync: old.map_or(0, |p| p.last_sync),
                    last_error: String::new(),
                    via: device.to_string(),
                    paired_on: None,
                };
                let peer = IntroPeer {
                    actor: r.actor.clone(),
                    their_actor: r.their_actor.clone(),
                    answers: r.answers.clone(),
                    about: r
                        .about
                        .iter()
                        .map(|(q, c)| (DocId(*q).to_hex(), DocId(*c).to_hex()))
                        .collect::<BTreeMap<_, _>>(),
                    write_attempts: r.write_attempts,
                    last_attempt: r.last_attempt,
                };
                let before = (old.map(enc), peer_in(w, &r.key)?);
                if before.0.as_deref() != Some(&enc(&p)[..]) || enc(&before.1) != enc(&peer) {
                    changed += 1;
                    w.share_put(ShareTable::Persons, r.key.as_bytes(), &enc(&p))?;
                    w.share_put(ShareTable::IntroPeers, r.key.as_bytes(), &enc(&peer))?;
                }
            }
            Ok(changed)
        })
    }

    /// Every person this device knows with an intro actor, for `scope`.
    pub fn known(&self) -> Result<Vec<Known>> {
        let r = self.vault.read()?;
        let mut out = Vec::new();
        for (k, v) in r.share_scan(ShareTable::IntroPeers, &[])? {
            let p: IntroPeer = serde_json::from_slice(&v).map_err(|e| damaged("intro peer", e))?;
            let key = String::from_utf8_lossy(&k).to_string();
            if !p.actor.is_empty() && r.share_get(ShareTable::Persons, &k)?.is_some() {
                out.push(Known {
                    key,
                    actor: p.actor,
                    their_actor: p.their_actor,
                });
            }
        }
        Ok(out)
    }

    /// The intro documents of the persons in `scope` (both directions; only those whose
    /// every change is by the intro actor they belong to), and every actor in scope.
    pub fn relay_store(&self, scope: &[Known]) -> Result<(ShareStore, Vec<ActorId>)> {
        let r = self.vault.read()?;
        let mut store = ShareStore::new();
        let mut actors = Vec::new();
        for k in scope {
            for (table, actor) in [
                (ShareTable::IntroDocs, &k.actor),
                (ShareTable::IntroReceived, &k.their_actor),
            ] {
                if actor.is_empty() {
                    continue;
                }
                let a = actor_of(actor);
                for (key, v) in r.share_scan(table, k.key.as_bytes())? {
                    let (Some(id), Ok(doc)) = (id_of_key(&key), Automerge::load(&v)) else {
                        continue;
                    };
                    if share::changes_only_by(&doc, std::slice::from_ref(&a)) {
                        store.put(id, doc);
                    }
                }
                actors.push(a);
            }
        }
        Ok((store, actors))
    }

    /// Stores intro documents an own device sent (after a completed session), each merged
    /// into what this device holds. Refuses all of them (stores nothing) if one is not an
    /// intro document by exactly one in-scope intro actor, or would change person or table.
    pub fn store_relayed(&self, scope: &[Known], docs: &[(DocId, Automerge)]) -> Result<usize> {
        self.vault.write(self.now, |w| {
            let mut stored = 0;
            for (id, doc) in docs {
                let kind = ki::kind_of(doc);
                let place = scope.iter().find_map(|k| {
                    [
                        (ShareTable::IntroDocs, &k.actor),
                        (ShareTable::IntroReceived, &k.their_actor),
                    ]
                    .into_iter()
                    .find(|(_, a)| {
                        !a.is_empty()
                            && share::changes_only_by(doc, std::slice::from_ref(&actor_of(a)))
                    })
                    .map(|(t, _)| (t, k.key.as_str()))
                });
                let intro_kind = matches!(kind.as_deref(), Some(ki::REQUEST_KIND | ki::ANSWERS_KIND));
                let Some((table, person)) = place.filter(|_| intro_kind) else {
                    return Err(AppError::user(format!(
                        "refused intro document {} from an own device: not an intro document by an intro actor both devices know",
                        id.short()
                    )));
                };
                check_place(w, id, table, person)?;
                if let Some(req) = ki::read_request(doc) {
                    check_texts(id, &req)?;
                }
                let k = key(person, id);
                let merged = match w.share_get(table, &k)? {
                    Some(held) => {
                        let mut held = Automerge::load(&held).map_err(|e| damaged("intro document", e))?;
                        held.merge(&mut doc.clone()).map_err(|e| damaged("intro document", e))?;
                        held
                    }
                    None => {
                        let n = w.share_scan(table, person.as_bytes())?.len();
                        if n > MAX_REQUESTS_PER_PERSON {
                            return Err(AppError::user(format!(
                                "refused: more than {MAX_REQUESTS_PER_PERSON} introduction documents with one person"
                            )));
                        }
                        doc.clone()
                    }
                };
                w.share_put(table, &k, &merged.save())?;
                stored += 1;
            }
            Ok(stored)
        })
    }
}

/// A document stays where it is: the same person and the same table on every device.
fn check_place(w: &Writer, id: &DocId, table: ShareTable, person: &str) -> Result<()> {
    for t in [ShareTable::IntroDocs, ShareTable::IntroReceived] {
        for (k, _) in w.share_scan(t, &[])? {
            if id_of_key(&k) == Some(*id) && (t != table || !k.starts_with(person.as_bytes())) {
                return Err(AppError::user(format!(
                    "refused intro document {} from an own device: it is held here under another person or direction",
                    id.short()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::share::Sharing;
    use crate::store::Vault;
    use kith_core::share::intro::Request;

    fn request(actor: &str) -> Automerge {
        let r = Request {
            share: "00".repeat(16),
            epoch: 1,
            about: "11".repeat(16),
            name: "Ada".into(),
            why: "why".into(),
            asked: "2026-01-01".into(),
        };
        ki::build_request(&r, actor_of(actor))
            .unwrap()
            .document()
            .clone()
    }

    fn relayed(key: &str, name: &str) -> RelayPerson {
        RelayPerson {
            key: key.into(),
            name: name.into(),
            addrs: vec![],
            added: 1,
            actor: "aa".repeat(16),
            their_actor: "bb".repeat(16),
            answers: String::new(),
            about: vec![([1; 16], [2; 16])],
            write_attempts: 0,
            last_attempt: 0,
        }
    }

    #[test]
    fn relayed_persons_are_first_hand_and_documents_need_an_agreed_actor() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(&dir.path().join("vault.redb")).unwrap();
        let i = Intros {
            vault: &vault,
            now: 5,
        };
        let s = Sharing {
            vault: &vault,
            now: 5,
        };
        let (dev, other) = ("d1".repeat(32), "d2".repeat(32));
        let (ann, cat) = ("a1".repeat(32), "c1".repeat(32));
        // A person paired here keeps its own record and intro actor.
        s.add_person("Cat", &cat, vec![]).unwrap();
        let cat_actor = i.known().unwrap()[0].actor.clone();
        let list = [relayed(&ann, "Ann"), relayed(&cat, "Cat")];
        assert_eq!(i.apply_relayed_persons(&dev, &list).unwrap(), 1);
        let persons = s.persons().unwrap();
        let p = |k: &str| persons.iter().find(|p| p.key == k).unwrap().clone();
        assert_eq!(
            (p(&ann).via.as_str(), p(&cat).via.as_str()),
            (dev.as_str(), "")
        );
        let known = i.known().unwrap();
        assert!(known.iter().any(|k| k.key == cat && k.actor == cat_actor));
        // A malformed entry is refused and changes nothing.
        let mut bad = relayed(&"e1".repeat(32), "Eve");
        bad.actor = "zz".repeat(16);
        assert!(i.apply_relayed_persons(&dev, &[bad]).is_err());
        assert_eq!(s.persons().unwrap().len(), 2);
        // Another device cannot take over a relayed person; the same list again changes nothing.
        assert_eq!(i.apply_relayed_persons(&other, &list[..1]).unwrap(), 0);
        assert_eq!(i.apply_relayed_persons(&dev, &list).unwrap(), 0);

        let scope = scope(&known, &known);
        // A request by Ben's (the user's) actor for Ann goes to the documents authored here,
        // one by Ann's pinned actor to those received; one by any other actor is refused and
        // nothing of the batch is stored.
        let (mine, theirs, stranger) = (DocId([1; 16]), DocId([2; 16]), DocId([3; 16]));
        let bad = [
            (mine, request(&"aa".repeat(16))),
            (stranger, request(&"cc".repeat(16))),
        ];
        let err = i.store_relayed(&scope, &bad).unwrap_err().to_string();
        assert!(
            err.contains("not an intro document by an intro actor"),
            "{err}"
        );
        let r = vault.read().unwrap();
        assert!(r
            .share_scan(ShareTable::IntroDocs, ann.as_bytes())
            .unwrap()
            .is_empty());
        drop(r);
        let good = [
            (mine, request(&"aa".repeat(16))),
            (theirs, request(&"bb".repeat(16))),
        ];
        assert_eq!(i.store_relayed(&scope, &good).unwrap(), 2);
        let r = vault.read().unwrap();
        assert!(r
            .share_get(ShareTable::IntroDocs, &key(&ann, &mine))
            .unwrap()
            .is_some());
        assert!(r
            .share_get(ShareTable::IntroReceived, &key(&ann, &theirs))
            .unwrap()
            .is_some());
        drop(r);
        // A document cannot change direction.
        let moved = [(mine, request(&"bb".repeat(16)))];
        assert!(i.store_relayed(&scope, &moved).is_err());
        // The device no longer lists Ann: she and her introductions are forgotten here.
        assert_eq!(i.apply_relayed_persons(&dev, &[]).unwrap(), 1);
        assert!(s.persons().unwrap().iter().all(|p| p.key != ann));
        let r = vault.read().unwrap();
        assert!(r
            .share_scan(ShareTable::IntroDocs, ann.as_bytes())
            .unwrap()
            .is_empty());
    }
}
