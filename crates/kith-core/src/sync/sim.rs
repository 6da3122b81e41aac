//! Deterministic simulator of several peers syncing over a faulty network, and session tests.
//!
//! Invariant checked: whatever the faults (partitions, cut connections, dropped, duplicated and
//! reordered frames), running clean sessions until quiet leaves every replica with identical
//! heads and content for every document, and a clean session that ends `Done` on both sides
//! leaves both stores with the same root hash. Contacts are edited through the model (first
//! entries of multi-valued fields added concurrently, on documents created by this version or
//! as an older version left them, entries removed, the format 3 repair, edits landing in the
//! middle of a session): every replica renders identical `Contact` values and conflicts, and
//! every entry added and never removed is there. Contacts are also purged (a tombstone on one
//! peer: once quiet no peer holds them) and the membership document is edited (devices added,
//! renamed, removed: every peer ends with identical membership).

use std::collections::{BTreeSet, VecDeque};

use automerge::{ActorId, ReadDoc, ROOT};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use super::*;
use crate::devices::{self, DEVICES_DOC};
use crate::model::{self, Contact, Kind, Labeled, Role as OrgRole};
use crate::tombstones::{self, TOMBSTONES_DOC};

/// splitmix64: the simulator's only source of "randomness", seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pct(&mut self, p: u8) -> bool {
        (self.next() % 100) < u64::from(p)
    }
}

#[derive(Clone, Debug, Default)]
struct Faults {
    drop: u8,
    dup: u8,
    reorder: u8,
    /// Deliver only this many frames, then the connection is cut.
    cut_after: Option<u16>,
}

impl Faults {
    fn is_clean(&self) -> bool {
        self.drop == 0 && self.dup == 0 && self.reorder == 0 && self.cut_after.is_none()
    }
}

fn pid(i: usize) -> PeerId {
    PeerId([i as u8 + 1; 32])
}

fn pair_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b);
    if a < b {
        let (l, r) = v.split_at_mut(b);
        (&mut l[a], &mut r[0])
    } else {
        let (l, r) = v.split_at_mut(a);
        (&mut r[0], &mut l[b])
    }
}

struct Side {
    session: Session,
    decoder: FrameDecoder,
    result: Option<Result<Summary, SyncError>>,
}

impl Side {
    fn new(role: Role, peer: PeerId, cfg: &Config) -> Self {
        Side {
            session: Session::new(role, peer, cfg.clone()),
            decoder: FrameDecoder::new(),
            result: None,
        }
    }

    fn step(&mut self, store: &mut MemStore, now: u64, event: Event, out: &mut Net) {
        let peer = *self.session.peer();
        let mut effects: VecDeque<Effect> = self.session.handle(store, now, event).into();
        while let Some(effect) = effects.pop_front() {
            if let Effect::StoreWhole { doc, bytes, leaf } = &effect {
                // A driver verifies whole documents; a refusal goes back to the engine at once.
                if let Err(reason) = store.store_whole(doc, bytes, leaf) {
                    let more =
                        self.session
                            .handle(store, now, Event::Rejected { doc: *doc, reason });
                    for (i, e) in more.into_iter().enumerate() {
                        effects.insert(i, e);
                    }
                }
                continue;
            }
            store
                .apply(&peer, &effect)
                .expect("store accepts the engine's writes");
            match effect {
                Effect::Send(f) => {
                    if std::env::var("SIM_TRACE").is_ok() {
                        let d = match &f {
                            Frame::Sync { doc, message } => format!(
                                "{} {:?}",
                                doc.short(),
                                automerge::sync::Message::decode(message).map(|m| (
                                    m.heads.len(),
                                    m.need.len(),
                                    m.have.len(),
                                    m.changes.len()
                                ))
                            ),
                            _ => String::new(),
                        };
                        eprintln!(
                            "{:?} now={now} sends {:?} {}B {d}",
                            self.session.role(),
                            f.frame_type(),
                            f.encoded_len()
                        );
                    }
                    out.push_back((now + LATENCY_MS, f.encode()))
                }
                Effect::Done(s) => self.result = Some(Ok(s)),
                Effect::Fail(e) => self.result = Some(Err(e)),
                Effect::StoreChanges { .. }
                | Effect::StoreWhole { .. }
                | Effect::SaveSyncState { .. }
                | Effect::Quarantine { .. } => {}
            }
        }
    }

    /// Like a driver: while the session has whole documents to send (or to confirm), ask for
    /// more at once.
    fn pump(&mut self, store: &mut MemStore, now: u64, out: &mut Net) {
        while self.session.wants_to_send() {
            self.step(store, now, Event::Tick, out);
        }
    }

    /// Feeds raw bytes through the decoder into the session.
    fn receive(&mut self, store: &mut MemStore, now: u64, bytes: &[u8], out: &mut Net) {
        self.decoder.push(bytes);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(f)) => self.step(store, now, Event::Received(f), out),
                Ok(None) => break,
                Err(e) => {
                    self.step(store, now, Event::DecodeError(e), out);
                    break;
                }
            }
        }
        self.pump(store, now, out);
    }
}

/// Frames in flight one way: (arrival time, bytes).
type Net = VecDeque<(u64, Vec<u8>)>;

/// One-way network latency: frames sent together arrive together, as on a real link.
const LATENCY_MS: u64 = 10;

/// More deliveries than any session here needs: reaching it means a livelock.
const MAX_STEPS: usize = 50_000;

type Outcome = (Result<Summary, SyncError>, Result<Summary, SyncError>);

