//! In-memory benchmark: the sync engine over a 1,000-contact share (projection documents in a
//! `ShareStore`) against the same engine over the 1,000 source contact documents (`MemStore`,
//! as device sync sees them). No network, no disk: it compares what the engine and Automerge
//! cost for the two document sets, first sync and an unchanged reconnect.
//!
//! Run: `cargo run -p kith-core --example share_bench [--release] -- N RUNS`

use std::time::Instant;

use automerge::{ActorId, AutoCommit};
use kith_core::model::{self, Contact, Labeled, Role};
use kith_core::share::{self, Field, ShareStore};
use kith_core::sync::{
    Config, Effect, Event, MemStore, PeerId, Role as SRole, Session, Summary, SyncStore,
};
use kith_core::DocId;

/// A tiny deterministic generator (fixed seed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn contacts(n: usize) -> Vec<(DocId, AutoCommit)> {
    let mut rng = Rng(42);
    (0..n)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&rng.next().to_be_bytes());
            id[8..].copy_from_slice(&rng.next().to_be_bytes());
            let mut c = Contact {
                name: format!("Person {i} {}", rng.next() % 10_000),
                help: format!("intros to {} investors", rng.next() % 500),
                nickname: format!("nick{}", rng.next()),
                met: format!("met at conference {} in a long story", rng.next() % 100),
                ..Default::default()
            };
            c.orgs.insert(
                "o".into(),
                Role {
                    org: format!("Org {}", rng.next() % 300),
                    title: "Engineer".into(),
                    ..Default::default()
                },
            );
            c.emails.insert(
                "e".into(),
                Labeled {
                    value: format!("p{i}@example.org"),
                    label: String::new(),
                },
            );
            let mut d = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
            model::write_contact(&mut d, &c, 1).unwrap();
            d.commit();
            (DocId(id), d)
        })
        .collect()
}

/// Runs one session; the initiator stores what it receives. Returns the initiator's summary.
fn session<S: SyncStore>(
    owner: &S,
    recipient: &mut S,
    mut store: impl FnMut(&mut S, DocId, &[u8]),
) -> Summary {
    let mut ini = Session::new(SRole::Initiator, PeerId([1; 32]), Config::default());
    let mut res = Session::new(SRole::Responder, PeerId([2; 32]), Config::default());
    let mut to_res = Vec::new();
    let mut to_ini = vec![Event::Start];
    let mut summary = None;
    let mut now = 0;
    while !(to_res.is_empty() && to_ini.is_empty()) {
        now += 1;
        for ev in std::mem::take(&mut to_ini) {
            for e in ini.handle(&*recipient, now, ev) {
                match e {
                    Effect::Send(f) => to_res.push(Event::Received(f)),
                    Effect::StoreChanges { doc, bytes, .. } => store(recipient, doc, &bytes),
                    Effect::Done(s) => summary = Some(s),
                    Effect::Fail(e) => panic!("{e}"),
                    _ => {}
                }
            }
        }
        for ev in std::mem::take(&mut to_res) {
            for e in res.handle(owner, now, ev) {
                if let Effect::Send(f) = e {
                    to_ini.push(Event::Received(f));
                }
            }
        }
    }
    summary.expect("the session finished")
}

fn median(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let source = contacts(n);
    let fields: std::collections::BTreeSet<Field> = Field::DEFAULT.into_iter().collect();
    let t = Instant::now();
    let mut projections = ShareStore::new();
    for (id, d) in &source {
        let p = share::project(&model::read_contact(d), &fields);
        let mut doc = share::build_projection(&p, ActorId::from([7u8; 16])).unwrap();
        projections.put(share::pseudonym(&[3; 32], 1, id), doc.document().clone());
    }
    let derive_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut device = MemStore::new();
    for (id, d) in &source {
        device.put(*id, d.clone().document().clone());
    }
    let (mut share_first, mut dev_first, mut share_again, mut dev_again) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut share_docs, mut dev_docs, mut rts_share, mut rts_dev) = (0, 0, 0, 0);
    for _ in 0..runs {
        let mut got = ShareStore::new();
        let t = Instant::now();
        let s = session(&projections, &mut got, |st, id, bytes| {
            let mut am = st.get(&id).cloned().unwrap_or_default();
            am.load_incremental(bytes).unwrap();
            st.put(id, am);
        });
        share_first.push(t.elapsed().as_secs_f64() * 1000.0);
        share_docs = got.len();
        let t = Instant::now();
        let s2 = session(&projections, &mut got, |_, _, _| {});
        share_again.push(t.elapsed().as_secs_f64() * 1000.0);
        rts_share = s2.round_trips;
        let _ = s;

        let mut got = MemStore::new();
        let t = Instant::now();
        session(&device, &mut got, |st, id, bytes| {
            let mut am = st.doc(&id).cloned().unwrap_or_default();
            am.load_incremental(bytes).unwrap();
            st.put(id, am);
        });
        dev_first.push(t.elapsed().as_secs_f64() * 1000.0);
        dev_docs = got.ids().count();
        let t = Instant::now();
        let s2 = session(&device, &mut got, |_, _, _| {});
        dev_again.push(t.elapsed().as_secs_f64() * 1000.0);
        rts_dev = s2.round_trips;
    }
    let (sf, sf0, sf1) = median(&mut share_first);
    let (df, df0, df1) = median(&mut dev_first);
    let (sa, sa0, sa1) = median(&mut share_again);
    let (da, da0, da1) = median(&mut dev_again);
    println!("n={n} runs={runs} derive(projections)={derive_ms:.1} ms");
    println!("| workload | share (ms, median [min-max]) | device (ms) | ratio share/device | docs | round trips |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| first sync | {sf:.1} [{sf0:.1}-{sf1:.1}] | {df:.1} [{df0:.1}-{df1:.1}] | {:.2} | {share_docs} / {dev_docs} | |",
        sf / df
    );
    println!(
        "| unchanged reconnect | {sa:.2} [{sa0:.2}-{sa1:.2}] | {da:.2} [{da0:.2}-{da1:.2}] | {:.2} | | {rts_share} / {rts_dev} |",
        sa / da
    );
}
