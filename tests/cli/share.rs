//! Sharing a slice with a person (issue 10, docs/design/sharing.md), end to end over loopback:
//! persons pairing, a share served by the owner's daemon and received by `kith share sync`,
//! canaries checked at the recipient after every step in three layers (every byte received
//! on the wire, decoded; every stored received document's full decoded history; the raw vault
//! file after compaction), a stranger refused, a write attempt refused and reported, a
//! narrowing starting a new epoch, and a revocation dropping the slice.

use std::collections::BTreeMap;
use std::path::Path;

use automerge::Automerge;
use kith::store::{ShareTable, Vault};
use kith_core::share::history_text;
use kith_core::sync::{Frame, FrameDecoder};
use serde_json::Value;

use crate::sync::{first_line, wait_with_timeout, Daemon, Dev};

/// Markers that must never reach the recipient.
pub(crate) const PRIVATE: &[&str] = &[
    "CanaryNote",
    "CanaryInteraction",
    "CanaryReminder",
    "CanaryNick",
    "CanaryCustom",
    "canarytag",
    "canary-email",
    "CanaryOutsider",
    "CanaryOverwritten",
    "CanaryDeleted",
];

/// Every received document of a vault: (key, full decoded history).
pub(crate) fn received_histories(vault: &Path) -> Vec<String> {
    let v = Vault::open_read_only(vault).expect("open the recipient's vault");
    let r = v.read().unwrap();
    r.share_scan(ShareTable::Received, &[])
        .unwrap()
        .into_iter()
        .map(|(_, bytes)| {
            history_text(&Automerge::load(&bytes).expect("a received document loads"))
        })
        .collect()
}

/// Everything decodable from the bytes the recipient received on the wire: each Automerge
/// change of each Sync frame, decoded, plus the raw bytes as text.
pub(crate) fn wire_text(path: &Path) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new(); // nothing received at all
    };
    let mut d = FrameDecoder::new();
    d.push(&bytes);
    let mut docs: BTreeMap<[u8; 16], Automerge> = BTreeMap::new();
    let mut frames = 0;
    while let Ok(Some(f)) = d.next_frame() {
        frames += 1;
        if let Frame::Sync { doc, message } = f {
            let m = automerge::sync::Message::decode(&message).expect("a sync message");
            let am = docs.entry(doc.0).or_default();
            for chunk in m.changes.iter() {
                am.load_incremental(chunk).expect("changes load");
            }
        }
    }
    assert!(frames > 0, "the wire dump holds frames");
    let mut out = String::from_utf8_lossy(&bytes).to_string();
    for am in docs.values() {
        out.push_str(&history_text(am));
    }
    out
}

/// The three layers at the recipient: none holds a private marker nor one of `also`.
#[track_caller]
pub(crate) fn assert_clean(b: &Dev, wire: &Path, also: &[&str], step: &str) {
    assert_clean_layers(b, Some(wire), also, step);
}

/// The layers at a device: its stored received histories, its raw vault file and, when it
/// dumped one, the bytes it received on the wire; none holds a private marker nor `also`.
#[track_caller]
pub(crate) fn assert_clean_layers(b: &Dev, wire: Option<&Path>, also: &[&str], step: &str) {
    let histories = received_histories(&b.env.vault());
    let wire = wire.map(wire_text).unwrap_or_default();
    let raw = String::from_utf8_lossy(&std::fs::read(b.env.vault()).unwrap()).to_string();
    for m in PRIVATE.iter().chain(also) {
        for h in &histories {
            assert!(
                !h.contains(m),
                "{step}: {m} in a stored received history on {}:\n{h}",
                b.name
            );
        }
        assert!(!wire.contains(m), "{step}: {m} on the wire");
        assert!(!raw.contains(m), "{step}: {m} in {}'s vault file", b.name);
    }
}

/// The owner's vault for the canary scenarios: Ada (tagged `slice`) with a private marker in
/// every place a share must not reach, Carol (`slice`) whose help is retracted later, and Bob
/// outside the slice. Returns Ada's id.
pub(crate) fn owner_with_canaries(a: &Dev) -> String {
    let ada = a.add(
        "Ada Shared",
        &[
            "--org",
            "Acme",
            "--tag",
            "slice",
            "--email",
            "canary-email@x.org",
        ],
    );
    a.ok(&["set", &ada, "title", "CanaryOverwritten"]);
    a.ok(&["set", &ada, "title", "CTO"]);
    a.ok(&["set", &ada, "help", "CanaryDeleted draft"]);
    a.ok(&["set", &ada, "help", "intros to analysts"]);
    a.ok(&["set", &ada, "nickname", "CanaryNick"]);
    a.ok(&["set", &ada, "custom.k", "CanaryCustom"]);
    a.ok(&["tag", &ada, "+canarytag"]);
    a.ok(&["note", "--about", &ada, "--", "CanaryNote about her"]);
    a.ok(&[
        "log",
        "--about",
        &ada,
        "--kind",
        "call",
        "--",
        "CanaryInteraction",
    ]);
    a.ok(&["remind", &ada, "CanaryReminder", "--on", "2026-12-01"]);
    let carol = a.add("Carol Slice", &["--org", "Initech", "--tag", "slice"]);
    a.ok(&["set", &carol, "help", "RetractedMarker hiring"]);
    a.add("Bob Outside", &["--org", "CanaryOutsider"]);
    ada
}