/// Runs one session: `a` initiates to `b`. Returns each side's result.
fn run_session(
    stores: &mut [MemStore],
    a: usize,
    b: usize,
    faults: &Faults,
    cfg: &Config,
    rng: &mut Rng,
) -> Outcome {
    run_session_with_edit(stores, a, b, faults, cfg, rng, &mut None)
}

/// A local edit that lands in the middle of a session: after `after` deliveries, entry `n` is
/// added to `field` of contact `doc` on the initiator (`on_a`) or the responder. Taken (set to
/// None) when it happened.
#[derive(Clone, Debug)]
struct MidEdit {
    after: u32,
    on_a: bool,
    doc: u8,
    field: u8,
    n: u32,
}

fn run_session_with_edit(
    stores: &mut [MemStore],
    a: usize,
    b: usize,
    faults: &Faults,
    cfg: &Config,
    rng: &mut Rng,
    mid: &mut Option<MidEdit>,
) -> Outcome {
    let (sa, sb) = pair_mut(stores, a, b);
    let mut ia = Side::new(Role::Initiator, pid(b), cfg);
    let mut ib = Side::new(Role::Responder, pid(a), cfg);
    let mut to_b = VecDeque::new();
    let mut to_a = VecDeque::new();
    let mut now = 0u64;
    ib.step(sb, now, Event::Start, &mut to_a);
    ia.step(sa, now, Event::Start, &mut to_b);
    let mut delivered = 0u32;
    for _ in 0..MAX_STEPS {
        if let Some(m) = mid.take_if(|m| delivered >= m.after) {
            let (store, peer) = if m.on_a { (&mut *sa, a) } else { (&mut *sb, b) };
            contact_edit(store, peer, m.doc, false, |c| add_entry(c, m.field, m.n))
                .expect("a local edit during a session");
            store.edited_during_session = true;
        }
        let cut = faults.cut_after.is_some_and(|n| delivered >= u32::from(n));
        if cut {
            to_a.clear();
            to_b.clear();
        }
        let toward_b = match (to_b.front(), to_a.front()) {
            (None, None) => {
                if ia.result.is_some() && ib.result.is_some() {
                    break;
                }
                // Quiet but unfinished: let the idle timeout fire.
                now += cfg.idle_timeout_ms;
                ia.step(sa, now, Event::Tick, &mut to_b);
                ib.step(sb, now, Event::Tick, &mut to_a);
                continue;
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(x), Some(y)) => x.0 < y.0 || (x.0 == y.0 && rng.pct(50)),
        };
        let queue = if toward_b { &mut to_b } else { &mut to_a };
        let idx = if rng.pct(faults.reorder) {
            rng.below(queue.len())
        } else {
            0
        };
        let Some((at, bytes)) = queue.remove(idx) else {
            continue;
        };
        now = now.max(at);
        delivered += 1;
        if rng.pct(faults.drop) {
            continue;
        }
        if rng.pct(faults.dup) {
            queue.push_front((at, bytes.clone()));
        }
        let split = rng.below(bytes.len() + 1);
        for part in [&bytes[..split], &bytes[split..]] {
            if toward_b {
                ib.receive(sb, now, part, &mut to_a);
            } else {
                ia.receive(sa, now, part, &mut to_b);
            }
        }
    }
    sa.edited_during_session = false;
    sb.edited_during_session = false;
    (
        ia.result.expect("initiator finished"),
        ib.result.expect("responder finished"),
    )
}

fn content(doc: &automerge::Automerge) -> Vec<(String, String)> {
    doc.keys(ROOT)
        .map(|k| {
            let v = doc
                .get(ROOT, &k)
                .ok()
                .flatten()
                .map(|(v, _)| format!("{v:?}"));
            (k, format!("{v:?}"))
        })
        .collect()
}

fn sim_doc_id(n: u8) -> DocId {
    let mut b = [0u8; 16];
    b[0] = n.wrapping_mul(37);
    b[1] = n;
    b[15] = 1;
    DocId(b)
}

fn sim_contact_id(n: u8) -> DocId {
    sim_doc_id(100 + n)
}

fn actor(peer: usize) -> ActorId {
    ActorId::from(vec![peer as u8 + 1; 16])
}

/// The multi-valued contact fields the simulator adds entries to.
const FIELDS: [&str; 6] = ["phones", "emails", "orgs", "tags", "kinds", "custom"];

/// Adds entry number `n` (a fresh entry id or element) to a field of `c`.
fn add_entry(c: &mut Contact, field: u8, n: u32) {
    let k = format!("e{n}");
    let labeled = |value: String| Labeled {
        value,
        label: String::new(),
    };
    match FIELDS[usize::from(field) % FIELDS.len()] {
        "phones" => drop(c.phones.insert(k, labeled(format!("+{n}")))),
        "emails" => drop(c.emails.insert(k, labeled(format!("p{n}@x.org")))),
        "orgs" => drop(c.orgs.insert(
            k,
            OrgRole {
                org: format!("Org {n}"),
                ..Default::default()
            },
        )),
        "tags" => drop(c.tags.insert(k)),
        "kinds" => drop(c.kinds.insert(k)),
        _ => drop(c.custom.insert(k, format!("v{n}"))),
    }
}

/// Every (field, entry) of a contact's multi-valued fields.
fn entries(c: &Contact) -> BTreeSet<(u8, String)> {
    let mut out = BTreeSet::new();
    let keys: [Vec<String>; 6] = [
        c.phones.keys().cloned().collect(),
        c.emails.keys().cloned().collect(),
        c.orgs.keys().cloned().collect(),
        c.tags.iter().cloned().collect(),
        c.kinds.iter().cloned().collect(),
        c.custom.keys().cloned().collect(),
    ];
    for (f, ks) in keys.into_iter().enumerate() {
        for k in ks {
            out.insert((f as u8, k));
        }
    }
    out
}

