//! Unit and property tests of projections, epochs and the scoped store.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, AutoCommit, Automerge};
use proptest::prelude::*;

use super::*;
use crate::model::{self, Labeled, Role};
use crate::sync::{Config, Effect, Event, PeerId, Role as SRole, Session};

fn id(n: u8) -> DocId {
    DocId([n; 16])
}

fn contact(name: &str) -> Contact {
    Contact {
        name: name.into(),
        ..Default::default()
    }
}

#[test]
fn projection_holds_only_allowed_fields() {
    let mut c = contact("Ada");
    c.nickname = "PRIVATE-nick".into();
    c.help = "intros to analysts".into();
    c.met = "PRIVATE-met".into();
    c.custom.insert("x".into(), "PRIVATE-custom".into());
    c.tags.insert("PRIVATE-tag".into());
    c.orgs.insert(
        "o".into(),
        Role {
            org: "Acme".into(),
            title: "CTO".into(),
            ..Default::default()
        },
    );
    c.emails.insert(
        "e".into(),
        Labeled {
            value: "ada@x.org".into(),
            label: String::new(),
        },
    );
    let p = project(&c, &Field::DEFAULT.into_iter().collect());
    assert_eq!(
        p.keys().map(String::as_str).collect::<Vec<_>>(),
        ["help", "name", "org", "title"]
    );
    let mut doc = build_projection(&p, ActorId::from([7u8; 16])).unwrap();
    let h = history_text(doc.document());
    for canary in ["PRIVATE", "ada@x.org"] {
        assert!(!h.contains(canary), "{canary} in {h}");
    }
    assert!(h.contains("Acme") && h.contains("intros to analysts"));
    assert_eq!(read_projection(doc.document()), p);
    assert!(changes_only_by(doc.document(), &[ActorId::from([7u8; 16])]));
    assert!(!changes_only_by(
        doc.document(),
        &[ActorId::from([8u8; 16])]
    ));
    // No time, no message.
    for ch in doc.document().get_changes(&[]) {
        assert_eq!(ch.timestamp(), 0);
        assert_eq!(ch.message(), None);
    }
}

#[test]
fn retraction_rules() {
    let s = |v: &str| PValue::Str(v.into());
    let set = |v: &[&str]| PValue::Set(v.iter().map(|x| x.to_string()).collect());
    let a: Projection = [("name".into(), s("A")), ("emails".into(), set(&["a", "b"]))].into();
    let changed: Projection = [
        ("name".into(), s("B")),
        ("emails".into(), set(&["a", "b", "c"])),
    ]
    .into();
    assert!(
        !retracts(&a, &changed),
        "a changed value or a widening stays"
    );
    let fewer: Projection = [("name".into(), s("A")), ("emails".into(), set(&["a"]))].into();
    assert!(retracts(&a, &fewer));
    let gone: Projection = [("emails".into(), set(&["a", "b"]))].into();
    assert!(retracts(&a, &gone));
    let old = BTreeMap::from([(id(1), a.clone()), (id(2), a.clone())]);
    let new = BTreeMap::from([(id(1), a.clone())]);
    assert!(narrows(&old, &new));
    assert!(!narrows(&new, &old));
}

#[test]
fn pseudonyms_depend_on_secret_epoch_and_contact() {
    let (s1, s2) = ([1u8; 32], [2u8; 32]);
    let p = pseudonym(&s1, 1, &id(5));
    assert_eq!(p, pseudonym(&s1, 1, &id(5)));
    assert_ne!(p, pseudonym(&s2, 1, &id(5)));
    assert_ne!(p, pseudonym(&s1, 2, &id(5)));
    assert_ne!(p, pseudonym(&s1, 1, &id(6)));
    assert_ne!(p, id(5));
}

#[test]
fn fields_parse_and_refuse_unknown_names() {
    assert_eq!(
        parse_fields("name, email,Tags").unwrap(),
        BTreeSet::from([Field::Name, Field::Emails, Field::Tags])
    );
    let e = parse_fields("name,notes").unwrap_err();
    assert!(e.contains("'notes'"), "{e}");
}

