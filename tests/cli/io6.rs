//! Issue 9, import speed (branch io6): new documents built on worker threads and stored in
//! batches give exactly the vault the sequential path (each document saved and indexed in
//! turn) gives.

use std::fmt::Write as _;

use kith::store::Vault;

use crate::env::TestEnv;

/// `n` vCards, with repeats that must match a card earlier in the same file (by UID, by email
/// and name, by phone and name) while that card's contact may still be being built, notes,
/// and a card linking to another.
fn cards(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str("BEGIN:VCARD\r\nVERSION:3.0\r\n");
        let _ = write!(
            s,
            "UID:io6-{i}\r\nFN:Person {i} Example\r\nN:Example;Person {i};;;\r\n"
        );
        let _ = write!(s, "EMAIL;TYPE=WORK:person{i}@example.com\r\n");
        let _ = write!(s, "TEL;TYPE=CELL:+1 555 {i:07}\r\n");
        let _ = write!(s, "ORG:Org {}\r\nTITLE:Engineer\r\n", i % 7);
        if i % 5 == 0 {
            let _ = write!(s, "NOTE:Met at event {i}\\nfollow up\r\n");
        }
        if i % 11 == 0 && i > 0 {
            let _ = write!(s, "X-KITH-LINK:mentor;io6-{}\r\n", i - 1);
        }
        s.push_str("END:VCARD\r\n");
        if i % 9 == 4 {
            // Same UID right after: the contact just created is filled in.
            let _ = write!(
                s,
                "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:io6-{i}\r\nFN:Person {i} Example\r\nNICKNAME:P{i}\r\nEND:VCARD\r\n"
            );
        }
        if i % 13 == 6 {
            // No UID, same email and name: the same person.
            let _ = write!(
                s,
                "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {i} Example\r\nEMAIL:PERSON{i}@example.com\r\nURL:https://example.com/{i}\r\nEND:VCARD\r\n"
            );
        }
        if i % 17 == 8 {
            // No UID, same phone, another name: another person.
            let _ = write!(
                s,
                "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Housemate {i}\r\nTEL:+1 555 {i:07}\r\nNOTE:shares a phone\r\nEND:VCARD\r\n"
            );
        }
    }
    s
}

/// LinkedIn rows for some of the same people (matched by email) and new ones.
fn linkedin(n: usize) -> String {
    let mut s = String::from(
        "Notes:\n\"x\"\n\nFirst Name,Last Name,URL,Email Address,Company,Position,Connected On\n",
    );
    for i in (0..n).step_by(3) {
        let _ = writeln!(
            s,
            "Person {i},Example,https://www.linkedin.com/in/p-{i},person{i}@example.com,Org,Engineer,{:02} Mar 2021",
            1 + i % 28
        );
        let _ = writeln!(
            s,
            "New {i},Connection,https://www.linkedin.com/in/n-{i},,Acme,Manager,{:02} Apr 2022",
            1 + i % 28
        );
    }
    s
}

/// Every row of every table, but the size recorded at the last space check (the file's page
/// layout may differ with the order rows were inserted in; the rows may not).
fn rows(vault: &std::path::Path) -> kith::store::TableDump {
    let v = Vault::open(vault).unwrap();
    let mut d = v.dump_raw().unwrap();
    if let Some(meta) = d.get_mut("meta") {
        meta.retain(|(k, _)| k.as_slice() != kith::store::SPACE_CHECKED.as_bytes());
    }
    d
}