/// Removes one entry (the `which`-th present) from a field of `c`; returns it.
fn remove_entry(c: &mut Contact, field: u8, which: u8) -> Option<(u8, String)> {
    let f = field % FIELDS.len() as u8;
    let present: Vec<String> = entries(c)
        .into_iter()
        .filter(|(g, _)| *g == f)
        .map(|(_, k)| k)
        .collect();
    if present.is_empty() {
        return None;
    }
    let k = present[usize::from(which) % present.len()].clone();
    c.phones.remove(&k);
    c.emails.remove(&k);
    c.orgs.remove(&k);
    c.tags.remove(&k);
    c.kinds.remove(&k);
    c.custom.remove(&k);
    Some((f, k))
}

/// Edits contact `doc` on one peer through the model, like `kith set` would. A missing contact
/// is created first: by this version (every nested map created with it) or, when `legacy`, as
/// an older kith left it (no nested map until its first entry).
fn contact_edit(
    store: &mut MemStore,
    peer: usize,
    doc: u8,
    legacy: bool,
    f: impl FnOnce(&mut Contact),
) -> Result<(), StoreError> {
    let id = sim_contact_id(doc);
    let exists = store.doc(&id).is_some();
    store.edit(id, actor(peer), |d| {
        if !exists {
            let base = Contact {
                name: format!("Contact {doc}"),
                ..Default::default()
            };
            model::write_contact(d, &base, 1)?;
            if legacy {
                for key in model::nested_maps(Kind::Contact) {
                    automerge::transaction::Transactable::delete(d, ROOT, *key)?;
                }
            }
        }
        let mut c = model::read_contact(d);
        f(&mut c);
        model::write_contact(d, &c, 2).map(|_| ())
    })
}

#[derive(Clone, Debug)]
enum Op {
    /// Adds a new entry to a contact's field (creating the contact, maybe as an older kith).
    AddEntry {
        peer: usize,
        doc: u8,
        field: u8,
        legacy: bool,
    },
    /// Removes an entry the peer sees from a contact's field.
    RemoveEntry {
        peer: usize,
        doc: u8,
        field: u8,
        which: u8,
    },
    /// The format 3 repair (`model::merge_competing_maps`) on one peer.
    Repair {
        peer: usize,
        doc: u8,
    },
    Edit {
        peer: usize,
        doc: u8,
        key: u8,
        value: i64,
    },
    Sync {
        a: usize,
        b: usize,
        faults: Faults,
        /// A contact edit landing after this many deliveries: (after, on a, doc, field).
        mid: Option<(u16, bool, u8, u8)>,
    },
    /// Deletes a contact for good (`kith rm --purge`): a tombstone on one peer.
    Purge {
        peer: usize,
        doc: u8,
    },
    /// Changes the membership document on one peer: records device `device` if absent, then
    /// renames it (to `name`) or removes it.
    Member {
        peer: usize,
        device: u8,
        name: u8,
        remove: bool,
    },
    /// Peers whose bit is set can only reach each other, the rest only each other.
    Partition(u8),
    Heal,
}

fn faults_strategy() -> impl Strategy<Value = Faults> {
    prop_oneof![
        2 => Just(Faults::default()),
        3 => (0u8..25, 0u8..25, 0u8..40, proptest::option::of(0u16..30)).prop_map(
            |(drop, dup, reorder, cut_after)| Faults { drop, dup, reorder, cut_after }
        ),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0usize..5, 0u8..6, 0u8..4, any::<i64>())
            .prop_map(|(peer, doc, key, value)| Op::Edit { peer, doc, key, value }),
        4 => (
            0usize..5,
            0usize..5,
            faults_strategy(),
            proptest::option::weighted(0.3, (0u16..12, any::<bool>(), 0u8..3, 0u8..6)),
        )
            .prop_map(|(a, b, faults, mid)| Op::Sync { a, b, faults, mid }),
        4 => (0usize..5, 0u8..3, 0u8..6, proptest::bool::weighted(0.5))
            .prop_map(|(peer, doc, field, legacy)| Op::AddEntry { peer, doc, field, legacy }),
        2 => (0usize..5, 0u8..3, 0u8..6, any::<u8>())
            .prop_map(|(peer, doc, field, which)| Op::RemoveEntry { peer, doc, field, which }),
        1 => (0usize..5, 0u8..3).prop_map(|(peer, doc)| Op::Repair { peer, doc }),
        1 => (0usize..5, 0u8..3).prop_map(|(peer, doc)| Op::Purge { peer, doc }),
        2 => (0usize..5, 0u8..4, 0u8..4, proptest::bool::weighted(0.3))
            .prop_map(|(peer, device, name, remove)| Op::Member { peer, device, name, remove }),
        1 => any::<u8>().prop_map(Op::Partition),
        1 => Just(Op::Heal),
    ]
}

