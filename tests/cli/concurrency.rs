//! Several `kith` processes on one vault at once.

use std::process::Child;

use crate::env::{finish, TestEnv};

fn wait_all(children: Vec<(String, Child)>) {
    for (what, c) in children {
        let o = finish(c.wait_with_output().expect("wait"));
        assert_eq!(o.code, 0, "{what}: {o:#?}");
    }
}

#[test]
fn parallel_writers_lose_nothing() {
    let t = TestEnv::new();
    t.add("Hub Person", &[]);
    let mut children = Vec::new();
    for i in 0..25 {
        let add = format!("Parallel Person{i:02}");
        children.push((add.clone(), t.cmd(&["add", &add]).spawn().unwrap()));
        let note = format!("concurrent note number{i:02}");
        children.push((
            note.clone(),
            t.cmd(&["note", "hub", &note]).spawn().unwrap(),
        ));
    }
    wait_all(children);
    let names = t.names(&[]);
    assert_eq!(names.len(), 26, "{names:?}");
    for i in 0..25 {
        assert!(
            names.contains(&format!("Parallel Person{i:02}")),
            "lost Person{i:02}"
        );
    }
    let v = t.json(&["search", "parallel", "-n", "100"]);
    assert_eq!(v["total"], 25, "{v}");
    let v = t.json(&["search", "concurrent", "note", "-n", "100"]);
    assert_eq!(v["total"], 25, "{v}");
    assert_eq!(t.json(&["timeline", "hub"]).as_array().unwrap().len(), 25);
    for i in [0, 12, 24] {
        let v = t.json(&["search", &format!("number{i:02}")]);
        assert_eq!(v["total"], 1, "number{i:02}: {v}");
    }
}

#[test]
fn readers_succeed_while_writers_write() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    let mut children = Vec::new();
    for i in 0..15 {
        children.push((
            format!("add {i}"),
            t.cmd(&["add", &format!("Writer {i}")]).spawn().unwrap(),
        ));
        children.push((
            format!("list {i}"),
            t.cmd(&["list", "--json"]).spawn().unwrap(),
        ));
        children.push((
            format!("search {i}"),
            t.cmd(&["search", "writer"]).spawn().unwrap(),
        ));
    }
    let mut lists = Vec::new();
    for (what, c) in children {
        let o = finish(c.wait_with_output().expect("wait"));
        // A search that runs before the first writer commits matches nothing: exit 1, as grep.
        let nothing_yet = what.starts_with("search") && o.code == 1 && o.stderr == "no matches\n";
        assert!(o.code == 0 || nothing_yet, "{what}: {o:#?}");
        if what.starts_with("list") {
            let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("valid JSON");
            lists.push(v.as_array().unwrap().len());
        }
    }
    // Each reader saw a consistent snapshot: Ada plus some of the writers.
    assert!(lists.iter().all(|n| (1..=16).contains(n)), "{lists:?}");
    assert_eq!(t.names(&[]).len(), 16);
}

// Regression: two `kith` processes opening a fresh home at the same time used to race on the
// vault's creation (one saw the other's half-created file and called it foreign). Vaults are
// now created under a temporary name and linked into place.
#[test]
fn parallel_writers_on_a_fresh_home_lose_nothing() {
    for round in 0..5 {
        let t = TestEnv::new();
        let children = vec![
            (
                "add A".to_string(),
                t.cmd(&["add", "Alpha"]).spawn().unwrap(),
            ),
            (
                "add B".to_string(),
                t.cmd(&["add", "Beta"]).spawn().unwrap(),
            ),
        ];
        wait_all(children);
        assert_eq!(t.names(&[]), ["Alpha", "Beta"], "round {round}");
    }
}
