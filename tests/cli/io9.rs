//! Issue 9, import/export part: exports are byte-identical to golden files of a fixed vault,
//! an import builds each document in one pass yet gives the same documents and indexes as
//! editing them field by field would, and a large import leaves a compact vault file.

use std::path::{Path, PathBuf};

use crate::env::TestEnv;

fn export_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/export")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(export_fixtures().join(name)).expect("golden file")
}

/// The fixed vault: `fixtures/export/vault.json` (every import fixture plus notes, interactions,
/// a reminder, links, tags, a cadence and a birthday) imported with its document ids.
fn golden_vault() -> TestEnv {
    let t = TestEnv::new();
    let f = export_fixtures().join("vault.json");
    let out = t.ok(&["import", f.to_str().unwrap()]);
    assert_eq!(out, "", "import prints its summary on stderr");
    t
}

#[test]
fn exports_are_byte_identical_to_the_golden_files() {
    let t = golden_vault();
    // JSON: the export of an imported export is the file itself (ids and stamps are kept).
    let json = t.ok(&["export", "--format", "json"]);
    assert!(json.len() > 30_000, "the golden vault is not empty");
    assert!(
        json == fixture("vault.json"),
        "JSON export differs from fixtures/export/vault.json"
    );
    // vCard 4.0 and 3.0, written when the export was still built in memory.
    let v4 = t.ok(&["export", "--format", "vcard"]);
    assert!(v4.matches("BEGIN:VCARD").count() >= 30, "{v4}");
    assert!(
        v4 == fixture("vault.vcf"),
        "vCard export differs from fixtures/export/vault.vcf"
    );
    let v3 = t.ok(&["export", "--format", "vcard", "--vcard3"]);
    assert!(
        v3 == fixture("vault-3.0.vcf"),
        "vCard 3.0 export differs from fixtures/export/vault-3.0.vcf"
    );
    // To a file: the same bytes.
    for (fmt, golden) in [("json", "vault.json"), ("vcard", "vault.vcf")] {
        let out = t.root().join(format!("out.{fmt}"));
        t.ok(&["export", "--format", fmt, "-o", out.to_str().unwrap()]);
        assert!(
            std::fs::read_to_string(&out).unwrap() == fixture(golden),
            "export -o {fmt} differs from {golden}"
        );
    }
    // A filtered vCard export is the matching subset of the golden cards, in the same order.
    let math = t.ok(&["export", "--format", "vcard", "--tag", "math"]);
    assert_eq!(math.matches("BEGIN:VCARD").count(), 1, "{math}");
    assert!(math.contains("FN:Ada Lovelace"), "{math}");
    assert!(fixture("vault.vcf").contains(&math), "{math}");
}

/// `n` cards with distinct names (in reverse name order in the file), emails and UIDs, every
/// fifth with a note.
fn cards(n: usize) -> String {
    let mut s = String::new();
    for i in (0..n).rev() {
        s.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:io9-{i:04}\r\nFN:Person {i:04}\r\nN:{i:04};Person;;;\r\nEMAIL:p{i}@example.com\r\nTEL:+1 555 {i:07}\r\nORG:Org {}\r\n",
            i % 7
        ));
        if i % 5 == 0 {
            s.push_str(&format!("NOTE:Note about {i}\\nsecond line\r\n"));
        }
        s.push_str("END:VCARD\r\n");
    }
    s
}

/// Enough contacts that export builds cards and loads documents on two threads: the output is
/// still in order, complete, and a fixed point of import.
#[test]
fn large_exports_stay_in_order_and_complete() {
    let t = TestEnv::new();
    let f = t.root().join("cards.vcf");
    std::fs::write(&f, cards(300)).unwrap();
    let s = t.json(&["import", f.to_str().unwrap()]);
    assert_eq!(s["created"], 300, "{s}");
    // vCard: `kith list` order (by name), every card once.
    let v = t.ok(&["export", "--format", "vcard"]);
    let uids: Vec<&str> = v.lines().filter_map(|l| l.strip_prefix("UID:")).collect();
    let want: Vec<String> = (0..300).map(|i| format!("io9-{i:04}")).collect();
    assert_eq!(uids, want);
    assert_eq!(v.matches("NOTE:Note about").count(), 60);
    // JSON: ids ascending, every document once; importing it elsewhere gives it back.
    let j = t.ok(&["export", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&j).unwrap();
    let ids: Vec<&str> = doc["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 300);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascending");
    assert_eq!(doc["notes"].as_array().unwrap().len(), 60);
    let other = TestEnv::new();
    let jf = other.root().join("vault.json");
    std::fs::write(&jf, &j).unwrap();
    other.ok(&["import", jf.to_str().unwrap()]);
    assert!(
        other.ok(&["export", "--format", "json"]) == j,
        "JSON export is a fixed point"
    );
    assert!(other.ok(&["export", "--format", "vcard"]) == v);
}

/// A vault built by many small write transactions (as a sync or the benchmark builder writes)
/// is mostly free space; `compact_if_sparse`, which a large import or restore runs by itself,
/// repacks and shrinks it to at most twice its stored bytes without changing a row, and leaves a compact
/// file alone.
#[test]
fn a_sparse_vault_is_compacted_without_changing_a_row() {
    use kith::store::Vault;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.redb");
    let mut vault = Vault::open(&path).unwrap();
    crate::ioperf::small_writes(&vault, 0, 60);
    let rows = vault.dump_raw().unwrap();
    let (before, after) = vault.compact_if_sparse().unwrap();
    assert!(
        before.sparse() && before.underfilled(),
        "small transactions leave a sparse file: {before:?}"
    );
    let after = after.expect("a sparse vault is compacted");
    assert!(!after.sparse(), "{after:?}");
    assert!(after.file <= 2 * after.stored, "{after:?}");
    assert!(after.file * 2 < before.file, "{before:?} -> {after:?}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        after.file,
        "the file itself shrank"
    );
    assert!(vault.dump_raw().unwrap() == rows, "every row is unchanged");
    // Already compact: nothing to do.
    let (again, none) = vault.compact_if_sparse().unwrap();
    assert_eq!(none, None, "{again:?}");
    drop(vault);
    assert!(Vault::open(&path).unwrap().dump_raw().unwrap() == rows);
}