fn run_sim(peers: usize, ops: &[Op], seed: u64, window: usize) -> Result<(), TestCaseError> {
    let cfg = Config {
        idle_timeout_ms: 1_000,
        max_active_docs: window,
        ..Config::default()
    };
    let mut rng = Rng(seed);
    let mut stores: Vec<MemStore> = (0..peers).map(|_| MemStore::new()).collect();
    let mut partition: Option<u8> = None;
    // Contact entries added and removed (doc, field, entry), for the no-loss check.
    let mut added: BTreeSet<(u8, u8, String)> = BTreeSet::new();
    let mut removed: BTreeSet<(u8, u8, String)> = BTreeSet::new();
    let mut repaired = false;
    let mut purged: BTreeSet<u8> = BTreeSet::new();
    let mut next_entry = 0u32;
    for op in ops {
        match op {
            Op::AddEntry {
                peer,
                doc,
                field,
                legacy,
            } => {
                let p = peer % peers;
                next_entry += 1;
                let n = next_entry;
                contact_edit(&mut stores[p], p, *doc, *legacy, |c| {
                    add_entry(c, *field, n)
                })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                added.insert((*doc, field % FIELDS.len() as u8, format!("e{n}")));
            }
            Op::RemoveEntry {
                peer,
                doc,
                field,
                which,
            } => {
                let p = peer % peers;
                if stores[p].doc(&sim_contact_id(*doc)).is_none() {
                    continue;
                }
                let mut gone = None;
                contact_edit(&mut stores[p], p, *doc, false, |c| {
                    gone = remove_entry(c, *field, *which)
                })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                if let Some((f, k)) = gone {
                    removed.insert((*doc, f, k));
                }
            }
            Op::Repair { peer, doc } => {
                let p = peer % peers;
                let id = sim_contact_id(*doc);
                if stores[p].doc(&id).is_none() {
                    continue;
                }
                repaired = true;
                stores[p]
                    .edit(id, actor(p), |d| model::merge_competing_maps(d).map(|_| ()))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            Op::Edit {
                peer,
                doc,
                key,
                value,
            } => {
                let p = peer % peers;
                stores[p]
                    .edit(
                        sim_doc_id(*doc),
                        ActorId::from(vec![p as u8 + 1; 16]),
                        |d| {
                            automerge::transaction::Transactable::put(
                                d,
                                ROOT,
                                format!("k{key}"),
                                *value,
                            )
                        },
                    )
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            Op::Sync { a, b, faults, mid } => {
                let (a, b) = (a % peers, b % peers);
                if a == b {
                    continue;
                }
                let split = partition.is_some_and(|m| ((m >> a) & 1) != ((m >> b) & 1));
                let faults = if split {
                    Faults {
                        drop: 100,
                        ..Faults::default()
                    }
                } else {
                    faults.clone()
                };
                let mut edit = mid.map(|(after, on_a, doc, field)| {
                    next_entry += 1;
                    MidEdit {
                        after: u32::from(after),
                        on_a,
                        doc,
                        field,
                        n: next_entry,
                    }
                });
                let planned = edit.clone();
                let (ra, rb) =
                    run_session_with_edit(&mut stores, a, b, &faults, &cfg, &mut rng, &mut edit);
                let mut edited = false;
                if let (Some(m), None) = (planned, edit) {
                    added.insert((m.doc, m.field % FIELDS.len() as u8, format!("e{}", m.n)));
                    edited = true;
                }
                if faults.is_clean() {
                    prop_assert!(
                        ra.is_ok() && rb.is_ok(),
                        "clean session failed: {ra:?} {rb:?}"
                    );
                    // An edit that landed during the session may not have been sent in it.
                    if !edited {
                        prop_assert_eq!(stores[a].root(), stores[b].root());
                    }
                }
            }
            Op::Purge { peer, doc } => {
                let p = peer % peers;
                let id = sim_contact_id(*doc);
                stores[p]
                    .edit(TOMBSTONES_DOC, actor(p), |d| {
                        tombstones::add_tombstone(d, &id, 0, &format!("peer{p}"), "").map(|_| ())
                    })
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                purged.insert(*doc);
            }
            Op::Member {
                peer,
                device,
                name,
                remove,
            } => {
                let p = peer % peers;
                let dev = format!("device{device}");
                stores[p]
                    .edit(DEVICES_DOC, actor(p), |d| {
                        devices::add_device(d, &dev, &dev, &format!("peer{p}"), 0)?;
                        if *remove {
                            devices::remove_device(d, &dev, &format!("peer{p}"), 0)?;
                        } else {
                            devices::rename_device(d, &dev, &format!("name{name}"))?;
                        }
                        Ok(())
                    })
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            Op::Partition(m) => partition = Some(*m),
            Op::Heal => partition = None,
        }
    }
    // Heal and run clean sessions between every pair until quiet.
    let mut rounds = 0;
    while !stores.iter().all(|s| s.root() == stores[0].root()) {
        rounds += 1;
        prop_assert!(rounds <= 3, "not converged after 3 clean rounds");
        for a in 0..peers {
            for b in a + 1..peers {
                let (ra, rb) = run_session(&mut stores, a, b, &Faults::default(), &cfg, &mut rng);
                prop_assert!(
                    ra.is_ok() && rb.is_ok(),
                    "clean session failed: {ra:?} {rb:?}"
                );
            }
        }
    }
    for s in &stores[1..] {
        let ids0: Vec<_> = stores[0].ids().collect();
        let ids: Vec<_> = s.ids().collect();
        prop_assert_eq!(&ids0, &ids);
        for id in ids0 {
            prop_assert_eq!(stores[0].heads(id), s.heads(id));
            let (d0, d) = (stores[0].doc(id).unwrap(), s.doc(id).unwrap());
            prop_assert_eq!(content(d0), content(d));
            if model::doc_kind(d0) == Some(Kind::Contact) {
                prop_assert_eq!(model::read_contact(d0), model::read_contact(d));
                prop_assert_eq!(model::contact_conflicts(d0), model::contact_conflicts(d));
            }
        }
    }
    // A purge reaches everyone: no peer holds a deleted contact, and membership is identical.
    for s in &stores {
        for doc in &purged {
            prop_assert!(
                s.doc(&sim_contact_id(*doc)).is_none(),
                "purged {doc} still held"
            );
        }
        let members = |s: &MemStore| s.doc(&DEVICES_DOC).map(devices::read_devices);
        prop_assert_eq!(members(s), members(&stores[0]));
    }
    // No entry is lost: every entry added and never removed is shown (unless its contact was
    // purged). (A removal concurrent
    // with a repair that copied the entry can bring it back, so exactness is checked only
    // without repairs.)
    for doc in 0..3u8 {
        let shown: BTreeSet<(u8, u8, String)> = match stores[0].doc(&sim_contact_id(doc)) {
            Some(d) => entries(&model::read_contact(d))
                .into_iter()
                .map(|(f, k)| (doc, f, k))
                .collect(),
            None => BTreeSet::new(),
        };
        if purged.contains(&doc) {
            continue;
        }
        for e in added.iter().filter(|e| e.0 == doc && !removed.contains(e)) {
            prop_assert!(shown.contains(e), "entry {e:?} lost; shown: {shown:?}");
        }
        if !repaired {
            for e in &shown {
                prop_assert!(!removed.contains(e), "removed entry {e:?} came back");
            }
        }
    }
    // Quiet now: a reconnect is one round trip.
    let (ra, rb) = run_session(&mut stores, 0, 1, &Faults::default(), &cfg, &mut rng);
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    prop_assert_eq!(ra.round_trips, 1);
    prop_assert!(ra.bytes_sent + ra.bytes_received < 1024);
    prop_assert_eq!(ra.bytes_sent, rb.bytes_received);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/sync_sim.txt"),
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_converge_whatever_the_network_does(
        peers in 2usize..=5,
        ops in proptest::collection::vec(op_strategy(), 1..40),
        seed in any::<u64>(),
        window in prop_oneof![Just(1usize), Just(2), Just(256)],
    ) {
        run_sim(peers, &ops, seed, window)?;
    }
}

// ---- fixed-scenario tests -------------------------------------------------------------------

fn vault(n: usize, seed: u64) -> MemStore {
    let mut rng = Rng(seed);
    let mut s = MemStore::new();
    for i in 0..n {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&rng.next().to_be_bytes());
        id[8..].copy_from_slice(&rng.next().to_be_bytes());
        s.edit(DocId(id), ActorId::from(vec![1u8; 16]), |d| {
            use automerge::transaction::Transactable;
            d.put(ROOT, "kind", "contact")?;
            d.put(ROOT, "name", format!("person {i}"))
        })
        .unwrap();
    }
    s
}

fn copy(s: &MemStore) -> MemStore {
    let mut c = MemStore::new();
    for id in s.ids() {
        c.put(*id, s.doc(id).unwrap().clone());
    }
    c
}

fn clean(stores: &mut [MemStore]) -> (Summary, Summary) {
    let (a, b) = run_session(
        stores,
        0,
        1,
        &Faults::default(),
        &Config::default(),
        &mut Rng(7),
    );
    (a.unwrap(), b.unwrap())
}

#[test]
fn no_change_reconnect_is_one_round_trip_under_1kb_with_10k_docs() {
    let a = vault(10_000, 1);
    let b = copy(&a);
    let mut stores = [a, b];
    let (sa, sb) = clean(&mut stores);
    eprintln!("no-change, 10,000 docs: initiator {sa:?}");
    assert_eq!(sa.round_trips, 1);
    assert_eq!(sb.round_trips, 0);
    assert_eq!((sa.frames_sent, sa.frames_received), (1, 1));
    assert!(sa.bytes_sent + sa.bytes_received < 1024);
    assert_eq!(sa.bytes_sent + sa.bytes_received, 92);
    assert_eq!(sa.docs_differing, 0);
    assert_eq!((stores[0].loads(), stores[1].loads()), (0, 0));
}

#[test]
fn one_changed_doc_syncs_only_that_doc() {
    let a = vault(10_000, 2);
    let mut b = copy(&a);
    let id = *a.ids().nth(4321).unwrap();
    b.edit(id, ActorId::from(vec![2u8; 16]), |d| {
        automerge::transaction::Transactable::put(d, ROOT, "name", "renamed")
    })
    .unwrap();
    let mut stores = [a, b];
    let (sa, sb) = clean(&mut stores);
    eprintln!("one change, 10,000 docs: initiator {sa:?}\nresponder {sb:?}");
    assert_eq!(sa.docs_differing, 1);
    assert_eq!((sa.docs_received, sa.docs_sent), (1, 0));
    assert_eq!((sb.docs_received, sb.docs_sent), (0, 1));
    assert_eq!((stores[0].loads(), stores[1].loads()), (1, 1));
    assert_eq!(stores[0].root(), stores[1].root());
    assert!(sa.round_trips <= 4, "{sa:?}");
    // Then a reconnect is cheap again.
    let (sa, _) = clean(&mut stores);
    assert_eq!(sa.round_trips, 1);
}

#[test]
fn many_docs_are_pipelined_and_missing_docs_created() {
    let a = vault(2_000, 3);
    let b = MemStore::new();
    let mut stores = [a, b];
    let (sa, sb) = clean(&mut stores);
    eprintln!("2,000 docs to an empty peer: initiator {sa:?}\nresponder {sb:?}");
    assert_eq!(sb.docs_created, 2_000);
    assert_eq!(sa.docs_sent, 2_000);
    assert_eq!(stores[0].root(), stores[1].root());
    // Windowed (256 in flight): a handful of round trips, not one per document.
    assert!(sa.round_trips < 40, "{sa:?}");
}

#[test]
fn interrupted_sync_resumes_with_saved_states() {
    let a = vault(300, 4);
    let b = MemStore::new();
    let mut stores = [a, b];
    let cfg = Config {
        idle_timeout_ms: 100,
        max_active_docs: 16,
        // One document per Docs frame, so the cut lands mid-transfer.
        whole_frame_bytes: 1,
        ..Config::default()
    };
    let cut = Faults {
        cut_after: Some(40),
        ..Faults::default()
    };
    let (ra, rb) = run_session(&mut stores, 0, 1, &cut, &cfg, &mut Rng(1));
    assert!(matches!(ra, Err(SyncError::Timeout { .. })), "{ra:?}");
    assert!(rb.is_err());
    let partial = stores[1].ids().count();
    assert!(partial > 0 && partial < 300, "{partial}");
    let (ra, rb) = run_session(&mut stores, 0, 1, &Faults::default(), &cfg, &mut Rng(1));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(rb.docs_created as usize, 300 - partial);
    assert_eq!(ra.docs_differing as usize, 300 - partial);
    assert_eq!(stores[0].root(), stores[1].root());
}

// ---- rejection of bad peer input --------------------------------------------------------------

fn hello(root: [u8; 32]) -> Frame {
    Frame::Hello {
        version: PROTOCOL_VERSION,
        root,
        doc_count: 0,
    }
}

fn expect_fail(effects: &[Effect], code: CloseCode) -> SyncError {
    let Some(Effect::Fail(e)) = effects.last() else {
        panic!("expected Fail, got {effects:?}");
    };
    assert_eq!(e.code(), code, "{e}");
    if !matches!(e, SyncError::PeerClosed { .. }) {
        assert!(
            matches!(effects.first(), Some(Effect::Send(Frame::Close { code: c, .. })) if *c == code.0),
            "{effects:?}"
        );
    }
    e.clone()
}

#[test]
fn bad_peer_input_table() {
    let store = vault(3, 5);
    let empty_root = BucketHashes::empty().root();
    let peer = PeerId([9; 32]);
    // (role, frames before, bad event, expected code)
    let cases: Vec<(Role, Vec<Frame>, Event, CloseCode)> = vec![
        (
            Role::Initiator,
            vec![],
            Event::Received(Frame::Buckets(BucketHashes::empty())),
            CloseCode::PROTOCOL,
        ),
        (
            Role::Responder,
            vec![],
            Event::Received(Frame::Sync {
                doc: DocId([0; 16]),
                message: vec![],
            }),
            CloseCode::PROTOCOL,
        ),
        (
            Role::Responder,
            vec![],
            // an older kith (protocol version 1)
            Event::Received(Frame::Hello {
                version: 1,
                root: [0; 32],
                doc_count: 0,
            }),
            CloseCode::VERSION,
        ),
        (
            Role::Responder,
            vec![hello(empty_root)],
            // whole documents before the document lists
            Event::Received(Frame::Docs {
                docs: vec![(DocId([0; 16]), vec![1])],
            }),
            CloseCode::PROTOCOL,
        ),
        (
            Role::Responder,
            vec![
                hello(empty_root),
                Frame::Buckets(BucketHashes::empty()),
                Frame::DocList {
                    last: true,
                    entries: vec![],
                },
            ],
            // a whole document the peer never listed
            Event::Received(Frame::Docs {
                docs: vec![(DocId([0; 16]), vec![1])],
            }),
            CloseCode::PROTOCOL,
        ),
        (
            Role::Responder,
            vec![],
            Event::DecodeError(FrameError::TooLarge {
                len: u32::MAX,
                max: MAX_FRAME_LEN,
            }),
            CloseCode::PROTOCOL,
        ),
        (
            Role::Responder,
            vec![hello(empty_root)],
            Event::Received(hello(empty_root)),
            CloseCode::PROTOCOL,
        ),
        (
            Role::Responder,
            vec![hello(empty_root), Frame::Buckets(BucketHashes::empty())],
            // ids must be in differing buckets: a doc in an identical bucket is refused
            Event::Received(Frame::DocList {
                last: true,
                entries: vec![(DocId([0; 16]), [0; 16])],
            }),
            CloseCode::PROTOCOL,
        ),
        (
            Role::Responder,
            vec![
                hello(empty_root),
                Frame::Buckets(BucketHashes::empty()),
                Frame::DocList {
                    last: true,
                    entries: vec![],
                },
            ],
            // a document that is not being synced
            Event::Received(Frame::Sync {
                doc: DocId([0; 16]),
                message: vec![],
            }),
            CloseCode::PROTOCOL,
        ),
        (
            Role::Responder,
            vec![],
            Event::Received(Frame::Close {
                code: CloseCode::REMOVED_DEVICE.0,
                reason: "removed".into(),
            }),
            CloseCode::REMOVED_DEVICE,
        ),
    ];
    for (i, (role, before, bad, code)) in cases.into_iter().enumerate() {
        let mut s = Session::new(role, peer, Config::default());
        let start = s.handle(&store, 0, Event::Start);
        assert!(
            !start.iter().any(|e| matches!(e, Effect::Fail(_))),
            "case {i}"
        );
        for f in before {
            let out = s.handle(&store, 0, Event::Received(f));
            assert!(
                !out.iter().any(|e| matches!(e, Effect::Fail(_))),
                "case {i}: {out:?}"
            );
        }
        let out = s.handle(&store, 0, bad);
        expect_fail(&out, code);
        assert!(s.is_finished(), "case {i}");
        assert!(s.handle(&store, 1, Event::Tick).is_empty(), "case {i}");
    }
}

#[test]
fn undecodable_sync_message_quarantines_the_document_and_the_session_goes_on() {
    let store = vault(1, 6);
    let id = *store.ids().next().unwrap();
    let mut s = Session::new(Role::Responder, PeerId([9; 32]), Config::default());
    let steps = [
        hello(BucketHashes::empty().root()),
        Frame::Buckets(BucketHashes::empty()),
        Frame::DocList {
            last: true,
            entries: vec![],
        },
    ];
    for f in steps {
        s.handle(&store, 0, Event::Received(f));
    }
    let out = s.handle(
        &store,
        0,
        Event::Received(Frame::Sync {
            doc: id,
            message: vec![0x42, 0xff, 0xff],
        }),
    );
    // Quarantined, not fatal: the peer is told to skip the document, the session goes on.
    assert!(!out.iter().any(|e| matches!(e, Effect::Fail(_))), "{out:?}");
    assert!(
        out.iter()
            .any(|e| matches!(e, Effect::Send(Frame::Skip { doc, .. }) if *doc == id)),
        "{out:?}"
    );
    assert!(
        out.iter().any(
            |e| matches!(e, Effect::Quarantine { doc, reason } if *doc == id && reason.contains("undecodable"))
        ),
        "{out:?}"
    );
    assert!(!s.is_finished());
    // Later frames for it are ignored; the session ends normally once both sides are idle.
    let late = s.handle(
        &store,
        1,
        Event::Received(Frame::Sync {
            doc: id,
            message: vec![0x42],
        }),
    );
    assert!(!late
        .iter()
        .any(|e| matches!(e, Effect::Quarantine { .. } | Effect::Fail(_))));
    let idle = out.iter().chain(&late).rev().find_map(|e| match e {
        Effect::Send(Frame::Idle { sent, received }) => Some((*sent, *received)),
        _ => None,
    });
    let (sent, received) = idle.expect("the session went idle");
    let end = s.handle(
        &store,
        2,
        Event::Received(Frame::Idle {
            sent: received,
            received: sent,
        }),
    );
    assert!(
        matches!(end.last(), Some(Effect::Done(d)) if d.docs_quarantined == 1),
        "{end:?}"
    );
}

#[test]
fn idle_timeout_fails_on_tick() {
    let store = MemStore::new();
    let mut s = Session::new(Role::Initiator, PeerId([9; 32]), Config::default());
    s.handle(&store, 1_000, Event::Start);
    assert!(s.handle(&store, 30_999, Event::Tick).is_empty());
    let out = s.handle(&store, 31_000, Event::Tick);
    expect_fail(&out, CloseCode::TIMEOUT);
}

#[test]
fn a_session_that_outlives_its_deadline_fails_on_tick() {
    let store = MemStore::new();
    let cfg = Config {
        idle_timeout_ms: 10_000,
        deadline_base_ms: 5_000,
        ..Config::default()
    };
    let mut s = Session::new(Role::Initiator, PeerId([9; 32]), cfg);
    s.handle(&store, 0, Event::Start);
    // Frames keep arriving (no idle timeout), but the work never finishes.
    for t in (1..5).map(|i| i * 1_000) {
        let out = s.handle(&store, t, Event::Tick);
        assert!(out.is_empty(), "{out:?}");
    }
    let out = s.handle(&store, 5_100 + s.deadline_ms() - 5_000, Event::Tick);
    let e = expect_fail(&out, CloseCode::TIMEOUT);
    assert!(matches!(e, SyncError::Deadline { .. }), "{e}");
}

#[test]
fn whole_documents_that_do_not_verify_are_quarantined_and_the_session_goes_on() {
    let a = vault(3, 7);
    let mut b = MemStore::new();
    let ids: Vec<DocId> = a.ids().copied().collect();
    let mut leaves = Vec::new();
    for bucket in 0..=255u8 {
        leaves.extend(a.bucket_leaves(bucket).unwrap());
    }
    let mut s = Session::new(Role::Responder, PeerId([9; 32]), Config::default());
    for f in [
        hello(a.root()),
        Frame::Buckets(a.bucket_hashes().unwrap()),
        Frame::DocList {
            last: true,
            entries: leaves,
        },
    ] {
        let out = s.handle(&b, 0, Event::Received(f));
        assert!(!out.iter().any(|e| matches!(e, Effect::Fail(_))), "{out:?}");
    }
    let good = a.load_bytes(&ids[1]).unwrap().unwrap();
    // ids[0]: garbage; ids[1]: its own bytes; ids[2]: ids[1]'s bytes (loads, wrong heads).
    let docs = vec![
        (ids[0], vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3]),
        (ids[1], good.clone()),
        (ids[2], good),
    ];
    let out = s.handle(&b, 1, Event::Received(Frame::Docs { docs }));
    let wholes: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            Effect::StoreWhole { doc, bytes, leaf } => Some((*doc, bytes.clone(), *leaf)),
            _ => None,
        })
        .collect();
    assert_eq!(wholes.len(), 3, "{out:?}");
    let mut refused = Vec::new();
    for (doc, bytes, leaf) in wholes {
        if let Err(reason) = b.store_whole(&doc, &bytes, &leaf) {
            assert!(
                b.heads(&doc).is_none(),
                "nothing of a refused document is stored"
            );
            let more = s.handle(&b, 1, Event::Rejected { doc, reason });
            assert!(
                more.iter()
                    .any(|e| matches!(e, Effect::Send(Frame::Skip { doc: d, .. }) if *d == doc)),
                "{more:?}"
            );
            assert!(
                more.iter()
                    .any(|e| matches!(e, Effect::Quarantine { doc: d, .. } if *d == doc)),
                "{more:?}"
            );
            refused.push(doc);
        }
    }
    assert_eq!(refused, vec![ids[0], ids[2]]);
    assert_eq!(b.heads(&ids[1]), a.heads(&ids[1]));
    assert!(!s.is_finished());
}

