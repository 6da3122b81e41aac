//! Received slices on the user's other devices (docs/design/sharing.md, "The recipient's own
//! devices"): what one device offers its own devices (every received share record, tombstones
//! included), and the rules a device applies to an own device's offer before syncing a
//! slice's documents with it.
//!
//! Invariants:
//! - A received document is stored only through `Sharing::store_received`, so on every device
//!   it holds only changes by the actors the owner announced for the epoch.
//! - Epochs only move forward through own devices and a tombstone is final: an own device
//!   that has not synced with the owner lately can never bring back an old epoch or a revoked
//!   slice. Only the owner's own offer (`begin_received`) may replace a record.

use kith_core::share::Field;
use kith_core::DocId;
use serde::{Deserialize, Serialize};

use super::share::{dec, enc, tombstone, Received, Sharing};
use super::{AppError, Result};
use crate::store::ShareTable;

/// One received share as an own device offers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayEntry {
    pub id: [u8; 16],
    /// The owner's key (hex).
    pub from: String,
    /// The name the user gave the owner.
    pub from_name: String,
    pub epoch: u32,
    pub actors: Vec<String>,
    pub fields: Vec<Field>,
    /// When the offering device last completed a session with the owner (ms).
    pub updated: i64,
    pub revoked: bool,
}

/// What to do with one entry of an own device's offer.
#[derive(Debug, PartialEq, Eq)]
pub enum RelayStep {
    /// Sync the slice's documents (the record is in place; `dropped`: an older epoch's
    /// documents were deleted first).
    Sync { dropped: bool },
    /// The slice was revoked: its documents were deleted here (`dropped`: there were some).
    Revoked { dropped: bool },
    /// Nothing to do: already revoked here, or this device holds a newer epoch.
    Skip,
}

impl Sharing<'_> {
    /// The offer to an own device: every received share record, tombstones included.
    pub fn relay_offer(&self) -> Result<Vec<RelayEntry>> {
        let persons = self.persons()?;
        Ok(self
            .received_all()?
            .into_iter()
            .map(|r| RelayEntry {
                id: r.id.0,
                from_name: persons
                    .iter()
                    .find(|p| p.key == r.from)
                    .map(|p| p.name.clone())
                    .unwrap_or(r.from_name),
                from: r.from,
                epoch: r.epoch,
                actors: r.actors,
                fields: r.fields,
                updated: r.updated,
                revoked: r.revoked,
            })
            .collect())
    }

    /// Applies one entry of an own device's offer to this device's record (one write
    /// transaction) and says whether to sync the slice's documents.
    pub fn begin_relayed(&self, e: &RelayEntry) -> Result<RelayStep> {
        let id = DocId(e.id);
        self.vault.write(self.now, |w| {
            let old: Option<Received> = match w.share_get(ShareTable::ReceivedShares, &id.0)? {
                Some(v) => Some(dec(&v, "received share")?),
                None => None,
            };
            if old.as_ref().is_some_and(|o| o.from != e.from) {
                return Err(AppError::user(format!(
                    "an own device offered share {} from another person than the one it came from",
                    id.short()
                )));
            }
            if old.as_ref().is_some_and(|o| o.revoked) {
                return Ok(RelayStep::Skip);
            }
            let mut rec = old.clone().unwrap_or(Received {
                id,
                from: e.from.clone(),
                epoch: e.epoch,
                actors: Vec::new(),
                fields: Vec::new(),
                updated: 0,
                from_name: e.from_name.clone(),
                revoked: false,
            });
            if e.revoked {
                if old.is_none() {
                    rec.revoked = true;
                    w.share_put(ShareTable::ReceivedShares, &id.0, &enc(&rec))?;
                    return Ok(RelayStep::Revoked { dropped: false });
                }
                let dropped = tombstone(w, &id)?;
                return Ok(RelayStep::Revoked { dropped });
            }
            if old.as_ref().is_some_and(|o| o.epoch > e.epoch) {
                return Ok(RelayStep::Skip);
            }
            let dropped = match &old {
                Some(o) if o.epoch < e.epoch => {
                    w.share_delete_prefix(ShareTable::Received, &id.0)? > 0
                }
                _ => false,
            };
            rec.epoch = e.epoch;
            rec.actors = e.actors.clone();
            rec.fields = e.fields.clone();
            if rec.from_name.is_empty() {
                rec.from_name = e.from_name.clone();
            }
            w.share_put(ShareTable::ReceivedShares, &id.0, &enc(&rec))?;
            Ok(RelayStep::Sync { dropped })
        })
    }

    /// The live record of a received share (for the device answering an own device's session).
    pub fn received_record(&self, id: &DocId) -> Result<Option<Received>> {
        let r = self.vault.read()?;
        match r.share_get(ShareTable::ReceivedShares, &id.0)? {
            Some(v) => {
                let rec: Received = dec(&v, "received share")?;
                Ok((!rec.revoked).then_some(rec))
            }
            None => Ok(None),
        }
    }
}