/// Runs one share session in memory: the recipient initiates, the owner responds. Returns
/// what the owner was asked to store (must be refused by the caller) and the recipient's
/// `StoreChanges` applied to its store.
fn run_session(owner: &ShareStore, recipient: &mut ShareStore) -> (usize, Vec<DocId>) {
    let mut ini = Session::new(SRole::Initiator, PeerId([1; 32]), Config::default());
    let mut res = Session::new(SRole::Responder, PeerId([2; 32]), Config::default());
    let mut to_res: Vec<Event> = Vec::new();
    let mut to_ini: Vec<Event> = vec![Event::Start];
    let mut owner_writes = 0;
    let mut received = Vec::new();
    let (mut ini_done, mut res_done) = (false, false);
    for now in 0..10_000u64 {
        if to_res.is_empty() && to_ini.is_empty() {
            if ini_done && res_done {
                break;
            }
            // A side streaming whole documents (kith/sync/2) goes on at the next tick.
            to_ini.push(Event::Tick);
            to_res.push(Event::Tick);
        }
        for ev in std::mem::take(&mut to_ini) {
            for e in ini.handle(&*recipient, now, ev) {
                match e {
                    Effect::Send(f) => to_res.push(Event::Received(f)),
                    Effect::StoreChanges { doc, bytes, .. } => {
                        let mut am = recipient.get(&doc).cloned().unwrap_or_else(Automerge::new);
                        am.load_incremental(&bytes).unwrap();
                        recipient.put(doc, am);
                        received.push(doc);
                    }
                    Effect::StoreWhole { doc, bytes, .. } => {
                        recipient.put(doc, Automerge::load(&bytes).unwrap());
                        received.push(doc);
                    }
                    Effect::Done(_) => ini_done = true,
                    Effect::Fail(e) => panic!("recipient failed: {e}"),
                    _ => {}
                }
            }
        }
        for ev in std::mem::take(&mut to_res) {
            for e in res.handle(owner, now, ev) {
                match e {
                    Effect::Send(f) => to_ini.push(Event::Received(f)),
                    Effect::StoreChanges { .. } | Effect::StoreWhole { .. } => owner_writes += 1,
                    Effect::Done(_) => res_done = true,
                    Effect::Fail(e) => panic!("owner failed: {e}"),
                    _ => {}
                }
            }
        }
    }
    assert!(ini_done && res_done, "session did not finish");
    (owner_writes, received)
}

#[test]
fn the_engine_syncs_a_scoped_store_and_an_unchanged_reconnect_is_one_round_trip() {
    let actor = ActorId::from([9u8; 16]);
    let mut owner = ShareStore::new();
    for n in 0..20u8 {
        let p = project(
            &contact(&format!("C{n}")),
            &Field::DEFAULT.into_iter().collect(),
        );
        let mut d = build_projection(&p, actor.clone()).unwrap();
        owner.put(pseudonym(&[3; 32], 1, &id(n)), d.document().clone());
    }
    let mut recipient = ShareStore::new();
    let (w, got) = run_session(&owner, &mut recipient);
    assert_eq!((w, got.len()), (0, 20));
    assert_eq!(recipient.len(), 20);
    use crate::sync::SyncStore;
    assert_eq!(
        recipient.bucket_hashes().unwrap(),
        owner.bucket_hashes().unwrap()
    );
    let (w, got) = run_session(&owner, &mut recipient);
    assert_eq!((w, got.len()), (0, 0));
}

