//! Reads for relationship keeping (`kith due`, `kith digest`, `kith graph`, `kith stats`): the
//! dates that matter of one contact, every contact's interaction days, and a scan of every item
//! summary that copies no string.
//!
//! Invariant: read-only, over one read transaction; no document is loaded.

use redb::ReadableTable;

use kith_core::index::{ContactDates, ItemSummaryRef};
use kith_core::DocId;

use crate::tables::{CONTACT_DAYS, DATES, ITEMS};
use crate::{dec, map_redb, Reader, Result, StoreError};

/// Decodes an `ix_contact_days` value: i32 LE days, ascending.
pub fn decode_days(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Reader {
    /// A contact's dates that matter (`ix_dates`), if it has any and is not archived or merged.
    pub fn dates_of(&self, id: DocId) -> Result<Option<ContactDates>> {
        let t = rt!(self, DATES);
        let v = t.get(id.0).map_err(|e| self.e(e))?;
        v.map(|v| dec(v.value(), "contact dates")).transpose()
    }

    /// Every contact with at least one interaction and the day of each (ascending, one per
    /// interaction, planned ones included), in id order.
    pub fn contact_days(&self) -> Result<Vec<(DocId, Vec<i32>)>> {
        let t = rt!(self, CONTACT_DAYS);
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            out.push((DocId(k.value()), decode_days(v.value())));
        }
        Ok(out)
    }

    /// Calls `f` with every item summary, in id order, decoded without copying its strings.
    pub fn scan_items(&self, mut f: impl FnMut(DocId, ItemSummaryRef<'_>)) -> Result<()> {
        let t = rt!(self, ITEMS);
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let s: ItemSummaryRef<'_> = postcard::from_bytes(v.value())
                .map_err(|e| StoreError::Undecodable(format!("item summary: {e}")))?;
            f(DocId(k.value()), s);
        }
        Ok(())
    }
}
