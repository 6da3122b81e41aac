//! `kith merge`: folding one contact into another.

use std::collections::BTreeSet;

use kith_core::interop::map::{self};
use kith_core::model::{self};
use kith_core::{DocId, Kind};
use serde::Serialize;

use crate::app::{am_err, App, AppError, Result};

/// The result of `kith merge` (also its `--json` schema).
#[derive(Debug, Serialize)]
pub struct Merged {
    pub survivor: DocId,
    pub merged: DocId,
    /// Notes, interactions and reminders moved to the survivor.
    pub items: usize,
    /// Other contacts whose links now point to the survivor.
    pub links: usize,
}

impl App {
    /// Merges `other` into `survivor` in one transaction (see `map::merge_contacts`); every
    /// item and link pointing to `other` is repointed; `other` keeps existing with
    /// `merged_into` so its id still resolves.
    pub fn merge(&self, survivor: DocId, other: DocId) -> Result<Merged> {
        if survivor == other {
            return Err(AppError::hint(
                "both references name the same contact",
                "give two different contacts (an already merged contact resolves to its survivor)",
            ));
        }
        let now = self.now();
        let (sh, oh) = (survivor.to_hex(), other.to_hex());
        self.vault.write(now, |w| {
            let mut ls = w
                .load(survivor)?
                .ok_or_else(|| AppError::user(format!("contact {survivor} no longer exists")))?;
            let mut lo = w
                .load(other)?
                .ok_or_else(|| AppError::user(format!("contact {other} no longer exists")))?;
            let mut cs = model::read_contact(&ls.doc);
            let mut co = model::read_contact(&lo.doc);
            map::merge_contacts(&mut cs, &co, &sh, &oh);
            cs.links.retain(|_, l| l.to != oh);
            model::write_contact(&mut ls.doc, &cs, now).map_err(am_err)?;
            co.merged_into = sh.clone();
            model::write_contact(&mut lo.doc, &co, now).map_err(am_err)?;
            w.save(ls)?;
            w.save(lo)?;
            let mut items = 0;
            for (iid, kind) in w.timeline(other)? {
                let Some(mut l) = w.load(iid)? else { continue };
                match kind {
                    Kind::Note => {
                        let mut n = model::read_note(&l.doc);
                        n.contacts.remove(&other);
                        n.contacts.insert(survivor);
                        model::write_note(&mut l.doc, &n, now).map_err(am_err)?;
                    }
                    Kind::Interaction => {
                        let mut i = model::read_interaction(&l.doc);
                        i.contacts.remove(&other);
                        i.contacts.insert(survivor);
                        model::write_interaction(&mut l.doc, &i, now).map_err(am_err)?;
                    }
                    Kind::Reminder => {
                        let mut r = model::read_reminder(&l.doc);
                        if r.contact == Some(other) {
                            r.contact = Some(survivor);
                        }
                        model::write_reminder(&mut l.doc, &r, now).map_err(am_err)?;
                    }
                    Kind::Opportunity => {
                        let mut o = model::read_opportunity(&l.doc);
                        o.contacts.remove(&other);
                        o.contacts.insert(survivor);
                        model::write_opportunity(&mut l.doc, &o, now).map_err(am_err)?;
                    }
                    Kind::Devices => continue,
                    Kind::Contact => continue,
                }
                w.save(l)?;
                items += 1;
            }
            let mut links = 0;
            for cid in w.contact_ids()? {
                if cid == survivor || cid == other {
                    continue;
                }
                let Some(mut l) = w.load(cid)? else { continue };
                let mut c = model::read_contact(&l.doc);
                if !c.links.values().any(|k| k.to == oh) {
                    continue;
                }
                let existing: BTreeSet<(String, String)> = c
                    .links
                    .values()
                    .map(|k| (k.to.clone(), k.rel.clone()))
                    .collect();
                c.links.retain(|_, k| {
                    !(k.to == oh && existing.contains(&(sh.clone(), k.rel.clone())))
                });
                for k in c.links.values_mut() {
                    if k.to == oh {
                        k.to = sh.clone();
                    }
                }
                model::write_contact(&mut l.doc, &c, now).map_err(am_err)?;
                w.save(l)?;
                links += 1;
            }
            Ok(Merged {
                survivor,
                merged: other,
                items,
                links,
            })
        })
    }
}