#[test]
fn a_store_of_saved_documents_loads_none_until_asked_and_syncs_the_same() {
    use crate::sync::SyncStore;
    let actor = ActorId::from([9u8; 16]);
    let (mut loaded, mut saved) = (ShareStore::new(), ShareStore::new());
    for n in 0..20u8 {
        let p = project(
            &contact(&format!("C{n}")),
            &Field::DEFAULT.into_iter().collect(),
        );
        let mut d = build_projection(&p, actor.clone()).unwrap();
        let pid = pseudonym(&[3; 32], 1, &id(n));
        let leaf = crate::sync::leaf_digest(&pid, &d.get_heads());
        saved.put_saved(pid, d.save(), leaf);
        loaded.put(pid, d.document().clone());
        assert_eq!(saved.leaf(&pid), loaded.leaf(&pid));
    }
    assert_eq!(
        saved.bucket_hashes().unwrap(),
        loaded.bucket_hashes().unwrap()
    );
    // Whole documents go out as the saved bytes.
    let first = *saved.ids().next().unwrap();
    let bytes = saved.load_bytes(&first).unwrap().unwrap();
    assert_eq!(
        Automerge::load(&bytes).unwrap().get_heads(),
        loaded.get(&first).unwrap().get_heads()
    );
    let mut recipient = ShareStore::new();
    let (w, got) = run_session(&saved, &mut recipient);
    assert_eq!((w, got.len()), (0, 20));
    let (w, got) = run_session(&saved, &mut recipient);
    assert_eq!((w, got.len()), (0, 0));
    // The heads read from a saved document's header are its heads, for one change and for
    // several; anything but one document chunk is not read.
    {
        let mut am = automerge::AutoCommit::load(&loaded.get(&first).unwrap().save()).unwrap();
        assert_eq!(crate::share::saved_heads(&am.save()), Some(am.get_heads()));
        use automerge::transaction::Transactable;
        let mut other = am.fork().with_actor(ActorId::from([8u8; 16]));
        am.put(automerge::ROOT, "name", "Changed").unwrap();
        am.commit();
        other.put(automerge::ROOT, "org", "Concurrent").unwrap();
        other.commit();
        am.merge(&mut other).unwrap();
        assert_eq!(am.get_heads().len(), 2);
        let saved = am.save();
        assert_eq!(crate::share::saved_heads(&saved), Some(am.get_heads()));
        let mut trailing = saved.clone();
        trailing.extend_from_slice(&am.save_incremental());
        trailing.push(0);
        assert_eq!(crate::share::saved_heads(&trailing), None);
        assert_eq!(crate::share::saved_heads(&saved[..saved.len() - 1]), None);
        assert_eq!(crate::share::saved_heads(b"not automerge"), None);
    }
    // Bytes that do not load are an error of the store, not a panic.
    saved.put_saved(id(200), b"not automerge".to_vec(), [7; 16]);
    assert!(saved.get(&id(200)).is_none());
    assert!(saved.load(&id(200)).is_err());
}

#[test]
fn a_scoped_store_answers_for_its_share_alone() {
    use crate::sync::SyncStore;
    let actor = ActorId::from([9u8; 16]);
    let doc = |name: &str| {
        let p = project(&contact(name), &Field::DEFAULT.into_iter().collect());
        build_projection(&p, actor.clone())
            .unwrap()
            .document()
            .clone()
    };
    let (inside, outside) = (id(1), id(2));
    let mut share = ShareStore::new();
    share.put(inside, doc("In"));
    let mut whole = ShareStore::new();
    whole.put(inside, doc("In"));
    whole.put(outside, doc("Out"));
    // Counts, hashes and leaves cover the share only; an id outside reads as unknown.
    assert_eq!(share.doc_count().unwrap(), 1);
    assert_ne!(
        share.bucket_hashes().unwrap(),
        whole.bucket_hashes().unwrap()
    );
    assert!(share.load(&outside).unwrap().is_none());
    assert_eq!(
        share.load(&outside).unwrap().is_none(),
        share.load(&id(3)).unwrap().is_none()
    );
    assert!(share.bucket_leaves(2).unwrap().is_empty());
    assert_eq!(share.bucket_leaves(1).unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Property: over random edits on two owner devices, merges, narrowing, widening and
// revocation, the recipient's decoded history never holds a value outside what its epoch
// allowed, nor a private value, nor a change by another actor than the epoch's.

#[derive(Clone, Debug)]
enum Op {
    /// Device d sets a shared field of contact c to a fresh value.
    Edit { dev: bool, c: u8, field: u8 },
    /// Device d writes a private value into contact c.
    Private { dev: bool, c: u8 },
    /// Device d tags / untags contact c with the share's tag.
    Tag { dev: bool, c: u8, on: bool },
    /// Device d removes an email of contact c.
    DropEmail { dev: bool, c: u8 },
    /// The two owner devices merge.
    Merge,
    /// The spec's fields change.
    Fields(u8),
    /// The serving device derives and the recipient syncs.
    Sync,
    /// Revoke (and later re-share as a new epoch).
    Revoke,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 0..4u8, 0..4u8).prop_map(|(dev, c, field)| Op::Edit { dev, c, field }),
        (any::<bool>(), 0..4u8).prop_map(|(dev, c)| Op::Private { dev, c }),
        (any::<bool>(), 0..4u8, any::<bool>()).prop_map(|(dev, c, on)| Op::Tag { dev, c, on }),
        (any::<bool>(), 0..4u8).prop_map(|(dev, c)| Op::DropEmail { dev, c }),
        Just(Op::Merge),
        (1..16u8).prop_map(Op::Fields),
        Just(Op::Sync),
        Just(Op::Sync),
        Just(Op::Revoke),
    ]
}