pub(crate) fn pair_persons(owner: &Dev, owner_calls: &str, recipient: &Dev, recipient_calls: &str) {
    let mut invite = owner.spawn(&["person", "invite", "--name", owner_calls]);
    let ticket = first_line(&mut invite);
    assert!(ticket.starts_with("kithp1"), "ticket: {ticket}");
    let out = recipient.run(&["person", "accept", &ticket, "--name", recipient_calls]);
    assert_eq!(out.code, 0, "accept failed: {}", out.stderr);
    let inv = wait_with_timeout(invite, 30);
    assert_eq!(inv.code, 0, "invite failed: {}", inv.stderr);
    assert!(
        inv.stderr.contains("paired with the person"),
        "{}",
        inv.stderr
    );
}

/// Ann shares the contacts tagged `slice` with the person she calls Ben. Returns the share id.
pub(crate) fn share_slice_with_ben(a: &Dev) -> String {
    let id = a
        .ok(&["share", "create", "--with", "Ben", "--tag", "slice"])
        .trim()
        .to_string();
    assert_eq!(id.len(), 32, "share id: {id}");
    id
}

pub(crate) fn share_sync(b: &Dev, wire: &Path, extra_env: &[(&str, &str)]) -> crate::env::Output {
    let mut c = b.cmd(&["--json", "share", "sync"]);
    c.env("KITH_TEST_SHARE_WIRE", wire);
    c.envs(extra_env.iter().copied());
    crate::env::finish(c.output().unwrap())
}

