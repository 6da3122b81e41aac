//! The received-contact rows (`ix_received`, docs/design/storage-format.md): what each received
//! document shows (`kith_core::share::read_projection`), so `kith shared`, `search`, `show` of
//! a received contact and `who-knows` read one small row per received contact instead of
//! loading every received document per request.
//!
//! Invariant: `ix_received` has a row exactly for each row of `received` whose document loads,
//! under the same key, holding that document's projection; it is written and deleted in the
//! transaction that writes or deletes the document (`Writer::share_put`/`share_delete`/
//! `share_delete_prefix` of [`ShareTable::Received`]), and `reindex` rebuilds it from
//! `received` alone.

use std::collections::BTreeMap;

use automerge::Automerge;
use kith_core::share::{self, PValue, Projection};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::*;

/// A value of a row: postcard tag 0 for a string, 1 for a set (in order).
#[derive(Serialize, Deserialize)]
enum RowValue {
    Str(String),
    Set(Vec<String>),
}

/// The fields whose search terms a row carries, in the order they are stored.
pub const TERM_FIELDS: [&str; 5] = ["name", "org", "title", "help", "tags"];

/// What the searches of received contacts read besides the projection, folded once when the
/// row is written rather than on every search: the sort key and the search terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowText {
    /// `kith_core::text::fold` of the name (empty when none): `kith shared` sorts by it.
    pub sort: String,
    /// For each of [`TERM_FIELDS`], in that order: `kith_core::text::terms` of its value (a
    /// set's elements joined by `", "`) joined by one space.
    pub terms: [String; 5],
}

impl RowText {
    /// The text of `p` (what `shared`, `search` and `who-knows` match and sort by).
    pub fn of(p: &Projection) -> RowText {
        let text = |k: &str| match p.get(k) {
            Some(PValue::Str(s)) => s.clone(),
            Some(PValue::Set(s)) => s.iter().cloned().collect::<Vec<_>>().join(", "),
            None => String::new(),
        };
        RowText {
            sort: kith_core::text::fold(&text("name")),
            terms: TERM_FIELDS.map(|k| kith_core::text::terms(&text(k)).join(" ")),
        }
    }

    /// The search terms of `field` (none for a field not in [`TERM_FIELDS`]).
    pub fn terms_of(&self, field: &str) -> impl Iterator<Item = &str> {
        TERM_FIELDS
            .iter()
            .position(|f| *f == field)
            .map(|i| self.terms[i].as_str())
            .unwrap_or("")
            .split(' ')
            .filter(|t| !t.is_empty())
    }
}

/// The encoded row of a received document: its projection as `(field, value)` pairs in field
/// order, then its [`RowText`].
fn encode(p: &Projection) -> Vec<u8> {
    let v: Vec<(&str, RowValue)> = p
        .iter()
        .map(|(k, v)| {
            let v = match v {
                PValue::Str(s) => RowValue::Str(s.clone()),
                PValue::Set(s) => RowValue::Set(s.iter().cloned().collect()),
            };
            (k.as_str(), v)
        })
        .collect();
    enc(&(v, RowText::of(p)))
}

fn decode(bytes: &[u8]) -> Result<(Projection, RowText)> {
    let (v, text): (Vec<(String, RowValue)>, RowText) = dec(bytes, "received row")?;
    let p = v
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                RowValue::Str(s) => PValue::Str(s),
                RowValue::Set(s) => PValue::Set(s.into_iter().collect()),
            };
            (k, v)
        })
        .collect();
    Ok((p, text))
}

/// The row of a received document's bytes, `None` when they do not load (such a document
/// shows nowhere).
fn row_of(doc: &[u8]) -> Option<Vec<u8>> {
    Automerge::load(doc)
        .ok()
        .map(|d| encode(&share::read_projection(&d)))
}

/// One received contact: share id, pseudonym, what its document shows and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedRow {
    pub share: [u8; 16],
    pub pid: [u8; 16],
    pub values: Projection,
    pub text: RowText,
}

fn split_key(k: &[u8]) -> Option<([u8; 16], [u8; 16])> {
    Some((
        k.get(..16)?.try_into().ok()?,
        k.get(16..32)?.try_into().ok()?,
    ))
}

fn rows_in<T: ReadableTable<&'static [u8], &'static [u8]>>(
    t: &T,
    prefix: &[u8],
    p: &std::path::Path,
) -> Result<Vec<ReceivedRow>> {
    let mut out = Vec::new();
    for row in t.range(prefix..).map_err(|e| map_redb(p, e))? {
        let (k, v) = row.map_err(|e| map_redb(p, e))?;
        let k = k.value();
        if !k.starts_with(prefix) {
            break;
        }
        if let Some((share, pid)) = split_key(k) {
            let (values, text) = decode(v.value())?;
            out.push(ReceivedRow {
                share,
                pid,
                values,
                text,
            });
        }
    }
    Ok(out)
}

impl Reader {
    /// The received contacts whose key (share id ‖ pseudonym) starts with `prefix` (empty:
    /// all), in key order.
    pub fn received_rows(&self, prefix: &[u8]) -> Result<Vec<ReceivedRow>> {
        match self.txn.open_table(RECEIVED_ROWS) {
            Ok(t) => rows_in(&t, prefix, &self.path),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(self.e(e)),
        }
    }

