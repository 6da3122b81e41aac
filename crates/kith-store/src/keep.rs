//! Reads for relationship keeping (`kith due`, `kith digest`, `kith graph`, `kith stats`): the
//! dates that matter of one contact, every contact's interaction days, and a scan of every item
//! summary that copies no string.
//!
//! Invariant: read-only, over one read transaction; no document is loaded; whole-table reads
//! allocate per table, not per row.

use redb::{ReadableTable, ReadableTableMetadata};

use kith_core::index::{ContactBrief, ContactDates, ItemSummaryRef};
use kith_core::DocId;

use crate::tables::{CONTACT_DAYS, DATES, ITEMS};
use crate::{dec, map_redb, Lookup, Reader, Result, StoreError};

/// Every contact's interaction days (`ix_contact_days`), read in one pass into one buffer.
#[derive(Debug, Default)]
pub struct ContactDays {
    days: Vec<i32>,
    /// (contact, start, end): `days[start..end]` are that contact's days, ascending.
    rows: Vec<(DocId, usize, usize)>,
}

impl ContactDays {
    /// Each contact with at least one interaction and its days (ascending, one per
    /// interaction, planned ones included), in id order.
    pub fn iter(&self) -> impl Iterator<Item = (DocId, &[i32])> + '_ {
        self.rows.iter().map(|&(id, a, b)| (id, &self.days[a..b]))
    }

    /// One contact's days (ascending), if it has any. The last of them is its
    /// `ix_last_contact` day: both tables are written from the same list.
    pub fn get(&self, id: DocId) -> Option<&[i32]> {
        let i = self.rows.binary_search_by(|r| r.0.cmp(&id)).ok()?;
        let (_, a, b) = self.rows[i];
        Some(&self.days[a..b])
    }

    /// Number of contacts with at least one interaction.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Lookup {
    /// Calls `f` with the head of a contact's summary ([`ContactBrief`]: name, cadence,
    /// archived, merged), decoded without allocating (for a row that needs only those); None
    /// when there is no such contact.
    pub fn with_contact<T>(
        &self,
        id: DocId,
        f: impl FnOnce(ContactBrief<'_>) -> T,
    ) -> Result<Option<T>> {
        let v = self
            .contacts
            .get(&id.0)
            .map_err(|e| map_redb(&self.path, e))?;
        match v {
            Some(v) => Ok(Some(f(decode_brief(v.value())?))),
            None => Ok(None),
        }
    }

    /// A contact's name (empty when there is no such contact).
    pub fn contact_name(&self, id: DocId) -> Result<String> {
        Ok(self
            .with_contact(id, |c| c.name.to_string())?
            .unwrap_or_default())
    }
}

/// Decodes the head of a stored contact summary ([`ContactBrief`]).
pub fn decode_brief(bytes: &[u8]) -> Result<ContactBrief<'_>> {
    postcard::from_bytes(bytes)
        .map_err(|e| StoreError::Undecodable(format!("contact summary: {e}")))
}

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
        let v = t.get(&id.0).map_err(|e| self.e(e))?;
        v.map(|v| dec(v.value(), "contact dates")).transpose()
    }

    /// Every contact with at least one interaction and the day of each (ascending, one per
    /// interaction, planned ones included), in id order.
    pub fn contact_days(&self) -> Result<ContactDays> {
        let t = rt!(self, CONTACT_DAYS);
        let n = usize::try_from(t.len().map_err(|e| self.e(e))?).unwrap_or(0);
        let mut out = ContactDays {
            days: Vec::with_capacity(n.saturating_mul(8)),
            rows: Vec::with_capacity(n),
        };
        for row in t.iter().map_err(|e| self.e(e))? {
            let (k, v) = row.map_err(|e| self.e(e))?;
            let start = out.days.len();
            out.days.extend(
                v.value()
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            out.rows.push((DocId(*k.value()), start, out.days.len()));
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
            f(DocId(*k.value()), s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use kith_core::index::{ContactBrief, ContactSummary};

    use crate::decode_contact;

    use super::decode_brief;

    #[test]
    fn brief_reads_the_head_of_a_stored_summary() {
        let full = ContactSummary {
            name: "Zoë Ångström".into(),
            sort: "zoe angstrom".into(),
            org: "Ørsted".into(),
            title: "Dr".into(),
            email: "zoe@example.com".into(),
            tags: vec!["friend".into(), "ünï".into(), String::new()],
            kinds: vec!["person".into()],
            every: "30d".into(),
            archived: true,
            merged_into: "85857dc1b2ee7ca8d851cf6a87fc0f97".into(),
            created_day: 20_000,
            birthday: "--05-01".into(),
            help: "rust, sailing".into(),
        };
        for s in [full, ContactSummary::default()] {
            let bytes = postcard::to_allocvec(&s).unwrap();
            let b: ContactBrief<'_> = decode_brief(&bytes).unwrap();
            let r = decode_contact(&bytes).unwrap();
            assert_eq!(b.name, s.name);
            assert_eq!(b.every, s.every);
            assert_eq!(b.archived, s.archived);
            assert_eq!(b.merged_into, s.merged_into);
            assert_eq!((r.name, r.every, r.archived), (b.name, b.every, b.archived));
            // A summary cut short is an error, not a panic.
            assert!(decode_brief(&bytes[..bytes.len().min(3)]).is_err());
        }
    }
}