#[test]
fn a_slice_reaches_the_person_and_nothing_else_does() {
    let a = Dev::new("ann");
    let b = Dev::new("ben");
    let c = Dev::new("cat");
    let wire = b.env.root().join("wire.bin");

    // A's vault: one contact in the slice with private data around it, one outside.
    let ada = owner_with_canaries(&a);
    let a_show = a.ok(&["show", &ada]);
    assert!(
        a_show.contains("intros to analysts"),
        "help is shown: {a_show}"
    );

    pair_persons(&a, "Ben", &b, "Ann");
    // A person is never a device: neither side's membership document names the other.
    for (dev, other) in [(&a, &b), (&b, &a)] {
        let other_key = other.ok(&["device", "id"]).trim().to_string();
        let devices = dev.json(&["device", "list"]).to_string();
        assert!(
            !devices.contains(&other_key),
            "a person became a device: {devices}"
        );
        let persons = dev.json(&["person", "list"]).to_string();
        assert!(persons.contains(&other_key), "{persons}");
    }
    // C gets a copy of B's vault (B's persons, A's key) but its own device key: a stranger to A.
    std::fs::create_dir_all(c.env.home()).unwrap();
    std::fs::copy(b.env.vault(), c.env.vault()).unwrap();

    let id = share_slice_with_ben(&a);
    let shown = a.ok(&["share", "show", &id[..8]]);
    assert!(
        shown.contains("Ada Shared") && shown.contains("Acme") && shown.contains("CTO"),
        "{shown}"
    );
    assert!(
        shown.contains("Carol Slice") && !shown.contains("Bob"),
        "{shown}"
    );
    for m in PRIVATE {
        assert!(!shown.contains(m), "{m} in share show: {shown}");
    }

    let daemon = Daemon::start(&a);

    // B receives the slice.
    let out = share_sync(&b, &wire, &[]);
    assert_eq!(out.code, 0, "share sync: {}", out.stderr);
    let rep: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rep[0]["shares"], 1, "{rep}");
    assert_eq!(rep[0]["docs_received"], 2, "{rep}");
    let shared = b.json(&["shared"]);
    let names: Vec<&str> = shared
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["values"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada Shared", "Carol Slice"]);
    assert_eq!(shared[0]["from"], "Ann");
    let found = b.ok(&["search", "acme"]);
    assert!(
        found.contains("Ada Shared") && found.contains("from Ann's slice"),
        "{found}"
    );
    let show = b.ok(&["show", "Ada"]);
    assert!(
        show.contains("Acme") && show.contains("Ann's slice, updated"),
        "{show}"
    );
    let who = b.ok(&["who-knows", "analysts"]);
    assert!(
        who.contains("Ada Shared") && who.contains("Ann's slice"),
        "{who}"
    );
    assert_clean(&b, &wire, &[], "after the first sync");
    // Positive control: the layers do show what was shared (so the checks can fail).
    let all = received_histories(&b.env.vault()).join("\n");
    assert!(
        all.contains("RetractedMarker") && all.contains("intros to analysts"),
        "{all}"
    );
    assert!(wire_text(&wire).contains("RetractedMarker"));
    // A's vault actor ids (of its own documents) never reach B.
    let a_actors = actors_of(&a.env.vault());
    assert!(!a_actors.is_empty());
    assert_clean(
        &b,
        &wire,
        &a_actors.iter().map(String::as_str).collect::<Vec<_>>(),
        "actors",
    );

    // An unchanged reconnect is one round trip and receives nothing.
    let out = share_sync(&b, &wire, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rep: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (
            rep[0]["docs_received"].as_u64(),
            rep[0]["round_trips"].as_u64()
        ),
        (Some(0), Some(1)),
        "{rep}"
    );

    // C, a stranger with A's address, gets nothing.
    let out = c.run(&["share", "sync"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("unknown person"), "{}", out.stderr);
    assert!(received_histories(&c.env.vault()).is_empty());

    // B trying to write into the share is refused and reported on A.
    let out = share_sync(&b, &wire, &[("KITH_TEST_SHARE_TAMPER", "1")]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("read-only") || out.stderr.contains("read-only"),
        "{out:?}"
    );
    let list = a.json(&["share", "list"]);
    assert_eq!(list[0]["write_attempts"], 1, "{list}");
    let status = a.run(&["status"]);
    assert!(
        status.stderr.contains("Ben tried to write into share"),
        "{}",
        status.stderr
    );
    for h in received_histories(&b.env.vault()) {
        assert!(!h.contains("TAMPERED"), "a refused write was stored");
    }

    // Narrowing (help no longer shared): a new epoch; B drops the old one.
    let out = a.run(&["share", "edit", &id[..8], "--fields", "name,org,title"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("epoch 2"), "{}", out.stderr);
    std::fs::remove_file(&wire).unwrap();
    let out = share_sync(&b, &wire, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_clean(
        &b,
        &wire,
        &["RetractedMarker", "intros to analysts"],
        "after narrowing",
    );
    assert_eq!(b.json(&["shared"]).as_array().unwrap().len(), 2);

    // Revocation: B receives nothing more and drops the slice.
    a.ok(&["share", "revoke", &id[..8]]);
    std::fs::remove_file(&wire).unwrap();
    let out = share_sync(&b, &wire, &[]);
    assert!(!wire.exists(), "no share session ran after the revocation");

    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(b.json(&["shared"]).as_array().unwrap().is_empty());
    assert!(received_histories(&b.env.vault()).is_empty());
    assert_clean(&b, &wire, &["Ada Shared", "Initech"], "after revocation");
    drop(daemon);
}

/// The actor ids (hex) of every change of A's own documents.
fn actors_of(vault: &Path) -> Vec<String> {
    let v = Vault::open_read_only(vault).unwrap();
    let r = v.read().unwrap();
    let mut out = std::collections::BTreeSet::new();
    for kind in kith_core::Kind::ALL {
        for id in r.ids_of_kind(kind).unwrap() {
            if let Some(mut d) = r.load(id).unwrap() {
                for ch in d.get_changes(&[]) {
                    out.insert(ch.actor_id().to_hex_string());
                }
            }
        }
    }
    out.into_iter().collect()
}

#[test]
fn person_commands_refuse_bad_input() {
    let a = Dev::new("ann");
    let err = a
        .env
        .fails(&["person", "accept", "kith1abc", "--name", "X"], 1);
    assert!(err.contains("device pairing ticket"), "{err}");
    let err = a
        .env
        .fails(&["person", "accept", "nonsense", "--name", "X"], 1);
    assert!(err.contains("not a kith person ticket"), "{err}");
    let err = a
        .env
        .fails(&["share", "create", "--with", "Nobody", "--tag", "x"], 1);
    assert!(err.contains("no person called 'Nobody'"), "{err}");
    let err = a.env.fails(&["share", "create", "--with", "Nobody"], 1);
    assert!(err.contains("which contacts?"), "{err}");
    let err = a.env.fails(&["share", "show", "abcd"], 1);
    assert!(err.contains("no share 'abcd'"), "{err}");
    let err = a.env.fails(
        &[
            "share",
            "create",
            "--with",
            "X",
            "--tag",
            "t",
            "--fields",
            "name,notes",
        ],
        1,
    );
    assert!(err.contains("'notes'"), "{err}");
}

#[test]
fn help_is_set_shown_and_survives_a_vcard_round_trip() {
    let a = crate::env::TestEnv::new();
    let id = a.add("Ada", &[]);
    a.ok(&["set", &id, "help", "intros to analysts"]);
    assert!(a.ok(&["show", &id]).contains("help:"));
    let file = a.root().join("out.vcf");
    a.ok(&["export", "--format", "vcard", "-o", file.to_str().unwrap()]);
    let b = crate::env::TestEnv::new();
    b.ok(&["import", file.to_str().unwrap()]);
    let shown = b.ok(&["show", "Ada"]);
    assert!(shown.contains("intros to analysts"), "{shown}");
}
