//! Issue 9 (import/export speed and vault size), the parts `io9.rs` does not cover: a vault
//! written by many small transactions is kept compact without any manual step.

use kith::store::{Vault, SPARSE_RATIO};
use kith_core::model::{self, Contact, Labeled};

/// Writes `batches` transactions of 50 contacts each through one handle.
fn small_writes(vault: &Vault, from: usize, batches: usize) {
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
        before.file > SPARSE_RATIO * before.stored,
        "small transactions leave a sparse file: {before:?}"
    );
    let mut rows = vault.dump_raw().unwrap();
    drop(vault);

    let vault = Vault::open(&path).unwrap();
    let after = vault.space().unwrap();
    assert!(after.file <= SPARSE_RATIO * after.stored, "{after:?}");
    assert!(after.file * 2 < before.file, "{before:?} -> {after:?}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), after.file);
    // Every row is unchanged; the only new one records the size at this check.
    let mut now = vault.dump_raw().unwrap();
    let meta = |d: &mut kith::store::TableDump| d.remove("meta").expect("meta table");
    let (old_meta, new_meta) = (meta(&mut rows), meta(&mut now));
    assert!(now == rows, "documents and indexes unchanged");
    assert_eq!(new_meta.len(), old_meta.len() + 1, "one meta row added");
    let checked = new_meta
        .iter()
        .find(|(k, _)| k.as_slice() == b"space_checked")
        .map(|(_, v)| u64::from_le_bytes(v[..8].try_into().unwrap()))
        .expect("space_checked recorded");
    // The size recorded is the compacted file's (the recording commit's own pages aside).
    assert!(
        10 * checked.abs_diff(after.file) < after.file,
        "{checked} vs {after:?}"
    );

    // A handle that only reads runs no check and writes nothing when closed.
    let rows = vault.dump_raw().unwrap();
    drop(vault);
    assert!(Vault::open(&path).unwrap().dump_raw().unwrap() == rows);
}
