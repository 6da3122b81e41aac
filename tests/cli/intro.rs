//! Introductions (issue 10) between two people over loopback with real binaries: Ann shares a
//! slice with Ben; Ben asks for an introduction; Ann sees it in `intro list`, `due` and
//! `digest`, accepts, makes it and records the outcome; Ben sees each state after his next
//! sync. Crafted writes into the other side's intro documents are refused and reported; the
//! intro documents reveal nothing of the asker's vault and no contact id of the owner; bad
//! input gets one `error:` line.

use std::collections::BTreeSet;
use std::path::Path;

use automerge::Automerge;
use kith::store::{ShareTable, Vault};
use kith_core::share::history_text;
use serde_json::Value;

use crate::share::pair_persons;
use crate::sync::{first_line, Daemon, Dev};

fn share_sync(b: &Dev, tamper: bool) -> crate::env::Output {
    share_sync_env(
        b,
        if tamper {
            &[("KITH_TEST_INTRO_TAMPER", "1")]
        } else {
            &[]
        },
    )
}

fn share_sync_env(b: &Dev, env: &[(&str, &str)]) -> crate::env::Output {
    let mut c = b.cmd(&["--json", "share", "sync"]);
    c.envs(env.iter().copied());
    crate::env::finish(c.output().unwrap())
}

#[track_caller]
fn synced(b: &Dev) -> Value {
    let out = share_sync(b, false);
    assert_eq!(out.code, 0, "share sync: {}", out.stderr);
    let rep: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(rep[0]["error"].is_null(), "{rep}");
    rep
}

/// Full decoded histories of the rows of an intro table.
fn histories(vault: &Path, t: ShareTable) -> Vec<String> {
    let v = Vault::open_read_only(vault).expect("open the vault");
    let r = v.read().unwrap();
    r.share_scan(t, &[])
        .unwrap()
        .into_iter()
        .map(|(_, b)| history_text(&Automerge::load(&b).expect("an intro document loads")))
        .collect()
}

/// The actor ids (hex) of every change of a vault's own documents.
fn actors_of(vault: &Path) -> BTreeSet<String> {
    let v = Vault::open_read_only(vault).unwrap();
    let r = v.read().unwrap();
    let mut out = BTreeSet::new();
    for kind in kith_core::Kind::ALL {
        for id in r.ids_of_kind(kind).unwrap() {
            if let Some(mut d) = r.load(id).unwrap() {
                for ch in d.get_changes(&[]) {
                    out.insert(ch.actor_id().to_hex_string());
                }
            }
        }
    }
    out
}

fn list(d: &Dev) -> Vec<Value> {
    d.json(&["intro", "list"]).as_array().unwrap().clone()
}

/// Ann shares a slice (Ada) with Ben; Ben receives it. Returns (ann, ben, ada's id, daemon).
fn setup() -> (Dev, Dev, String, Daemon) {
    let a = Dev::new("ann");
    let b = Dev::new("ben");
    let ada = a.add("Ada Shared", &["--org", "Acme", "--tag", "slice"]);
    a.add("Bob Outside", &["--org", "Initech"]);
    pair_persons(&a, "Ben", &b, "Ann");
    crate::share::share_slice_with_ben(&a);
    let daemon = Daemon::start(&a);
    synced(&b);
    (a, b, ada, daemon)
}

