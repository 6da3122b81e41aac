//! The test layout: one integration-test binary. Every `.rs` file in this directory is a module
//! declared in `main.rs` (a file that is not would silently never run), and no `.rs` file sits
//! directly in `tests/` (it would be a second test binary, linking the package again).

use std::path::Path;

/// The `.rs` files of `dir` that `main_rs` does not declare as `mod NAME;`.
fn undeclared(dir: &Path, main_rs: &str) -> Vec<String> {
    let declared: Vec<&str> = main_rs
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    let mut missing = Vec::new();
    for e in std::fs::read_dir(dir).expect("read the test directory") {
        let path = e.expect("directory entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|x| x == "rs")
            && stem != "main"
            && !declared.contains(&stem)
        {
            missing.push(stem.to_string());
        }
    }
    missing.sort();
    missing
}

#[test]
fn every_test_file_is_a_declared_module() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli");
    let main_rs = std::fs::read_to_string(dir.join("main.rs")).expect("read main.rs");
    let missing = undeclared(&dir, &main_rs);
    assert!(
        missing.is_empty(),
        "tests/cli/{{{}}}.rs are not declared in tests/cli/main.rs: add `mod NAME;` there",
        missing.join(",")
    );
}

#[test]
fn no_second_test_binary() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let stray: Vec<String> = std::fs::read_dir(&tests)
        .expect("read tests/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        stray.is_empty(),
        "{stray:?} would be separate test binaries: make them modules of tests/cli/"
    );
}

/// The guard itself can fail: a file missing from `main.rs` is reported.
#[test]
fn the_guard_reports_an_undeclared_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    for f in ["main.rs", "a.rs", "b.rs", "notes.txt"] {
        std::fs::write(dir.path().join(f), "").expect("write");
    }
    assert_eq!(undeclared(dir.path(), "mod a;\n"), vec!["b".to_string()]);
    assert!(undeclared(dir.path(), "mod a;\nmod b;\n").is_empty());
}