#[test]
fn an_import_built_on_worker_threads_equals_the_sequential_one() {
    let n = 700;
    let seq = TestEnv::new();
    seq.add("Seed Person", &["--email", "person3@example.com"]);
    let par = TestEnv::new();
    std::fs::create_dir_all(par.home()).unwrap();
    // The same vault (same actor, same first contact) in both homes.
    std::fs::copy(seq.vault(), par.vault()).unwrap();
    let vcf = seq.root().join("cards.vcf");
    let csv = seq.root().join("Connections.csv");
    std::fs::write(&vcf, cards(n)).unwrap();
    std::fs::write(&csv, linkedin(n)).unwrap();
    let args = [
        "--json",
        "import",
        vcf.to_str().unwrap(),
        csv.to_str().unwrap(),
    ];
    let a = seq.run_with(
        &args,
        &[
            ("KITH_TEST_ID_SEED", "42"),
            ("KITH_TEST_IMPORT_SEQUENTIAL", "1"),
        ],
        None,
    );
    let b = par.run_with(&args, &[("KITH_TEST_ID_SEED", "42")], None);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let summary: serde_json::Value = serde_json::from_str(&a.stdout).unwrap();
    // Cards: n, plus the repeats; the repeats and the LinkedIn rows of known people update.
    let housemates = (0..n).filter(|i| i % 17 == 8).count();
    assert_eq!(
        summary["created"],
        n + housemates + n.div_ceil(3),
        "{summary}"
    );
    assert!(summary["updated"].as_u64().unwrap() > 100, "{summary}");
    let other: serde_json::Value = serde_json::from_str(&b.stdout).unwrap();
    for k in ["created", "updated", "unchanged"] {
        assert_eq!(summary[k], other[k], "{k}");
    }
    assert!(
        a.stdout == b.stdout,
        "the same changes, with the same ids, in the same order"
    );

    let (ra, rb) = (rows(&seq.vault()), rows(&par.vault()));
    assert_eq!(ra.keys().collect::<Vec<_>>(), rb.keys().collect::<Vec<_>>());
    let docs = ra["docs"].len();
    assert!(docs > n + n / 3, "{docs} documents");
    for (table, rows) in &ra {
        assert!(
            rows == &rb[table],
            "table {table} differs: {} rows sequential, {} parallel",
            rows.len(),
            rb[table].len()
        );
    }
    // And the derived tables are what a reindex rebuilds.
    let v = Vault::open(&par.vault()).unwrap();
    assert!(v.dump_derived().unwrap() == v.dump_rebuilt().unwrap());
}

/// A LinkedIn export of `n` rows shaped like the benchmark's (half of them with an email).
fn connections(n: usize) -> String {
    let first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Zoë"];
    let last = [
        "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Müller",
    ];
    let orgs = [
        "Analytical Engines",
        "Bell Labs",
        "Kernel, Inc.",
        "ETH Zürich",
    ];
    let months = ["Jan", "Apr", "Jul", "Oct"];
    let mut s = String::from(
        "Notes:\n\"Some email addresses may be missing.\"\n\nFirst Name,Last Name,URL,Email Address,Company,Position,Connected On\n",
    );
    for i in 0..n {
        let (f, l) = (first[i % 6], last[(i / 6) % 6]);
        let email = if i % 2 == 0 {
            format!("{}.{i}@example.org", f.to_lowercase())
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{f},{l},https://www.linkedin.com/in/{}-{i},{email},\"{}\",Engineer,{:02} {} {}",
            l.to_lowercase(),
            orgs[i % 4],
            1 + i % 28,
            months[i % 4],
            2010 + i % 15
        );
    }
    s
}

/// The size of the JSON export written compactly: the reference for the vault's size.
fn compact_json(t: &TestEnv) -> (usize, serde_json::Value) {
    let v: serde_json::Value =
        serde_json::from_str(&t.ok(&["export", "--format", "json"])).unwrap();
    (serde_json::to_vec(&v).unwrap().len(), v)
}

/// Issue 9's row "vault <= 3x the JSON without any manual step", after a LinkedIn import: the
/// import writes its documents in random id order (B-tree leaves about two thirds full), and
/// the space check that ends a large import repacks them. 3,000 rows make a file of about
/// 8 MB before that check, well above the 4 MiB below which nothing is compacted.
#[test]
fn a_linkedin_import_leaves_a_vault_at_most_three_times_its_json() {
    let t = TestEnv::new();
    let csv = t.root().join("Connections.csv");
    std::fs::write(&csv, connections(3000)).unwrap();
    let v = t.json(&["import", csv.to_str().unwrap()]);
    assert_eq!(v["created"], 3000, "{v}");
    let vault = std::fs::metadata(t.vault()).unwrap().len() as usize;
    let (json, export) = compact_json(&t);
    assert_eq!(export["contacts"].as_array().unwrap().len(), 3000);
    assert_eq!(export["interactions"].as_array().unwrap().len(), 3000);
    assert!(json > 2_000_000, "{json} bytes of JSON");
    let ratio = vault as f64 / json as f64;
    assert!(
        ratio <= 3.0,
        "vault {vault} B is {ratio:.2}x its compact JSON ({json} B)"
    );
    // The check ran on a file above the floor and left a dense one.
    let s = Vault::open(&t.vault()).unwrap().space().unwrap();
    assert!(s.allocated * 100 <= 115 * s.stored, "{s:?}");
}
