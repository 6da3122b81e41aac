//! The engine and deletion (docs/design/deletion.md): a stale peer that still holds a document
//! deleted elsewhere offers it, the session still ends, the deleted side never stores it, and
//! the stale side drops it when the tombstones arrive.

use std::collections::VecDeque;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ROOT};

use super::*;
use crate::tombstones::{self, TOMBSTONES_DOC};

/// A MemStore that applies tombstones like the redb store: deleted documents are never stored,
/// and storing the tombstone document removes every document it names.
struct Vault(MemStore);

impl Vault {
    fn apply(&mut self, peer: &PeerId, e: &Effect) {
        if let Effect::StoreChanges { doc, .. } = e {
            assert!(
                !self.is_deleted(doc).unwrap(),
                "the engine asked to store deleted {doc}"
            );
        }
        self.0.apply(peer, e).unwrap();
        if matches!(e, Effect::StoreChanges { doc, .. } if *doc == TOMBSTONES_DOC) {
            self.purge_tombstoned();
        }
    }

    fn purge_tombstoned(&mut self) {
        let gone: Vec<DocId> = self
            .0
            .doc(&TOMBSTONES_DOC)
            .map(|d| tombstones::read_tombstones(d).into_keys().collect())
            .unwrap_or_default();
        for id in gone {
            self.0.put(id, Automerge::new()); // empty heads: removed
        }
    }
}

impl SyncStore for Vault {
    fn bucket_hashes(&self) -> Result<BucketHashes, StoreError> {
        self.0.bucket_hashes()
    }
    fn doc_count(&self) -> Result<u64, StoreError> {
        self.0.doc_count()
    }
    fn bucket_leaves(&self, bucket: u8) -> Result<Vec<(DocId, Digest)>, StoreError> {
        self.0.bucket_leaves(bucket)
    }
    fn load(&self, doc: &DocId) -> Result<Option<Automerge>, StoreError> {
        self.0.load(doc)
    }
    fn sync_state(&self, peer: &PeerId, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.sync_state(peer, doc)
    }
    fn is_deleted(&self, doc: &DocId) -> Result<bool, StoreError> {
        Ok(self
            .0
            .doc(&TOMBSTONES_DOC)
            .is_some_and(|d| tombstones::is_deleted(d, doc)))
    }
}

/// Runs one clean session between `a` (initiator) and `b`; both must end `Done`.
fn session(a: &mut Vault, b: &mut Vault) -> (Summary, Summary) {
    let (pa, pb) = (PeerId([1; 32]), PeerId([2; 32]));
    let mut sa = Session::new(Role::Initiator, pb, Config::default());
    let mut sb = Session::new(Role::Responder, pa, Config::default());
    let mut to_a: VecDeque<Frame> = VecDeque::new();
    let mut to_b: VecDeque<Frame> = VecDeque::new();
    let (mut done_a, mut done_b) = (None, None);
    let route = |effects: Vec<Effect>,
                 store: &mut Vault,
                 peer: &PeerId,
                 out: &mut VecDeque<Frame>,
                 done: &mut Option<Summary>| {
        for e in effects {
            match &e {
                Effect::Send(f) => out.push_back(f.clone()),
                Effect::Done(s) => *done = Some(s.clone()),
                Effect::Fail(err) => panic!("session failed: {err}"),
                _ => store.apply(peer, &e),
            }
        }
    };
    let eff = sa.handle(&*a, 0, Event::Start);
    route(eff, a, &pb, &mut to_b, &mut done_a);
    for now in 1..100_000u64 {
        if let Some(f) = to_b.pop_front() {
            let eff = sb.handle(&*b, now, Event::Received(f));
            route(eff, b, &pa, &mut to_a, &mut done_b);
        } else if let Some(f) = to_a.pop_front() {
            let eff = sa.handle(&*a, now, Event::Received(f));
            route(eff, a, &pb, &mut to_b, &mut done_a);
        } else {
            break;
        }
    }
    (
        done_a.expect("initiator finished"),
        done_b.expect("responder finished"),
    )
}

fn copy(v: &Vault) -> Vault {
    let mut out = Vault(MemStore::new());
    for id in v.0.ids().copied().collect::<Vec<_>>() {
        out.0.put(id, v.0.doc(&id).unwrap().clone());
    }
    out
}

fn edit(v: &mut Vault, id: DocId, actor: u8, f: impl FnOnce(&mut automerge::AutoCommit)) {
    v.0.edit(id, ActorId::from([actor; 16].as_slice()), |d| {
        f(d);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_stale_peer_cannot_bring_back_a_deleted_document_and_the_session_ends() {
    let gone = DocId([7; 16]);
    let kept = DocId([9; 16]);
    let mut a = Vault(MemStore::new());
    let mut b = Vault(MemStore::new());
    for (v, actor) in [(&mut a, 1u8), (&mut b, 2u8)] {
        edit(v, kept, actor, |d| {
            d.put(&ROOT, "kind", "contact").unwrap();
        });
    }
    // b holds `gone`, with edits a never saw; a deleted it.
    edit(&mut b, gone, 2, |d| {
        d.put(&ROOT, "kind", "contact").unwrap();
        d.put(&ROOT, "name", "Grace").unwrap();
    });
    edit(&mut a, TOMBSTONES_DOC, 1, |d| {
        tombstones::add_tombstone(d, &gone, 1, "a", "").unwrap();
    });
    assert!(a.0.heads(&gone).is_none());
    for a_dials in [true, false] {
        let (mut a2, mut b2) = (copy(&a), copy(&b));
        if a_dials {
            session(&mut a2, &mut b2);
        } else {
            session(&mut b2, &mut a2);
        }
        assert!(
            a2.0.heads(&gone).is_none(),
            "not stored on the deleting side"
        );
        assert!(b2.0.heads(&gone).is_none(), "dropped on the stale side");
        assert!(b2.is_deleted(&gone).unwrap());
        assert_eq!(a2.0.root(), b2.0.root(), "both sides agree");
        // Nothing left to do: the next session is one round trip.
        let (mut a3, mut b3) = (a2, b2);
        let (s, _) = session(&mut a3, &mut b3);
        assert_eq!(s.docs_differing, 0);
    }
}