#[test]
fn a_first_sync_sends_documents_whole_and_runs_automerge_only_for_shared_ones() {
    // A has 500 documents; B has a copy of 100 of them, 10 of which both edited.
    let a = vault(500, 8);
    let mut b = MemStore::new();
    for id in a.ids().take(100) {
        b.put(*id, a.doc(id).unwrap().clone());
    }
    let mut stores = [a, b];
    let shared: Vec<DocId> = stores[1].ids().copied().take(10).collect();
    for (n, id) in shared.iter().enumerate() {
        for (side, store) in stores.iter_mut().enumerate() {
            store
                .edit(*id, ActorId::from(vec![side as u8 + 7; 16]), |d| {
                    use automerge::transaction::Transactable;
                    d.put(ROOT, "note", format!("side {side} edit {n}"))
                })
                .unwrap();
        }
    }
    let (sa, sb) = clean(&mut stores);
    assert_eq!(stores[0].root(), stores[1].root());
    assert_eq!(sa.docs_differing, 410);
    assert_eq!(sb.docs_created, 400);
    // Whole documents need no per-document round trips and no loads on the receiver: only
    // the 10 shared documents were loaded there (once each, for Automerge sync).
    assert_eq!(stores[1].loads(), 10, "{sb:?}");
    assert!(sa.round_trips < 8, "{sa:?}");
}

