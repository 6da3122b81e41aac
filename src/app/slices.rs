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

/// A share another own device serves, as it offers it (no secret, no projections).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedShare {
    pub id: [u8; 16],
    /// The person's name on the serving device.
    pub with: String,
    /// The filter, as JSON (`Filter`).
    pub filter: String,
    pub fields: Vec<Field>,
    pub epoch: u32,
    pub contacts: u64,
    pub write_attempts: u32,
    pub last_attempt: i64,
}

/// A row of `shares_elsewhere`: what a device last offered, and which device.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Elsewhere {
    /// The serving device's key (hex).
    device: String,
    share: ServedShare,
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
    /// The shares this device serves, as offered to an own device (so it can say where they
    /// are served; docs/design/sharing.md, "One serving device").
    pub fn served_offer(&self) -> Result<Vec<ServedShare>> {
        Ok(self
            .share_rows()?
            .into_iter()
            .filter(|r| r.served_by.is_none())
            .filter_map(|r| {
                let id = r.id.parse::<DocId>().ok()?;
                Some(ServedShare {
                    id: id.0,
                    with: r.with,
                    filter: serde_json::to_string(&r.filter).unwrap_or_default(),
                    fields: r.fields,
                    epoch: r.epoch,
                    contacts: r.contacts as u64,
                    write_attempts: r.write_attempts,
                    last_attempt: r.last_attempt,
                })
            })
            .collect())
    }

    /// Replaces what `device` (an own device's key, hex) serves by what it just offered.
    pub fn record_served_elsewhere(&self, device: &str, shares: &[ServedShare]) -> Result<()> {
        self.vault.write(self.now, |w| {
            for (k, v) in w.share_scan(ShareTable::SharesElsewhere, &[])? {
                let row: Elsewhere = dec(&v, "share served elsewhere")?;
                if row.device == device {
                    w.share_delete(ShareTable::SharesElsewhere, &k)?;
                }
            }
            for s in shares {
                // A share this device serves itself is never listed as served elsewhere.
                if w.share_get(ShareTable::Shares, &s.id)?.is_some() {
                    continue;
                }
                let row = Elsewhere {
                    device: device.to_string(),
                    share: s.clone(),
                };
                w.share_put(ShareTable::SharesElsewhere, &s.id, &enc(&row))?;
            }
            Ok(())
        })
    }

    /// `kith share list` rows of the shares other own devices serve.
    pub fn shares_elsewhere_rows(&self) -> Result<Vec<super::share::ShareRow>> {
        let r = self.vault.read()?;
        let names = super::devices::device_names(&r)?;
        let mut out = Vec::new();
        for (_, v) in r.share_scan(ShareTable::SharesElsewhere, &[])? {
            let row: Elsewhere = dec(&v, "share served elsewhere")?;
            let Ok(filter) = serde_json::from_str(&row.share.filter) else {
                continue;
            };
            let s = row.share;
            out.push(super::share::ShareRow {
                id: DocId(s.id).to_hex(),
                with: s.with,
                filter,
                fields: s.fields,
                epoch: s.epoch,
                contacts: s.contacts as usize,
                write_attempts: s.write_attempts,
                last_attempt: s.last_attempt,
                served_by: Some(
                    names
                        .get(&row.device)
                        .cloned()
                        .unwrap_or_else(|| row.device.chars().take(8).collect()),
                ),
            });
        }
        Ok(out)
    }

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
                stored: 0,
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
    /// A mark of the received slices this device holds: it moves when a slice's documents
    /// are stored, its epoch or actors change, or it is revoked (not when a session found
    /// nothing new). 0 when nothing was ever received. The daemon pushes slices to the own
    /// devices it has not pushed this mark to (`net::slices::push_to`).
    ///
    /// It covers the persons and intro documents too (`app::intro_relay`): a person paired
    /// here, a request asked or an answer given moves it, so they reach the other devices
    /// within a push.
    pub fn slices_mark(&self) -> Result<u64> {
        use std::hash::{Hash, Hasher};
        let all = self.received_all()?;
        let r = self.vault.read()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut any = !all.is_empty();
        for rec in &all {
            (rec.id.0, rec.epoch, &rec.actors, rec.revoked, rec.stored).hash(&mut h);
        }
        // Persons by what is relayed (not the time of their last session).
        for p in super::share::all_persons(&r)? {
            any = true;
            (&p.key, &p.name, &p.via, &p.addrs).hash(&mut h);
        }
        for t in [
            ShareTable::IntroPeers,
            ShareTable::IntroDocs,
            ShareTable::IntroReceived,
        ] {
            for row in r.share_scan(t, &[])? {
                any = true;
                row.hash(&mut h);
            }
        }
        Ok(if any { h.finish().max(1) } else { 0 })
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Vault;

    fn entry(epoch: u32, revoked: bool) -> RelayEntry {
        RelayEntry {
            id: [7; 16],
            from: "aa".repeat(32),
            from_name: "Ann".into(),
            epoch,
            actors: vec!["01".repeat(16)],
            fields: vec![Field::Name],
            updated: 5,
            revoked,
        }
    }

    /// A stand-in received document for share `[7; 16]`.
    fn put_doc(s: &Sharing<'_>, pid: u8) {
        s.vault
            .write(0, |w| {
                let mut k = vec![7u8; 16];
                k.extend_from_slice(&[pid; 16]);
                w.share_put(ShareTable::Received, &k, b"doc")?;
                Ok::<_, AppError>(())
            })
            .unwrap();
    }

    fn docs(s: &Sharing<'_>) -> usize {
        let r = s.vault.read().unwrap();
        r.share_scan(ShareTable::Received, &[7; 16]).unwrap().len()
    }

    #[test]
    fn epochs_only_move_forward_and_tombstones_are_final() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(&dir.path().join("vault.redb")).unwrap();
        let s = Sharing {
            vault: &vault,
            now: 10,
        };
        // First seen: synced, recorded with the owner's name.
        assert_eq!(
            s.begin_relayed(&entry(2, false)).unwrap(),
            RelayStep::Sync { dropped: false }
        );
        put_doc(&s, 1);
        assert_eq!(s.received().unwrap()[0].from_name, "Ann");
        // A device still at an older epoch changes nothing.
        assert_eq!(s.begin_relayed(&entry(1, false)).unwrap(), RelayStep::Skip);
        assert_eq!((s.received().unwrap()[0].epoch, docs(&s)), (2, 1));
        // The same epoch syncs; a newer one drops the old documents first.
        assert_eq!(
            s.begin_relayed(&entry(2, false)).unwrap(),
            RelayStep::Sync { dropped: false }
        );
        assert_eq!(
            s.begin_relayed(&entry(3, false)).unwrap(),
            RelayStep::Sync { dropped: true }
        );
        assert_eq!(docs(&s), 0);
        put_doc(&s, 2);
        // Documents of a session that ran in another epoch are refused.
        assert!(s.store_received(&DocId([7; 16]), &[], 2, Some(1)).is_err());
        // Another owner for the same share id is refused.
        let mut other = entry(4, false);
        other.from = "bb".repeat(32);
        assert!(s.begin_relayed(&other).is_err());
        // Revoked: documents gone, a tombstone stays, and no device brings the slice back.
        assert_eq!(
            s.begin_relayed(&entry(3, true)).unwrap(),
            RelayStep::Revoked { dropped: true }
        );
        assert_eq!(docs(&s), 0);
        assert!(s.received().unwrap().is_empty());
        assert!(s.received_all().unwrap()[0].revoked);
        for e in [entry(3, false), entry(9, false), entry(3, true)] {
            assert_eq!(s.begin_relayed(&e).unwrap(), RelayStep::Skip);
        }
        assert!(s.received().unwrap().is_empty());
        // A revocation heard of before the slice itself leaves a tombstone too.
        let mut fresh = entry(1, true);
        fresh.id = [8; 16];
        assert_eq!(
            s.begin_relayed(&fresh).unwrap(),
            RelayStep::Revoked { dropped: false }
        );
        fresh.revoked = false;
        assert_eq!(s.begin_relayed(&fresh).unwrap(), RelayStep::Skip);
    }
}