    /// One received contact's row: what it shows and its text.
    pub fn received_row(
        &self,
        share: &[u8; 16],
        pid: &[u8; 16],
    ) -> Result<Option<(Projection, RowText)>> {
        let t = match self.txn.open_table(RECEIVED_ROWS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.e(e)),
        };
        let mut key = share.to_vec();
        key.extend_from_slice(pid);
        let v = t.get(key.as_slice()).map_err(|e| self.e(e))?;
        v.map(|v| decode(v.value())).transpose()
    }
}

impl Writer {
    /// Keeps `ix_received` in step with a received document just written.
    pub(crate) fn put_received_row(&mut self, key: &[u8], doc: &[u8]) -> Result<()> {
        let mut t = wt!(self, RECEIVED_ROWS);
        match row_of(doc) {
            Some(row) => {
                t.insert(key, row.as_slice())
                    .map_err(|e| map_redb(&self.path, e))?;
            }
            None => {
                t.remove(key).map_err(|e| map_redb(&self.path, e))?;
            }
        }
        Ok(())
    }

    /// Removes the rows of the received documents whose key starts with `prefix`.
    pub(crate) fn delete_received_rows(&mut self, prefix: &[u8]) -> Result<()> {
        let mut t = wt!(self, RECEIVED_ROWS);
        let keys: Vec<Vec<u8>> = {
            let mut v = Vec::new();
            for row in t.range(prefix..).map_err(|e| map_redb(&self.path, e))? {
                let (k, _) = row.map_err(|e| map_redb(&self.path, e))?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                v.push(k.value().to_vec());
            }
            v
        };
        for k in keys {
            t.remove(k.as_slice())
                .map_err(|e| map_redb(&self.path, e))?;
        }
        Ok(())
    }

    /// Rebuilds `ix_received` from `received` (reindex; the table was emptied before).
    pub(crate) fn rebuild_received_rows(&mut self) -> Result<()> {
        let rows: BTreeMap<Vec<u8>, Vec<u8>> = self
            .share_scan(ShareTable::Received, &[])?
            .into_iter()
            .filter_map(|(k, v)| row_of(&v).map(|r| (k, r)))
            .collect();
        let mut t = wt!(self, RECEIVED_ROWS);
        for (k, v) in rows {
            t.insert(k.as_slice(), v.as_slice())
                .map_err(|e| map_redb(&self.path, e))?;
        }
        Ok(())
    }
}

impl Vault {
    /// The migration from format 11 to 12, which changed only `ix_received` (its rows gained
    /// their folded text): that table is emptied and rebuilt from `received`, and format 12 is
    /// recorded, in one transaction. Every other derived table is the same in both formats.
    pub(crate) fn migrate_received_rows(&self) -> Result<()> {
        self.write(0, |w| {
            w.delete_received_rows(&[])?;
            w.rebuild_received_rows()?;
            let mut t = wt!(w, META);
            t.insert("format", FORMAT_VERSION.to_le_bytes().as_slice())
                .map_err(|e| map_redb(&w.path, e))?;
            Ok::<_, StoreError>(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_as_the_projection_and_follows_its_document() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(&dir.path().join("vault.redb")).unwrap();
        let mut p = Projection::new();
        p.insert("name".into(), PValue::Str("Ada Lovelace".into()));
        p.insert(
            "tags".into(),
            PValue::Set(["b".to_string(), "a".to_string()].into_iter().collect()),
        );
        let mut doc =
            share::build_projection(&p, automerge::ActorId::from([7u8; 16].as_slice())).unwrap();
        let bytes = doc.save();
        let key = [[1u8; 16], [2u8; 16]].concat();
        let other = [[1u8; 16], [3u8; 16]].concat();
        v.write(0, |w| {
            w.share_put(ShareTable::Received, &key, &bytes)?;
            // A document that does not load has no row.
            w.share_put(ShareTable::Received, &other, b"not a document")
        })
        .unwrap();
        let r = v.read().unwrap();
        let text = RowText {
            sort: "ada lovelace".into(),
            terms: [
                "ada lovelace".into(),
                String::new(),
                String::new(),
                String::new(),
                "a b".into(),
            ],
        };
        assert_eq!(
            r.received_row(&[1; 16], &[2; 16]).unwrap(),
            Some((p.clone(), text.clone()))
        );
        assert_eq!(r.received_row(&[1; 16], &[3; 16]).unwrap(), None);
        assert_eq!(
            r.received_rows(&[]).unwrap(),
            vec![ReceivedRow {
                share: [1u8; 16],
                pid: [2u8; 16],
                values: p,
                text: text.clone(),
            }]
        );
        assert_eq!(
            text.terms_of("name").collect::<Vec<_>>(),
            ["ada", "lovelace"]
        );
        assert_eq!(text.terms_of("org").count(), 0);
        assert_eq!(text.terms_of("emails").count(), 0);
        drop(r);
        // Rebuilt by reindex to the same table.
        assert_eq!(v.dump_derived().unwrap(), v.dump_rebuilt().unwrap());
        v.write(0, |w| w.share_delete_prefix(ShareTable::Received, &[1; 16]))
            .unwrap();
        assert!(v.read().unwrap().received_rows(&[]).unwrap().is_empty());
        assert_eq!(v.dump_derived().unwrap(), v.dump_rebuilt().unwrap());
    }
}