#[test]
fn a_sender_streaming_whole_documents_does_not_time_out_while_the_peer_is_quiet() {
    let a = vault(60, 9);
    let cfg = Config {
        whole_frame_bytes: 1, // one document per frame: 8 per step, 8 steps
        ..Config::default()
    };
    let mut s = Session::new(Role::Initiator, PeerId([9; 32]), cfg);
    s.handle(&a, 0, Event::Start);
    let empty = BucketHashes::empty();
    let docs_in = |out: &[Effect]| {
        out.iter()
            .map(|e| match e {
                Effect::Send(Frame::Docs { docs }) => docs.len(),
                _ => 0,
            })
            .sum::<usize>()
    };
    let mut sent = 0;
    for f in [
        hello(empty.root()),
        Frame::Buckets(empty),
        Frame::DocList {
            last: true,
            entries: vec![],
        },
    ] {
        sent += docs_in(&s.handle(&a, 0, Event::Received(f)));
    }
    let mut t = 0;
    while s.wants_to_send() {
        // 20 s between steps (a slow link): 160 s in all with nothing received.
        t += 20_000;
        let out = s.handle(&a, t, Event::Tick);
        assert!(
            !out.iter().any(|e| matches!(e, Effect::Fail(_))),
            "at {t}: {out:?}"
        );
        sent += docs_in(&out);
    }
    assert!(t >= 100_000, "{t}");
    assert_eq!(sent, 60, "every document sent");
    // Once everything is out and the peer stays silent, the idle timeout fires as before.
    let out = s.handle(&a, t + 30_000, Event::Tick);
    assert!(
        matches!(out.last(), Some(Effect::Fail(SyncError::Timeout { .. }))),
        "{out:?}"
    );
}