struct Owner {
    devs: [Vec<AutoCommit>; 2],
    fields: BTreeSet<Field>,
    epoch: u32,
    actor: ActorId,
    last: BTreeMap<DocId, Projection>,
    docs: BTreeMap<DocId, AutoCommit>,
    /// The values the recipient may hold after the last derivation.
    allowed: BTreeSet<String>,
    /// Scalars overwritten within this epoch.
    overwritten: BTreeSet<String>,
    revoked: bool,
}

const TAG: &str = "shared";

fn fields_of(mask: u8) -> BTreeSet<Field> {
    let all = [Field::Name, Field::Org, Field::Emails, Field::Help];
    let mut f: BTreeSet<Field> = (0..4)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| all[i])
        .collect();
    f.insert(Field::Name);
    f
}

impl Owner {
    fn derive(&mut self) {
        let spec = Spec {
            filter: Filter::Tags(BTreeSet::from([TAG.to_string()])),
            fields: self.fields.clone(),
        };
        let secret = [4u8; 32];
        let mut by_contact = BTreeMap::new();
        for (n, doc) in self.devs[0].iter().enumerate() {
            let c = model::read_contact(doc);
            let cid = id(n as u8);
            if spec.selects(&cid, &c, &BTreeSet::new()) {
                by_contact.insert(cid, project(&c, &spec.fields));
            }
        }
        if narrows(&self.last, &by_contact) {
            self.new_epoch();
        }
        // What the recipient may hold: the current values, and scalars overwritten within the
        // epoch (they were in the slice). A retracted value (a removed set element or field, a
        // contact that left) must not be there.
        for (cid, old) in &self.last {
            for (k, v) in old {
                if let (PValue::Str(o), Some(PValue::Str(n))) =
                    (v, by_contact.get(cid).and_then(|p| p.get(k)))
                {
                    if o != n {
                        self.overwritten.insert(o.clone());
                    }
                }
            }
        }
        self.allowed = self.overwritten.clone();
        for (cid, p) in &by_contact {
            let pid = pseudonym(&secret, self.epoch, cid);
            for v in p.values() {
                match v {
                    PValue::Str(s) => {
                        self.allowed.insert(s.clone());
                    }
                    PValue::Set(set) => self.allowed.extend(set.iter().cloned()),
                }
            }
            match self.docs.get_mut(&pid) {
                Some(d) => {
                    refresh_projection(d, p, self.actor.clone()).unwrap();
                }
                None => {
                    self.docs
                        .insert(pid, build_projection(p, self.actor.clone()).unwrap());
                }
            }
        }
        self.last = by_contact;
    }

    fn new_epoch(&mut self) {
        self.epoch += 1;
        self.actor = ActorId::from([self.epoch as u8; 16]);
        self.docs.clear();
        self.last.clear();
        self.allowed.clear();
        self.overwritten.clear();
    }
}

