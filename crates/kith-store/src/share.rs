//! Storage of sharing (docs/design/sharing.md): persons, the shares this device serves and
//! their projection documents, and what was received from persons. Plain byte rows; the root
//! crate's `app::share` owns their encoding.
//!
//! Invariant: these tables are not documents: they are never in the `docs` table, the bucket
//! hashes or `kith/sync/2`, so nothing stored here reaches a person except through the share
//! protocol, which reads only one share's rows, nor an own device except received slices
//! (`kith/slices/1`, one slice's rows at a time).

use redb::{ReadableTable, TableDefinition};

use crate::*;

/// One of the sharing tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareTable {
    Persons,
    Shares,
    ShareDocs,
    ReceivedShares,
    Received,
    /// Introductions (docs/design/sharing.md): per person, this device's intro actor, the
    /// other side's pinned actor and local bookkeeping.
    IntroPeers,
    /// Intro documents authored here: person key ‖ document id.
    IntroDocs,
    /// Intro documents received from a person: person key ‖ document id.
    IntroReceived,
    SharesElsewhere,
}

impl ShareTable {
    fn def(self) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        match self {
            ShareTable::Persons => PERSONS,
            ShareTable::Shares => SHARES,
            ShareTable::ShareDocs => SHARE_DOCS,
            ShareTable::ReceivedShares => RECEIVED_SHARES,
            ShareTable::Received => RECEIVED,
            ShareTable::IntroPeers => INTRO_PEERS,
            ShareTable::IntroDocs => INTRO_DOCS,
            ShareTable::IntroReceived => INTRO_RECEIVED,
            ShareTable::SharesElsewhere => SHARES_ELSEWHERE,
        }
    }
}

type Rows = Vec<(Vec<u8>, Vec<u8>)>;

fn scan_in<T: ReadableTable<&'static [u8], &'static [u8]>>(
    t: &T,
    prefix: &[u8],
    p: &std::path::Path,
) -> Result<Rows> {
    let mut out = Vec::new();
    for row in t.range(prefix..).map_err(|e| map_redb(p, e))? {
        let (k, v) = row.map_err(|e| map_redb(p, e))?;
        if !k.value().starts_with(prefix) {
            break;
        }
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

impl Reader {
    /// The rows of a sharing table whose key starts with `prefix` (empty: every row).
    pub fn share_scan(&self, t: ShareTable, prefix: &[u8]) -> Result<Rows> {
        match self.txn.open_table(t.def()) {
            Ok(table) => scan_in(&table, prefix, &self.path),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(self.e(e)),
        }
    }

    pub fn share_get(&self, t: ShareTable, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.txn.open_table(t.def()) {
            Ok(table) => Ok(table
                .get(key)
                .map_err(|e| self.e(e))?
                .map(|v| v.value().to_vec())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.e(e)),
        }
    }
}

impl Writer {
    pub fn share_scan(&self, t: ShareTable, prefix: &[u8]) -> Result<Rows> {
        let table = wt!(self, t.def());
        scan_in(&table, prefix, &self.path)
    }

    pub fn share_get(&self, t: ShareTable, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let table = wt!(self, t.def());
        let v = table
            .get(key)
            .map_err(|e| map_redb(&self.path, e))?
            .map(|v| v.value().to_vec());
        Ok(v)
    }

    pub fn share_put(&mut self, t: ShareTable, key: &[u8], value: &[u8]) -> Result<()> {
        let mut table = wt!(self, t.def());
        table
            .insert(key, value)
            .map_err(|e| map_redb(&self.path, e))?;
        drop(table);
        if t == ShareTable::Received {
            self.put_received_row(key, value)?;
        }
        Ok(())
    }

    pub fn share_delete(&mut self, t: ShareTable, key: &[u8]) -> Result<bool> {
        let mut table = wt!(self, t.def());
        let had = table
            .remove(key)
            .map_err(|e| map_redb(&self.path, e))?
            .is_some();
        drop(table);
        if t == ShareTable::Received {
            self.delete_received_rows(key)?;
        }
        Ok(had)
    }

    /// Deletes every row whose key starts with `prefix`; returns how many.
    pub fn share_delete_prefix(&mut self, t: ShareTable, prefix: &[u8]) -> Result<usize> {
        let keys: Vec<Vec<u8>> = self
            .share_scan(t, prefix)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut table = wt!(self, t.def());
        for k in &keys {
            table
                .remove(k.as_slice())
                .map_err(|e| map_redb(&self.path, e))?;
        }
        drop(table);
        if t == ShareTable::Received {
            self.delete_received_rows(prefix)?;
        }
        Ok(keys.len())
    }
}
