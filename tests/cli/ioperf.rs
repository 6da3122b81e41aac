//! Issue 9 (import/export speed and vault size), the parts `io9.rs` does not cover: a vault
//! written by many small transactions is kept compact without any manual step.

use kith::store::{Vault, SPACE_CHECKED};
use kith_core::model::{self, Contact, Labeled};

/// Writes `batches` transactions of 50 contacts each through one handle (as a builder or a
/// sync does).
pub(crate) fn small_writes(vault: &Vault, from: usize, batches: usize) {
    for batch in from..from + batches {
        vault
            .write(1_700_000_000_000, |w| -> kith::store::Result<()> {
                for i in 0..50 {
                    let n = batch * 50 + i;
                    let mut l = w.create();
                    let mut c = Contact {
                        name: format!("Person {n} of the common-words society"),
                        ..Default::default()
                    };
                    c.emails.insert(
                        "e".into(),
                        Labeled {
                            value: format!("p{n}@example.com"),
                            label: String::new(),
                        },
                    );
                    model::write_contact(&mut l.doc, &c, 1).unwrap();
                    w.save(l)?;
                }
                Ok(())
            })
            .unwrap();
    }
}

/// Many small write transactions (a builder, a sync, many commands) leave a file that is mostly
/// free pages; when the handle that grew it is dropped, the vault checks its space and
/// compacts, with every document and index row unchanged. A handle that only read is left
/// alone.
#[test]
fn a_vault_grown_by_small_writes_is_compacted_when_the_writer_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.redb");
    let vault = Vault::open(&path).unwrap();
    small_writes(&vault, 0, 60);
    let before = vault.space().unwrap();
    assert!(
        before.sparse() && before.underfilled(),
        "small transactions leave a sparse file: {before:?}"
    );
    let mut rows = vault.dump_raw().unwrap();
    drop(vault);

    let vault = Vault::open(&path).unwrap();
    let after = vault.space().unwrap();
    assert!(!after.sparse(), "{after:?}");
    assert!(after.file <= 2 * after.stored, "{after:?}");
    assert!(after.file * 2 < before.file, "{before:?} -> {after:?}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), after.file);
    // Every row is unchanged; the only new one records the size at this check.
    let mut now = vault.dump_raw().unwrap();
    let meta = |d: &mut kith::store::TableDump| d.remove("meta").expect("meta table");
    let (old_meta, new_meta) = (meta(&mut rows), meta(&mut now));
    assert!(now == rows, "documents and indexes unchanged");
    assert_eq!(new_meta.len(), old_meta.len() + 1, "one meta row added");
    let checked = |meta: &[(Vec<u8>, Vec<u8>)]| {
        meta.iter()
            .find(|(k, _)| k.as_slice() == SPACE_CHECKED.as_bytes())
            .map(|(_, v)| u64::from_le_bytes(v[..8].try_into().unwrap()))
            .expect("space_checked recorded")
    };
    let first = checked(&new_meta);
    // The size recorded is the one the compacted file grows to on its next write: redb
    // doubles a full file.
    assert!(
        10 * first.abs_diff(2 * after.file) < after.file,
        "{first} vs {after:?}"
    );

    // The next small write doubles the file; closing that handle must not judge the doubled
    // file sparse and repack the whole vault again (it did: every write command on a large
    // vault paid a full repack).
    small_writes(&vault, 60, 1);
    let grown = vault.space().unwrap();
    assert!(grown.file > after.file, "{after:?} -> {grown:?}");
    drop(vault);
    let vault = Vault::open(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        grown.file,
        "not compacted again"
    );
    let mut now = vault.dump_raw().unwrap();
    assert_eq!(checked(&meta(&mut now)), first, "no new space check");

    // A handle that only reads runs no check and writes nothing when closed.
    let rows = vault.dump_raw().unwrap();
    drop(vault);
    assert!(Vault::open(&path).unwrap().dump_raw().unwrap() == rows);
}