fn check_recipient(
    got: &ShareStore,
    owner: &Owner,
    private: &BTreeSet<String>,
) -> Result<(), TestCaseError> {
    for pid in got.ids() {
        let doc = got.get(pid).unwrap();
        prop_assert!(changes_only_by(doc, std::slice::from_ref(&owner.actor)));
        let h = history_text(doc);
        for p in private {
            prop_assert!(
                !h.contains(p.as_str()),
                "private {} reached the recipient",
                p
            );
        }
        // Every value token in the history was projected in this epoch.
        for tok in h.split(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-') {
            if tok.starts_with("val-") {
                prop_assert!(
                    owner.allowed.contains(tok),
                    "{} is not allowed in epoch {} (retracted or never projected)",
                    tok,
                    owner.epoch
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn recipient_history_holds_only_what_its_epoch_allowed(ops in proptest::collection::vec(op(), 1..40)) {
        let base: Vec<AutoCommit> = (0..4)
            .map(|n| {
                let mut d = AutoCommit::new().with_actor(ActorId::from([100 + n as u8; 16]));
                let mut c = contact(&format!("val-name{n}"));
                c.tags.insert(TAG.into());
                model::write_contact(&mut d, &c, 1).unwrap();
                d.commit();
                d
            })
            .collect();
        let dev2: Vec<AutoCommit> = base
            .iter()
            .map(|d| d.clone().with_actor(ActorId::from([200u8; 16])))
            .collect();
        let mut owner = Owner {
            devs: [base, dev2],
            fields: Field::DEFAULT.into_iter().collect(),
            epoch: 1,
            actor: ActorId::from([1u8; 16]),
            last: BTreeMap::new(),
            docs: BTreeMap::new(),
            allowed: BTreeSet::new(),
            overwritten: BTreeSet::new(),
            revoked: false,
        };
        let mut private = BTreeSet::new();
        let mut recipient = ShareStore::new();
        let mut recipient_epoch = 0;
        let mut n = 0u32;
        for op in ops {
            n += 1;
            match op {
                Op::Edit { dev, c, field } => {
                    let d = &mut owner.devs[dev as usize][c as usize];
                    let mut ct = model::read_contact(d);
                    let v = format!("val-{n}");
                    match field {
                        0 => ct.name = v,
                        1 => { ct.orgs.insert("o".into(), Role { org: v, ..Default::default() }); }
                        2 => ct.help = v,
                        _ => { ct.emails.insert(format!("e{n}"), Labeled { value: v, label: String::new() }); }
                    }
                    model::write_contact(d, &ct, n as i64).unwrap();
                    d.commit();
                }
                Op::Private { dev, c } => {
                    let d = &mut owner.devs[dev as usize][c as usize];
                    let mut ct = model::read_contact(d);
                    let v = format!("secret-{n}");
                    ct.nickname = v.clone();
                    ct.custom.insert("k".into(), v.clone());
                    ct.met = v.clone();
                    private.insert(v);
                    model::write_contact(d, &ct, n as i64).unwrap();
                    d.commit();
                }
                Op::Tag { dev, c, on } => {
                    let d = &mut owner.devs[dev as usize][c as usize];
                    let mut ct = model::read_contact(d);
                    if on { ct.tags.insert(TAG.into()); } else { ct.tags.remove(TAG); }
                    model::write_contact(d, &ct, n as i64).unwrap();
                    d.commit();
                }
                Op::DropEmail { dev, c } => {
                    let d = &mut owner.devs[dev as usize][c as usize];
                    let mut ct = model::read_contact(d);
                    let first = ct.emails.keys().next().cloned();
                    if let Some(k) = first { ct.emails.remove(&k); }
                    model::write_contact(d, &ct, n as i64).unwrap();
                    d.commit();
                }
                Op::Merge => {
                    let [a, b] = &mut owner.devs;
                    for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                        x.merge(y).unwrap();
                        y.merge(x).unwrap();
                    }
                }
                Op::Fields(mask) => owner.fields = fields_of(mask),
                Op::Revoke => {
                    owner.revoked = true;
                    owner.new_epoch();
                }
                Op::Sync => {
                    owner.revoked = false;
                    owner.derive();
                    if recipient_epoch != owner.epoch {
                        recipient = ShareStore::new();
                        recipient_epoch = owner.epoch;
                    }
                    let mut store = ShareStore::new();
                    for (pid, d) in &mut owner.docs {
                        store.put(*pid, d.document().clone());
                    }
                    let (writes, _) = run_session(&store, &mut recipient);
                    prop_assert_eq!(writes, 0);
                    // The recipient sees exactly the current projections.
                    let seen: BTreeMap<DocId, Projection> =
                        recipient.ids().map(|p| (*p, read_projection(recipient.get(p).unwrap()))).collect();
                    let want: BTreeMap<DocId, Projection> =
                        owner.docs.iter().map(|(p, d)| (*p, read_projection(d))).collect();
                    prop_assert_eq!(seen, want);
                    check_recipient(&recipient, &owner, &private)?;
                }
            }
        }
    }
}