#[test]
fn an_empty_receiver_sends_sparse_buckets_and_counts_the_whole_documents_it_awaits() {
    use super::SyncStore;
    let a = vault(60, 10);
    let b = MemStore::new();
    let mut s = Session::new(Role::Initiator, PeerId([9; 32]), Config::default());
    s.handle(&b, 0, Event::Start);
    assert_eq!(s.whole_awaited(), 0, "nothing is known before the lists");
    let theirs = a.bucket_hashes().unwrap();
    let mut entries = Vec::new();
    for bucket in 0..=255u8 {
        entries.extend(a.bucket_leaves(bucket).unwrap());
    }
    let mut out = s.handle(&b, 0, Event::Received(hello(theirs.root())));
    out.extend(s.handle(&b, 0, Event::Received(Frame::Buckets(theirs))));
    // An empty vault's buckets are all zero: the sparse form, 38 bytes instead of 4,101.
    let buckets: Vec<usize> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Send(f @ Frame::Buckets(_)) => Some(f.encoded_len()),
            _ => None,
        })
        .collect();
    assert_eq!(buckets, vec![38]);
    let ids: Vec<DocId> = entries.iter().map(|e| e.0).collect();
    s.handle(
        &b,
        0,
        Event::Received(Frame::DocList {
            last: true,
            entries,
        }),
    );
    assert_eq!(s.whole_awaited(), 60, "every listed document is awaited");
    let docs = |ids: &[DocId]| Frame::Docs {
        docs: ids
            .iter()
            .map(|id| (*id, a.load_bytes(id).unwrap().unwrap()))
            .collect(),
    };
    let out = s.handle(&b, 1, Event::Received(docs(&ids[..45])));
    assert_eq!(
        out.iter()
            .filter(|e| matches!(e, Effect::StoreWhole { .. }))
            .count(),
        45
    );
    assert_eq!(s.whole_awaited(), 15);
    s.handle(&b, 2, Event::Received(docs(&ids[45..])));
    assert_eq!(s.whole_awaited(), 0, "everything listed has arrived");
}
