//! Whole-table reads for the network views (`kith graph`, `kith stats`, incoming links): the
//! posting lists of every term under a prefix, kept apart per term, and every item summary.
//!
//! Invariant: read-only, over one read transaction; no document is loaded.

use redb::{ReadableTable, ReadableTableMetadata};

use kith_core::index::ItemSummary;
use kith_core::DocId;

use crate::query::capacity_hint;
use crate::tables::{ITEMS, ORDS, POSTINGS};
use crate::{dec, decode_postings, map_redb, Reader, Result};

/// A term and its posting list (ordinal, weight).
pub type TermPostings = (String, Vec<(u32, u8)>);

impl Reader {
    /// Every term starting with `prefix`, in term order, with its posting list (ordinal,
    /// weight).
    pub fn terms_with_prefix(&self, prefix: &str) -> Result<Vec<TermPostings>> {
        let t = rt!(self, POSTINGS);
        let mut out = Vec::new();
        for row in t.range(prefix..).map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let term = k.value();
            if !term.starts_with(prefix) {
                break;
            }
            out.push((term.to_string(), decode_postings(v.value())));
        }
        Ok(out)
    }

    /// Every item summary (notes, interactions, reminders, opportunities), in id order.
    pub fn all_items(&self) -> Result<Vec<(DocId, ItemSummary)>> {
        let t = rt!(self, ITEMS);
        let mut out = Vec::with_capacity(capacity_hint(t.len()));
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.push((DocId(*k.value()), dec(v.value(), "item summary")?));
        }
        Ok(out)
    }

    /// Every ordinal -> document id, for resolving many posting entries at once.
    pub fn ord_ids(&self) -> Result<std::collections::HashMap<u32, DocId>> {
        let t = rt!(self, ORDS);
        let mut out = std::collections::HashMap::with_capacity(capacity_hint(t.len()));
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.insert(k.value(), DocId(*v.value()));
        }
        Ok(out)
    }
}