#[test]
fn an_introduction_round_trip_between_two_people() {
    let (a, b, ada, daemon) = setup();
    // Ben's own contact: nothing of it may reach Ann.
    let zed = b.add("Zed AskerPrivate", &["--org", "CanaryAsker"]);

    // Bad input: one error line each, nothing written.
    let err = b.env.fails(&["intro", "ask", "Nobody", "--why", "x"], 1);
    assert!(
        err.contains("error: no contact shared with you matches 'Nobody'"),
        "{err}"
    );
    let err = b.env.fails(&["intro", "ask", "Zed", "--why", "x"], 1);
    assert!(
        err.contains("no contact shared with you matches 'Zed'"),
        "{err}"
    );
    let err = b.env.fails(&["intro", "ask", "Ada", "--why", "  "], 1);
    assert!(err.contains("error: --why is empty"), "{err}");
    assert!(list(&b).is_empty());

    let row = b.json(&["intro", "ask", "Ada", "--why", "we are hiring a CTO"]);
    let id = row["id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            row["direction"].as_str(),
            row["about"].as_str(),
            row["person"].as_str(),
            row["state"].as_str()
        ),
        (
            Some("asked-by-me"),
            Some("Ada Shared"),
            Some("Ann"),
            Some("asked")
        ),
        "{row}"
    );
    // Before Ben syncs, Ann knows nothing.
    assert!(list(&a).is_empty());

    let rep = synced(&b);
    assert_eq!(rep[0]["round_trips"], 1, "{rep}");

    // Ann sees the request, about her own contact, in list, due and digest.
    let l = list(&a);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(l[0]["id"], id.as_str());
    assert_eq!(l[0]["direction"], "asked-of-me");
    assert_eq!(l[0]["person"], "Ben");
    assert_eq!(l[0]["about"], "Ada Shared");
    assert_eq!(l[0]["contact"], ada.as_str());
    assert_eq!(l[0]["why"], "we are hiring a CTO");
    assert_eq!(l[0]["state"], "asked");
    let due = a.json(&["due"]);
    assert!(
        due.as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "introduction" && r["name"] == "Ada Shared"),
        "{due}"
    );
    let human = a.ok(&["due"]);
    assert!(
        human.contains("Ben asks for an introduction to Ada Shared"),
        "{human}"
    );
    let digest = a.json(&["digest"]);
    assert!(
        digest["introductions"][0]["why"]
            .as_str()
            .unwrap_or_default()
            .contains("Ben asks for an introduction to Ada Shared: we are hiring a CTO"),
        "{digest}"
    );

    // Wrong transitions, unknown ids, and answering one's own request are refused.
    let err = a.env.fails(&["intro", "made", &id[..8]], 1);
    assert!(
        err.contains("cannot mark as made an introduction that is asked"),
        "{err}"
    );
    let err = a.env.fails(&["intro", "outcome", &id[..8], "hi"], 1);
    assert!(err.contains("next step: accept or decline"), "{err}");
    let err = a.env.fails(&["intro", "accept", "ffffffff"], 1);
    assert!(err.contains("error: no introduction 'ffffffff'"), "{err}");
    let err = b.env.fails(&["intro", "accept", &id[..8]], 1);
    assert!(err.contains("only they can answer it"), "{err}");

    // Accepted: Ben sees it after his sync.
    a.ok(&["intro", "accept", &id[..8], "--note", "happy to"]);
    let err = a.env.fails(&["intro", "decline", &id[..8]], 1);
    assert!(
        err.contains("cannot decline an introduction that is accepted"),
        "{err}"
    );
    let rep = synced(&b);
    assert_eq!(rep[0]["intro_docs_received"], 1, "{rep}");
    let l = list(&b);
    assert_eq!(
        (l[0]["state"].as_str(), l[0]["note"].as_str()),
        (Some("accepted"), Some("happy to"))
    );
    assert_eq!(l[0]["accepted"], "2026-11-22");

    // Made: counted in Ann's ledger (a `gave` on Ada), no longer due.
    a.ok(&["intro", "made", &id[..8]]);
    let ledger = a.json(&["ledger"]);
    assert_eq!(ledger[0]["contact"], ada.as_str(), "{ledger}");
    assert_eq!(ledger[0]["gave"], 1, "{ledger}");
    let due = a.json(&["due"]).to_string();
    assert!(!due.contains("\"introduction\""), "{due}");
    // Ben's own contact for Ann (the person's name resolves to it): the introduction she made
    // counts there as `got`, once.
    let ann = b.add("Ann Mentor", &[]);
    assert!(b.json(&["ledger"]).as_array().unwrap().is_empty());
    synced(&b);
    assert_eq!(list(&b)[0]["state"], "made");
    let ledger = b.json(&["ledger"]);
    assert_eq!(ledger.as_array().unwrap().len(), 1, "{ledger}");
    assert_eq!(ledger[0]["contact"], ann.as_str(), "{ledger}");
    assert_eq!(
        (ledger[0]["got"].as_u64(), ledger[0]["gave"].as_u64()),
        (Some(1), Some(0))
    );
    let entry = b.json(&["ledger", &ann]).to_string();
    assert!(
        entry.contains("Ann introduced you to Ada Shared (we are hiring a CTO)")
            && entry.contains("2026-11-22"),
        "{entry}"
    );

    // Outcome.
    a.ok(&["intro", "outcome", &id[..8], "they", "met", "for", "coffee"]);
    synced(&b);
    let l = list(&b);
    assert_eq!(
        (l[0]["state"].as_str(), l[0]["outcome"].as_str()),
        (Some("outcome"), Some("they met for coffee"))
    );
    let human = b.ok(&["intro", "list"]);
    assert!(
        human.contains("Ada Shared") && human.contains("they met for coffee"),
        "{human}"
    );
    assert_eq!(
        b.json(&["ledger"])[0]["got"],
        1,
        "the outcome logs nothing more"
    );

    // A no-change reconnect: one round trip for the shares, one for the intro stream.
    let rep = synced(&b);
    assert_eq!(
        (
            rep[0]["round_trips"].as_u64(),
            rep[0]["intro_round_trips"].as_u64(),
            rep[0]["intro_docs_received"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{rep}"
    );

    // What Ann holds from Ben reveals nothing of Ben's vault; what Ben holds from Ann reveals
    // no contact id of Ann's and none of her vault's actors.
    let at_a = histories(&a.env.vault(), ShareTable::IntroReceived).join("\n");
    assert!(
        at_a.contains("we are hiring a CTO"),
        "positive control: {at_a}"
    );
    let mut b_private: Vec<String> = actors_of(&b.env.vault()).into_iter().collect();
    assert!(!b_private.is_empty());
    b_private.extend([zed.clone(), "AskerPrivate".into(), "CanaryAsker".into()]);
    for m in &b_private {
        assert!(!at_a.contains(m.as_str()), "{m} reached Ann: {at_a}");
    }
    let at_b = histories(&b.env.vault(), ShareTable::IntroReceived).join("\n");
    assert!(
        at_b.contains("they met for coffee"),
        "positive control: {at_b}"
    );
    let mut a_private: Vec<String> = actors_of(&a.env.vault()).into_iter().collect();
    a_private.push(ada.clone());
    for m in &a_private {
        assert!(!at_b.contains(m.as_str()), "{m} reached Ben: {at_b}");
    }
    drop(daemon);
}

#[test]
fn crafted_intro_writes_are_refused_and_reported() {
    let (a, b, _ada, daemon) = setup();
    let row = b.json(&["intro", "ask", "Ada", "--why", "a warm intro"]);
    let id = row["id"].as_str().unwrap().to_string();
    synced(&b);
    a.ok(&["intro", "accept", &id[..8]]);
    synced(&b);
    assert_eq!(list(&b)[0]["state"], "accepted");

    // Ben's kith changes Ann's answers document: Ann refuses it and reports it.
    let out = share_sync(&b, true);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("read-only"), "{out:?}");
    let l = a.run(&["intro", "list"]);
    assert!(
        l.stderr
            .contains("Ben tried to change an introduction document of yours 1 time"),
        "{}",
        l.stderr
    );
    for h in histories(&b.env.vault(), ShareTable::IntroReceived)
        .into_iter()
        .chain(histories(&a.env.vault(), ShareTable::IntroDocs))
    {
        assert!(!h.contains("TAMPERED"), "a refused write was stored: {h}");
    }
    assert_eq!(list(&b)[0]["state"], "accepted");

    // Ann's kith changes Ben's request while serving: Ben refuses it and reports it.
    daemon.stop();
    let mut serve = a.cmd(&["share", "serve"]);
    serve
        .env("KITH_TEST_INTRO_TAMPER", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut serve = serve.spawn().unwrap();
    let line = first_line(&mut serve);
    assert!(line.starts_with("serving shares"), "{line}");
    let out = share_sync(&b, false);
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("the other person tried to change your introduction request"),
        "{out:?}"
    );
    let l = b.run(&["intro", "list"]);
    assert!(
        l.stderr
            .contains("Ann tried to change an introduction document of yours 1 time"),
        "{}",
        l.stderr
    );
    for h in histories(&b.env.vault(), ShareTable::IntroDocs)
        .into_iter()
        .chain(histories(&a.env.vault(), ShareTable::IntroReceived))
    {
        assert!(!h.contains("TAMPERED"), "a refused write was stored: {h}");
    }
}

