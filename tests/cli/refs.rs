//! How a contact REF resolves: id prefix, exact name, email, unique word prefix.

use crate::env::{assert_one_error, TestEnv};

fn name_of(t: &TestEnv, reference: &str) -> String {
    t.json(&["show", reference])["name"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_ref_is_an_id_prefix_a_name_an_email_or_word_prefixes() {
    let t = TestEnv::new();
    let ada = t.add("Ada Lovelace", &["-e", "ada@example.com"]);
    t.add("Ada Byron", &["-e", "byron@example.org"]);
    t.add("Zoë Ångström", &[]);
    assert_eq!(name_of(&t, &ada[..6]), "Ada Lovelace");
    assert_eq!(name_of(&t, &ada), "Ada Lovelace");
    assert_eq!(name_of(&t, "Ada Lovelace"), "Ada Lovelace");
    assert_eq!(name_of(&t, "ada lovelace"), "Ada Lovelace");
    assert_eq!(name_of(&t, "ada@example.com"), "Ada Lovelace");
    assert_eq!(name_of(&t, "ADA@EXAMPLE.COM"), "Ada Lovelace");
    assert_eq!(name_of(&t, "lovelac"), "Ada Lovelace");
    assert_eq!(name_of(&t, "ad lov"), "Ada Lovelace");
    assert_eq!(name_of(&t, "byron@"), "Ada Byron");
    assert_eq!(name_of(&t, "zoe angstrom"), "Zoë Ångström");
    assert_eq!(name_of(&t, "ZOË"), "Zoë Ångström");
}

#[test]
fn an_ambiguous_ref_lists_the_candidates() {
    let t = TestEnv::new();
    let a = t.add("Ada Lovelace", &["-e", "ada@example.com"]);
    let b = t.add("Ada Byron", &[]);
    let err = t.fails(&["show", "ada"], 1);
    assert_one_error(&err, "'ada' matches 2 contacts");
    assert!(
        err.contains(&format!("{} Ada Lovelace <ada@example.com>", &a[..8])),
        "{err}"
    );
    assert!(err.contains(&format!("{} Ada Byron", &b[..8])), "{err}");
    // Every command resolves the same way.
    assert_one_error(
        &t.fails(&["note", "ada", "a note"], 1),
        "matches 2 contacts",
    );
    assert_one_error(&t.fails(&["timeline", "ada"], 1), "matches 2 contacts");
    crate::rough::search_finds_nothing(&t, &["note"]);
}

#[test]
fn no_match_suggests_the_closest_names() {
    let t = TestEnv::new();
    t.add("Ada Lovelace", &[]);
    t.add("Grace Hopper", &[]);
    for typo in ["Ada Lovelase", "lovelase"] {
        let err = t.fails(&["show", typo], 1);
        assert_one_error(&err, &format!("no contact matches '{typo}'"));
        let hint = err.lines().nth(1).unwrap_or_default();
        assert!(
            hint.contains("did you mean") && hint.contains("Ada Lovelace"),
            "{err}"
        );
        assert!(!hint.contains("Grace Hopper"), "{err}");
    }
    let err = t.fails(&["show", "0000ffff"], 1);
    assert_one_error(&err, "no contact matches '0000ffff'");
}
