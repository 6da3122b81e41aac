//! Received contacts are searched by the text folded when their row was stored (`ix_received`,
//! format 12: the folded name and the search terms of name, org, title, help and tags), so the
//! row must follow every later share sync; `kith check` on a vault of an older format says so
//! and how to upgrade it instead of failing on a table the older format lacks.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

use crate::env::TestEnv;
use crate::sync::{Daemon, Dev};
use crate::web::Server;
use crate::web5::names;
use crate::webui::{owner, pair_persons, share_slice_with_ben};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const RECEIVED_ROWS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("ix_received");

fn share_sync(b: &Dev, a: &Dev) {
    let _daemon = Daemon::start(a);
    let out = b.run(&["share", "sync"]);
    assert_eq!(out.code, 0, "share sync: {}", out.stderr);
}

/// `(name, through)` of each row of `kith who-knows QUERY` (none when nobody matches).
fn who(dev: &Dev, query: &str) -> Vec<(String, String)> {
    let out = dev.run(&["--json", "who-knows", query]);
    if out.code == 1 && out.stderr.contains("nobody known matches") {
        return Vec::new();
    }
    assert_eq!(out.code, 0, "who-knows {query}: {}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["through"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The names of the received contacts `kith search QUERY` lists (none when it exits 1).
fn shared_hits(dev: &Dev, query: &str) -> Vec<String> {
    let out = dev.run(&["--json", "search", query]);
    if out.code == 1 {
        return Vec::new();
    }
    assert_eq!(out.code, 0, "search {query}: {}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    names(&v["shared"])
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_received_contact_is_found_by_its_new_words_after_a_later_share_sync() {
    let a = owner();
    let b = Dev::new("ben");
    pair_persons(&a, "Ben", &b, "Ann");
    share_slice_with_ben(&a);
    share_sync(&b, &a);
    assert_eq!(who(&b, "acme"), pairs(&[("Ada Shared", "Ann")]));
    assert_eq!(shared_hits(&b, "acme"), ["Ada Shared"]);
    assert_eq!(
        names(&b.json(&["shared"])),
        ["Ada Shared", "Carol Slice"],
        "by folded name"
    );

    // Ann changes what the slice shows of Ada: organisation, help, and a name that now sorts
    // after Carol's (accented: found by its folded form).
    a.ok(&["set", "Ada Shared", "org", "Zénith Labs"]);
    a.ok(&["set", "Ada Shared", "help", "tuning harpsichords"]);
    a.ok(&["set", "Ada Shared", "name", "Zoë Shared"]);
    share_sync(&b, &a);

    // Found by the new words, accent-insensitively, and no longer by the old ones.
    for q in ["zenith", "ZÉNITH", "harpsichord", "labs"] {
        assert_eq!(who(&b, q), pairs(&[("Zoë Shared", "Ann")]), "who-knows {q}");
    }
    for q in ["acme", "analysts"] {
        assert_eq!(who(&b, q), Vec::<(String, String)>::new(), "who-knows {q}");
        assert_eq!(shared_hits(&b, q), Vec::<String>::new(), "search {q}");
    }
    for q in ["zoe", "zenith", "harpsichords"] {
        assert_eq!(shared_hits(&b, q), ["Zoë Shared"], "search {q}");
    }
    assert_eq!(shared_hits(&b, "ada"), Vec::<String>::new());
    // Sorted by the new folded name.
    assert_eq!(names(&b.json(&["shared"])), ["Carol Slice", "Zoë Shared"]);

    // The web pages read the same rows, and link each row to its own page.
    let shared = b.json(&["shared"]);
    let href = format!(
        "/shared/{}/{}",
        shared[1]["share"].as_str().unwrap(),
        shared[1]["id"].as_str().unwrap()
    );
    let s = Server::start(&b.env);
    let page = s.get("/who-knows?q=zenith");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Zoë Shared") && page.body.contains(&format!("href=\"{href}\"")),
        "{}",
        page.body
    );
    let page = s.get("/who-knows?q=acme");
    assert!(
        page.body.contains("id=\"who-none\"") && !page.body.contains("Zoë Shared"),
        "{}",
        page.body
    );
    let page = s.get("/?q=harpsichord");
    assert!(
        page.body.contains("In slices shared with you") && page.body.contains(&href),
        "{}",
        page.body
    );
    assert!(!s.get("/?q=acme").body.contains("Zoë"));
    drop(s);
    // The stored text equals a rebuild.
    b.ok(&["check"]);
}

/// A slice received from "Ann" (share `[9; 16]`, fields name and org), written straight into
/// `t`'s vault: its record and one document per `(pseudonym, name)`, each with org Globex.
fn receive_from_ann(t: &TestEnv, contacts: &[([u8; 16], &str)]) {
    use kith::app::share::Received;
    use kith::store::{ShareTable, Vault};
    use kith_core::share::{Field, PValue, Projection};

    let share = [9u8; 16];
    let v = Vault::open(&t.vault()).unwrap();
    let rec = Received {
        id: kith_core::DocId(share),
        from: "ab".repeat(32),
        epoch: 1,
        actors: vec!["07".repeat(16)],
        fields: vec![Field::Name, Field::Org],
        updated: 0,
        from_name: "Ann".into(),
        revoked: false,
        stored: 0,
    };
    let actor = automerge::ActorId::from([7u8; 16].as_slice());
    v.write(0, |w| {
        w.share_put(
            ShareTable::ReceivedShares,
            &share,
            &serde_json::to_vec(&rec).unwrap(),
        )?;
        for (pid, name) in contacts {
            let mut p = Projection::new();
            p.insert("name".into(), PValue::Str((*name).into()));
            p.insert("org".into(), PValue::Str("Globex".into()));
            let mut doc = kith_core::share::build_projection(&p, actor.clone()).unwrap();
            w.share_put(ShareTable::Received, &[share, *pid].concat(), &doc.save())?;
        }
        Ok::<_, kith::store::StoreError>(())
    })
    .unwrap();
}

/// Makes `t`'s vault look as an older kith left it: format `format`, and for format 9 no
/// `ix_received` at all, for format 11 the received row as format 11 encoded it (the
/// projection only: `[("name", "Zed Received"), ("org", "Globex")]`). The web tests of
/// format 9 use it too.
pub(crate) fn make_older(t: &TestEnv, format: u32) {
    let share = [9u8; 16];
    receive_from_ann(t, &[([1; 16], "Zed Received")]);
    let mut b = redb::Builder::new();
    b.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
    let db = b.open(t.vault()).unwrap();
    let w = db.begin_write().unwrap();
    if format < 10 {
        assert!(
            w.delete_table(RECEIVED_ROWS).unwrap(),
            "ix_received existed"
        );
    } else {
        let mut old = vec![2u8];
        for (k, v) in [("name", "Zed Received"), ("org", "Globex")] {
            old.push(k.len() as u8);
            old.extend_from_slice(k.as_bytes());
            old.push(0);
            old.push(v.len() as u8);
            old.extend_from_slice(v.as_bytes());
        }
        let mut rows = w.open_table(RECEIVED_ROWS).unwrap();
        let key = [share, [1; 16]].concat();
        let new = rows.get(key.as_slice()).unwrap().unwrap().value().to_vec();
        assert!(
            new.starts_with(&old) && new.len() > old.len(),
            "a format 12 row is the format 11 row and then its text"
        );
        rows.insert(key.as_slice(), old.as_slice()).unwrap();
    }
    w.open_table(META)
        .unwrap()
        .insert("format", format.to_le_bytes().as_slice())
        .unwrap();
    w.commit().unwrap();
}

/// The bytes of the received row `make_older` wrote (`None` without the table or the row).
fn received_row(t: &TestEnv) -> Option<Vec<u8>> {
    let mut b = redb::Builder::new();
    b.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
    let db = b.open(t.vault()).unwrap();
    let r = db.begin_read().unwrap();
    let rows = r.open_table(RECEIVED_ROWS).ok()?;
    let key = [[9u8; 16], [1; 16]].concat();
    let v = rows.get(key.as_slice()).unwrap()?;
    Some(v.value().to_vec())
}

fn format_of(t: &TestEnv) -> u32 {
    let mut b = redb::Builder::new();
    b.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
    let db = b.open(t.vault()).unwrap();
    let r = db.begin_read().unwrap();
    let v = r.open_table(META).unwrap().get("format").unwrap().unwrap();
    u32::from_le_bytes(v.value().try_into().unwrap())
}

#[test]
fn check_on_an_older_format_says_how_to_upgrade_and_any_command_upgrades_it() {
    for format in [9u32, 11] {
        let t = TestEnv::new();
        t.add("Olive Own", &["--org", "Globex"]);
        make_older(&t, format);
        let before = received_row(&t);

        // `check` examines what it can, says the format is older and how to upgrade, and
        // changes nothing.
        let o = t.run(&["check"]);
        assert_eq!(o.code, 0, "format {format}: {} {}", o.stdout, o.stderr);
        assert!(o.stdout.starts_with("ok: "), "{}", o.stdout);
        let why = format!(
            "the vault is in format {format}, older than this kith's format {}",
            kith::store::FORMAT_VERSION
        );
        assert!(
            o.stderr.contains(&why) && o.stderr.contains("`kith list`"),
            "{}",
            o.stderr
        );
        assert!(!o.stderr.contains("does not exist"), "{}", o.stderr);
        let j = t.json(&["check"]);
        assert_eq!(j["ok"], true, "{j}");
        assert_eq!(j["problems"], serde_json::json!([]), "{j}");
        assert!(j["skipped"][0].as_str().unwrap().contains(&why), "{j}");
        // Not migrated: the format and the old received row are as they were.
        assert_eq!(format_of(&t), format);
        assert_eq!(received_row(&t), before);

        // A read command migrates it and reads the rebuilt row.
        let shared = t.json(&["shared"]);
        assert_eq!(names(&shared), ["Zed Received"]);
        assert_eq!(shared[0]["values"]["org"], "Globex");
        assert_eq!(format_of(&t), kith::store::FORMAT_VERSION);
        let found = t.json(&["who-knows", "globex"]);
        let mut rows: Vec<String> = names(&found);
        rows.sort();
        assert_eq!(rows, ["Olive Own", "Zed Received"]);
        let o = t.run(&["check"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(!o.stderr.contains("older"), "{}", o.stderr);
        assert_eq!(t.json(&["check"])["skipped"], serde_json::json!([]));
    }
}

#[test]
fn who_knows_links_each_received_row_to_its_own_contact() {
    // Two received contacts whose pseudonyms share their first 8 hex digits (the short id
    // the CLI prints): each row of the page must still link to its own contact.
    let t = TestEnv::new();
    let share = [9u8; 16];
    let pid = |n: u8| {
        let mut p = [0u8; 16];
        p[8] = n;
        p
    };
    receive_from_ann(&t, &[(pid(1), "Abe First"), (pid(2), "Bea Second")]);
    let hex = |b: [u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let s = Server::start(&t);
    let page = s.get("/who-knows?q=globex");
    assert_eq!(page.status, 200, "{}", page.body);
    for (n, name) in [(1u8, "Abe First"), (2, "Bea Second")] {
        let link = format!(
            "<a href=\"/shared/{}/{}\">{name}</a>",
            hex(share),
            hex(pid(n))
        );
        assert!(page.body.contains(&link), "{link} in {}", page.body);
    }
}