#[test]
fn intro_commands_refuse_bad_input_without_a_share() {
    let t = crate::env::TestEnv::new();
    t.add("Ada", &[]);
    let err = t.fails(&["intro", "ask", "Ada", "--why", "x"], 1);
    assert!(
        err.contains("error: no contact shared with you matches 'Ada'"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    let err = t.fails(&["intro", "accept", "abcd"], 1);
    assert!(err.contains("error: no introduction 'abcd'"), "{err}");
    let err = t.fails(&["intro", "made", "ab"], 1);
    assert!(err.contains("no introduction 'ab'"), "{err}");
    let out = t.ok(&["--json", "intro", "list"]);
    assert_eq!(out.trim(), "[]");
}

#[test]
fn the_web_page_lists_asks_and_answers_with_the_cli_rules() {
    let (a, b, _ada, daemon) = setup();
    let shared = b.json(&["shared"]);
    let pid = shared[0]["id"].as_str().unwrap().to_string();
    let s = crate::web::Server::start(&b.env);
    let page = s.get("/intros");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Ada Shared") && page.body.contains("Ann"),
        "{}",
        page.body
    );
    // An empty why: the CLI's message next to the field, nothing written.
    let cli = b.env.fails(&["intro", "ask", "Ada", "--why", " "], 1);
    let cli_msg = cli
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("error: ")
        .to_string();
    let r = s.post("/intros/ask", &[("contact", &pid), ("why", " ")]);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        crate::web::unescape(&r.body).contains(&cli_msg),
        "{cli_msg} in {}",
        r.body
    );
    assert!(r.body.contains("id=\"err-why\""), "{}", r.body);
    assert!(list(&b).is_empty());
    let r = s.post(
        "/intros/ask",
        &[("contact", &pid), ("why", "asked from the web")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let l = list(&b);
    assert_eq!(
        (l[0]["about"].as_str(), l[0]["why"].as_str()),
        (Some("Ada Shared"), Some("asked from the web"))
    );
    drop(s);
    synced(&b);
    // Ann answers on her page; a wrong step is refused with the CLI's message.
    let s = crate::web::Server::start(&a.env);
    let id = list(&a)[0]["id"].as_str().unwrap().to_string();
    assert!(s.get("/intros").body.contains("asked from the web"));
    let r = s.post("/intros/step", &[("id", &id), ("step", "made")]);
    assert_eq!(r.status, 422);
    assert!(
        crate::web::unescape(&r.body).contains("cannot mark as made an introduction that is asked"),
        "{}",
        r.body
    );
    let r = s.post(
        "/intros/step",
        &[("id", &id), ("step", "accept"), ("text", "gladly")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(list(&a)[0]["state"], "accepted");
    drop(s);
    synced(&b);
    assert_eq!(list(&b)[0]["note"], "gladly");
    drop(daemon);
}

#[test]
fn other_protocol_versions_are_served_without_intros_or_refused_clearly() {
    let (a, b, _ada, daemon) = setup();
    b.ok(&["intro", "ask", "Ada", "--why", "from an older kith"]);
    // A recipient speaking version 1 (an older kith): its shares are served, no intro stream.
    let out = share_sync_env(&b, &[("KITH_TEST_SHARE_VERSION", "1")]);
    assert_eq!(out.code, 0, "{out:?}");
    let rep: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (
            rep[0]["shares"].as_u64(),
            rep[0]["intro_round_trips"].as_u64()
        ),
        (Some(1), Some(0)),
        "{rep}"
    );
    assert!(list(&a).is_empty());
    // A version the owner does not speak: refused at once with a clear reason, no hang.
    let start = std::time::Instant::now();
    let out = share_sync_env(&b, &[("KITH_TEST_SHARE_VERSION", "3")]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("older share protocol"), "{out:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    // The current version delivers the request.
    synced(&b);
    assert_eq!(list(&a).len(), 1);
    // Removing the person forgets the introductions with them.
    a.ok(&["person", "remove", "Ben"]);
    assert!(list(&a).is_empty());
    drop(daemon);
}
