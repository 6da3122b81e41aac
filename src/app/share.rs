//! Sharing a slice of the network with a person (docs/design/sharing.md): persons, shares and
//! their projections on the owner's side; received slices on the recipient's side.
//!
//! Invariants:
//! - A projection is derived from the vault's current merged contacts each time it is served
//!   or shown (`derive`), in one write transaction; a narrowing starts a new epoch (fresh
//!   actor, fresh pseudonyms, the old epoch's documents deleted) before anything is written.
//! - Projection and received documents live in their own tables (`ShareTable`), never among
//!   the user's documents, so `kith/sync/2` never carries them (received slices reach own
//!   devices over `kith/slices/1`, `net::slices`).
//! - Received documents are written only by `store_received`, which refuses any change by an
//!   actor the owner did not announce for the epoch; no other command writes them.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, AutoCommit, Automerge};
use kith_core::share::{self, Field, Filter, Projection, ShareStore, Spec};
use kith_core::{model, DocId};
use serde::{Deserialize, Serialize};

use super::{App, AppError, Result};
use crate::store::{ShareTable, StoreError, Vault, Writer};

/// A person paired with (`kith person invite/accept`): never a device.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Person {
    /// What this user calls the person.
    pub name: String,
    /// The person's device key (64 hex digits).
    pub key: String,
    /// Addresses to dial them at.
    #[serde(default)]
    pub addrs: Vec<String>,
    pub added: i64,
    /// Last time a share session with them completed (ms), 0 if never.
    #[serde(default)]
    pub last_sync: i64,
    #[serde(default)]
    pub last_error: String,
    /// Empty: paired on this device. Else the key (hex) of the own device the person was
    /// paired on, which relayed them here over `kith/slices/1` (`app::intro_relay`): this
    /// device neither dials them, admits them, shares with them nor answers their requests.
    #[serde(default)]
    pub via: String,
    /// The name of the own device `via` names (`null` when paired here); filled by
    /// [`Sharing::persons`] for display, never stored.
    #[serde(default, skip_deserializing)]
    pub paired_on: Option<String>,
}

impl Person {
    /// Whether the person was paired on this device (not relayed by another own device).
    pub fn paired_here(&self) -> bool {
        self.via.is_empty()
    }

    /// Refuses `what` (e.g. "share with") for a person paired on another own device.
    pub fn check_paired_here(&self, what: &str) -> Result<()> {
        if self.paired_here() {
            return Ok(());
        }
        let on = self.paired_on.clone().unwrap_or_else(|| self.via.clone());
        Err(AppError::hint(
            format!(
                "{} was paired on your device {on}, not this one; {what} them there",
                self.name
            ),
            "a person is known on your other devices, but talks to the device it was paired on",
        ))
    }
}

/// A share this device serves.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareDef {
    pub id: DocId,
    /// The person's key (hex).
    pub person: String,
    pub spec: Spec,
    /// Secret of the pseudonyms (hex of 32 bytes).
    pub secret: String,
    pub epoch: u32,
    /// The epoch's actor (hex).
    pub actor: String,
    pub created: i64,
    pub updated: i64,
    /// The projections last derived, by source contact (to detect narrowing).
    #[serde(default)]
    pub last: BTreeMap<DocId, Projection>,
    /// Times the person tried to write into the share (refused).
    #[serde(default)]
    pub write_attempts: u32,
    #[serde(default)]
    pub last_attempt: i64,
    /// The vault's change counter (`change_seq`) when the projections were last derived: the
    /// next derivation looks only at the documents changed after it, and a session that finds
    /// it unchanged derives nothing.
    #[serde(default)]
    pub derived_seq: u64,
    /// The derivation rule (`DERIVATION`) that `last` and `derived_seq` were made with; 0:
    /// never derived, or by a build older than the mark (then the next derivation is full).
    #[serde(default)]
    pub derived_rule: u32,
    /// The leaf digest (hex of `kith_core::sync::leaf_digest`) of each projection document
    /// as `derive` wrote it, by pseudonym: a session builds its scoped store from the saved
    /// bytes and these, loading no document unless the engine needs its content.
    #[serde(default)]
    pub leaves: BTreeMap<DocId, String>,
}

/// The version of the derivation rule: a share derived under another one is derived in full
/// at its next session.
const DERIVATION: u32 = 1;

impl ShareDef {
    /// Whether the projections are those of the vault at change `seq` (nothing to derive).
    /// Whether `share show` must derive (and so write) before it can show this share: it was
    /// never derived under the current rule.
    pub fn needs_derivation(&self) -> bool {
        self.derived_rule != DERIVATION
    }

    fn derived_at(&self, seq: u64) -> bool {
        self.derived_rule == DERIVATION && self.derived_seq == seq
    }

    fn secret_bytes(&self) -> [u8; 32] {
        data_encoding::HEXLOWER
            .decode(self.secret.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 32])
    }

    pub fn actor_id(&self) -> ActorId {
        ActorId::from(
            data_encoding::HEXLOWER
                .decode(self.actor.as_bytes())
                .unwrap_or_default(),
        )
    }
}

/// A share received from a person.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Received {
    pub id: DocId,
    /// The sharing person's key (hex).
    pub from: String,
    pub epoch: u32,
    /// The actors the owner announced for the epoch (hex).
    pub actors: Vec<String>,
    pub fields: Vec<Field>,
    /// Last time a session with the owner completed (ms), on this device or (relayed) on
    /// another of the user's devices.
    pub updated: i64,
    /// The name the user gave the person, for devices that do not know the person (slices
    /// relayed by an own device, docs/design/sharing.md).
    #[serde(default)]
    pub from_name: String,
    /// Revoked (or the person removed): the documents are gone; the record stays as a
    /// tombstone so an own device that still holds the slice cannot bring it back.
    #[serde(default)]
    pub revoked: bool,
    /// How many times documents of this slice were stored on this device (local bookkeeping,
    /// never sent): part of `Sharing::slices_mark`, which tells the daemon to push slices.
    #[serde(default)]
    pub stored: u64,
}

/// What the owner announces for one share in a session's offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferEntry {
    pub id: [u8; 16],
    pub epoch: u32,
    pub actors: Vec<String>,
    pub fields: Vec<Field>,
}

pub(crate) fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("plain data")
}

pub(crate) fn dec<T: for<'a> Deserialize<'a>>(b: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(b)
        .map_err(|e| AppError::Store(StoreError::Internal(format!("damaged {what}: {e}"))))
}

fn hex(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(b)
}

pub(crate) fn key2(a: &DocId, b: &DocId) -> Vec<u8> {
    let mut k = a.0.to_vec();
    k.extend_from_slice(&b.0);
    k
}

pub(crate) fn all_persons(r: &crate::store::Reader) -> Result<Vec<Person>> {
    r.share_scan(ShareTable::Persons, &[])?
        .iter()
        .map(|(_, v)| dec(v, "person"))
        .collect()
}

/// One contact of a received slice, as the recipient sees it.
#[derive(Clone, Debug, Serialize)]
pub struct SharedRow {
    /// Who shared it (the name this user gave the person).
    pub from: String,
    pub share: String,
    /// The pseudonym id of the contact in that share.
    pub id: String,
    pub values: Projection,
    pub updated: i64,
    /// The folded name and search terms, as `ix_received` holds them (not printed).
    #[serde(skip)]
    pub text: crate::store::RowText,
}

impl SharedRow {
    pub fn get(&self, k: &str) -> String {
        match self.values.get(k) {
            Some(share::PValue::Str(s)) => s.clone(),
            Some(share::PValue::Set(s)) => s.iter().cloned().collect::<Vec<_>>().join(", "),
            None => String::new(),
        }
    }
}

/// A row of `kith share list`.
#[derive(Clone, Debug, Serialize)]
pub struct ShareRow {
    pub id: String,
    pub with: String,
    pub filter: Filter,
    pub fields: Vec<Field>,
    pub epoch: u32,
    pub contacts: usize,
    pub write_attempts: u32,
    /// When the last refused write happened (ms since the epoch), 0 if never.
    pub last_attempt: i64,
    /// `None`: this device serves the share; else the name of the own device that does (as
    /// of the last `kith sync` with it).
    pub served_by: Option<String>,
}

/// A row of `kith who-knows`.
#[derive(Clone, Debug, Serialize)]
pub struct WhoKnows {
    pub name: String,
    pub org: String,
    pub title: String,
    pub help: String,
    /// Empty for your own contacts; the person whose slice it came from otherwise.
    pub through: String,
    pub score: u32,
    pub id: String,
    /// The contact the row stands for (not printed): the web UI links to its page.
    #[serde(skip)]
    pub of: WhoOf,
}

/// The contact a row of `kith who-knows` stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WhoOf {
    /// An own contact.
    Own(DocId),
    /// A received contact: its share id and pseudonym (hex, as in [`SharedRow`]).
    Received { share: String, id: String },
}

/// The score of a row for the query `words`: for each word the best weight of a field with a
/// term equal to it (weight + 5) or starting with it (weight); 0 unless every word matches
/// some field. `fields`: each field's search terms and weight.
fn score_terms(words: &[String], fields: &[(Vec<&str>, u32)]) -> u32 {
    let mut total = 0;
    for w in words {
        let mut best = 0;
        for (terms, weight) in fields {
            if terms.iter().any(|t| t == w) {
                best = best.max(weight + 5);
            } else if terms.iter().any(|t| t.starts_with(w.as_str())) {
                best = best.max(*weight);
            }
        }
        if best == 0 {
            return 0;
        }
        total += best;
    }
    total
}

/// The sharing use cases over an open vault (the CLI gets one from [`App::sharing`]; the
/// network code builds one over the daemon's vault).
pub struct Sharing<'a> {
    pub vault: &'a Vault,
    /// Milliseconds since the epoch.
    pub now: i64,
}

impl App {
    pub fn sharing(&self) -> Sharing<'_> {
        Sharing {
            vault: &self.vault,
            now: self.now(),
        }
    }

    /// Rewrites the vault file so dropped documents leave no bytes behind in free pages.
    pub fn compact_after_drop(&mut self) -> Result<()> {
        self.vault.optimize()?;
        Ok(())
    }
}

impl Sharing<'_> {
    // -----------------------------------------------------------------------------------------
    // Persons

    /// Every person this device knows: paired here, or relayed by the own device they were
    /// paired on (`paired_on` names it).
    pub fn persons(&self) -> Result<Vec<Person>> {
        let r = self.vault.read()?;
        let mut all = all_persons(&r)?;
        if all.iter().any(|p| !p.paired_here()) {
            let names = super::devices::device_names(&r)?;
            for p in all.iter_mut().filter(|p| !p.paired_here()) {
                p.paired_on = Some(
                    names
                        .get(&p.via)
                        .cloned()
                        .unwrap_or_else(|| p.via.chars().take(8).collect()),
                );
            }
        }
        Ok(all)
    }

    /// The persons paired on this device (the ones it dials, admits and shares with).
    pub fn persons_paired_here(&self) -> Result<Vec<Person>> {
        Ok(self
            .persons()?
            .into_iter()
            .filter(Person::paired_here)
            .collect())
    }

    /// Resolves a person by the name this user gave them (case-insensitive) or a key prefix.
    pub fn resolve_person(&self, name: &str) -> Result<Person> {
        let persons = self.persons()?;
        let n = name.trim().to_lowercase();
        let hits: Vec<&Person> = persons
            .iter()
            .filter(|p| p.name.to_lowercase() == n || (n.len() >= 8 && p.key.starts_with(&n)))
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(AppError::hint(
                format!("no person called '{}'", name.trim()),
                if persons.is_empty() {
                    "pair with someone first: `kith person invite --name NAME`".to_string()
                } else {
                    format!(
                        "persons: {}",
                        persons
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            )),
            _ => Err(AppError::user(format!(
                "'{}' names several persons; use a longer key prefix",
                name.trim()
            ))),
        }
    }

    /// Records a person (pairing); a person already known by key keeps their entry, renamed.
    pub fn add_person(&self, name: &str, key: &str, addrs: Vec<String>) -> Result<()> {
        let now = self.now;
        self.vault.write(now, |w| {
            let others: Vec<Person> = w
                .share_scan(ShareTable::Persons, &[])?
                .iter()
                .map(|(_, v)| dec::<Person>(v, "person"))
                .collect::<Result<_>>()?;
            if others
                .iter()
                .any(|p| p.key != key && p.name.eq_ignore_ascii_case(name))
            {
                return Err(AppError::hint(
                    format!("there is already a person called '{name}'"),
                    "choose another --name",
                ));
            }
            let p = Person {
                name: name.to_string(),
                key: key.to_string(),
                addrs,
                added: now,
                last_sync: 0,
                last_error: String::new(),
                via: String::new(),
                paired_on: None,
            };
            w.share_put(ShareTable::Persons, key.as_bytes(), &enc(&p))?;
            // The intro actor for the person is made at pairing, so it travels with the
            // person to the user's other devices (`app::intro_relay`).
            super::intro::peer_with_actor(w, key)?;
            Ok(())
        })
    }

    /// Removes a person, the shares to them and what they shared (then compacts).
    pub fn remove_person(&self, name: &str) -> Result<Person> {
        let p = self.resolve_person(name)?;
        p.check_paired_here("remove")?;
        let shares: Vec<DocId> = self
            .shares()?
            .into_iter()
            .filter(|s| s.person == p.key)
            .map(|s| s.id)
            .collect();
        for id in shares {
            self.revoke_share(&id.to_hex())?;
        }
        self.vault.write(self.now, |w| {
            w.share_delete(ShareTable::Persons, p.key.as_bytes())?;
            super::intro::drop_intros_of(w, &p.key)?;
            Ok::<_, AppError>(())
        })?;
        self.drop_received_except(&p.key, &[])?;
        Ok(p)
    }

    pub(crate) fn update_person(&self, key: &str, f: impl FnOnce(&mut Person)) -> Result<()> {
        self.vault.write(self.now, |w| {
            if let Some(v) = w.share_get(ShareTable::Persons, key.as_bytes())? {
                let mut p: Person = dec(&v, "person")?;
                f(&mut p);
                w.share_put(ShareTable::Persons, key.as_bytes(), &enc(&p))?;
            }
            Ok(())
        })
    }

    // -----------------------------------------------------------------------------------------
    // Shares (owner side)

    pub fn shares(&self) -> Result<Vec<ShareDef>> {
        let r = self.vault.read()?;
        r.share_scan(ShareTable::Shares, &[])?
            .iter()
            .map(|(_, v)| dec(v, "share"))
            .collect()
    }

    pub fn resolve_share(&self, reference: &str) -> Result<ShareDef> {
        let q = reference.trim().to_lowercase();
        let hits: Vec<ShareDef> = self
            .shares()?
            .into_iter()
            .filter(|s| q.len() >= 4 && s.id.to_hex().starts_with(&q))
            .collect();
        match hits.len() {
            1 => Ok(hits.into_iter().next().expect("one")),
            0 => match self
                .shares_elsewhere_rows()?
                .into_iter()
                .find(|s| q.len() >= 4 && s.id.starts_with(&q))
            {
                Some(s) => Err(AppError::hint(
                    format!(
                        "share {} is served by your device {}, not this one",
                        &s.id[..8],
                        s.served_by.unwrap_or_default()
                    ),
                    "show, edit or revoke it there (one device serves a share)",
                )),
                None => Err(AppError::hint(
                    format!("no share '{}'", reference.trim()),
                    "`kith share list` shows the ids (at least 4 hex digits)",
                )),
            },
            _ => Err(AppError::user(format!(
                "'{}' names several shares; give more digits",
                reference.trim()
            ))),
        }
    }

    /// Creates a share with a person and derives its projections. Returns its id.
    pub fn create_share(&self, person: &str, spec: Spec) -> Result<DocId> {
        let p = self.resolve_person(person)?;
        p.check_paired_here("share with")?;
        let def = ShareDef {
            id: DocId(rand::random()),
            person: p.key,
            spec,
            secret: hex(&rand::random::<[u8; 32]>()),
            epoch: 1,
            actor: hex(&rand::random::<[u8; 16]>()),
            created: self.now,
            updated: self.now,
            last: BTreeMap::new(),
            write_attempts: 0,
            last_attempt: 0,
            derived_seq: 0,
            derived_rule: 0,
            leaves: BTreeMap::new(),
        };
        let id = def.id;
        self.vault.write(self.now, |w| derive(w, def))?;
        Ok(id)
    }

    /// Changes a share's filter and/or fields (a narrowing starts a new epoch).
    pub fn edit_share(
        &self,
        reference: &str,
        filter: Option<Filter>,
        fields: Option<BTreeSet<Field>>,
    ) -> Result<ShareDef> {
        let id = self.resolve_share(reference)?.id;
        test_pause();
        let now = self.now;
        // The definition is read again in the write transaction that derives and stores it:
        // a copy read before could be stale (revoked, a new epoch derived by a session, a
        // refused write counted), and storing it would undo that change.
        self.vault.write(now, |w| {
            let mut def = current_def(w, &id)?;
            if let Some(f) = filter {
                def.spec.filter = f;
            }
            if let Some(f) = fields {
                def.spec.fields = f;
            }
            def.updated = now;
            // A new spec: every contact is a candidate again.
            def.derived_rule = 0;
            derive(w, def)
        })
    }

    /// Revokes a share: its definition and projections are deleted.
    pub fn revoke_share(&self, reference: &str) -> Result<ShareDef> {
        let def = self.resolve_share(reference)?;
        self.vault.write(self.now, |w| {
            w.share_delete(ShareTable::Shares, &def.id.0)?;
            w.share_delete_prefix(ShareTable::ShareDocs, &def.id.0)?;
            Ok::<_, AppError>(())
        })?;
        Ok(def)
    }

    /// What the person sees: the projections as the next derivation (a session, `share
    /// edit`) makes them from the vault's current state, with the epoch it would have. Reads
    /// only: the projections last derived, re-projected for the documents changed since
    /// (`ShareDef::derived_seq`). A share last derived by an older kith is derived now, once.
    pub fn show_share(&self, reference: &str) -> Result<(ShareDef, Vec<Projection>)> {
        let def = self.resolve_share(reference)?;
        let def = if !def.needs_derivation() {
            let seq = def.derived_seq;
            self.as_derived_now(def, seq)?
        } else {
            self.vault
                .write(self.now, |w| derive(w, current_def(w, &def.id)?))?
        };
        let mut rows: Vec<Projection> = def.last.values().cloned().collect();
        rows.sort_by_cached_key(|p| match p.get("name") {
            Some(share::PValue::Str(s)) => kith_core::text::fold(s),
            _ => String::new(),
        });
        Ok((def, rows))
    }

    /// `def` as `derive` would leave it now (its `last` and epoch), computed without writing.
    fn as_derived_now(&self, mut def: ShareDef, seq: u64) -> Result<ShareDef> {
        let r = self.vault.read()?;
        let changed = r.changed_after(seq)?;
        if changed.is_empty() {
            return Ok(def);
        }
        let mut now_proj = def.last.clone();
        for id in changed {
            if id == kith_core::tombstones::TOMBSTONES_DOC {
                // A purge: its contact's change entry went with it.
                let mut gone = Vec::new();
                for cid in now_proj.keys() {
                    if r.contact(*cid)?.is_none() {
                        gone.push(*cid);
                    }
                }
                for cid in gone {
                    now_proj.remove(&cid);
                }
                continue;
            }
            if r.contact(id)?.is_none() {
                now_proj.remove(&id);
                continue;
            }
            let Some(doc) = r.load(id)? else {
                now_proj.remove(&id);
                continue;
            };
            match projection_in(&def.spec, id, &model::read_contact(&doc)) {
                Some(p) => now_proj.insert(id, p),
                None => now_proj.remove(&id),
            };
        }
        if share::narrows(&def.last, &now_proj) {
            def.epoch += 1;
        }
        def.last = now_proj;
        Ok(def)
    }

    pub fn share_rows(&self) -> Result<Vec<ShareRow>> {
        let persons = self.persons()?;
        let r = self.vault.read()?;
        let mut out = Vec::new();
        for s in self.shares()? {
            let n = r.share_scan(ShareTable::ShareDocs, &s.id.0)?.len();
            out.push(ShareRow {
                id: s.id.to_hex(),
                with: persons
                    .iter()
                    .find(|p| p.key == s.person)
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| s.person[..8].to_string()),
                filter: s.spec.filter.clone(),
                fields: s.spec.fields.iter().copied().collect(),
                epoch: s.epoch,
                contacts: n,
                write_attempts: s.write_attempts,
                last_attempt: s.last_attempt,
                served_by: None,
            });
        }
        out.extend(self.shares_elsewhere_rows()?);
        Ok(out)
    }

    /// The offer and the scoped stores of every share to `person_key`, each derived first if
    /// the vault changed since its last derivation (only the documents changed since then are
    /// looked at). A share whose projections are current costs one read transaction and no
    /// document load.
    pub fn serve_shares(&self, person_key: &str) -> Result<Vec<(OfferEntry, ShareStore)>> {
        let ids: Vec<DocId> = self
            .shares()?
            .into_iter()
            .filter(|d| d.person == person_key)
            .map(|d| d.id)
            .collect();
        let mut out = Vec::new();
        for id in ids {
            // The definition, the change counter and the projections from one snapshot.
            let current = {
                let r = self.vault.read()?;
                match r.share_get(ShareTable::Shares, &id.0)? {
                    None => continue, // revoked meanwhile
                    Some(v) => {
                        let def: ShareDef = dec(&v, "share")?;
                        if def.derived_at(r.change_seq()?) {
                            tracing::info!(share = %id.short(), "projections current: nothing derived");
                            let store =
                                store_of(&def, r.share_scan(ShareTable::ShareDocs, &id.0)?)?;
                            Some((def, store))
                        } else {
                            None
                        }
                    }
                }
            };
            let served = match current {
                Some(x) => Some(x),
                None => self.vault.write(self.now, |w| {
                    // Read again in the write transaction: another process may have derived
                    // (or revoked) it since.
                    let Some(v) = w.share_get(ShareTable::Shares, &id.0)? else {
                        return Ok::<_, AppError>(None);
                    };
                    let def = derive(w, dec(&v, "share")?)?;
                    let store = store_of(&def, w.share_scan(ShareTable::ShareDocs, &id.0)?)?;
                    Ok(Some((def, store)))
                })?,
            };
            let Some((def, store)) = served else { continue };
            out.push((
                OfferEntry {
                    id: def.id.0,
                    epoch: def.epoch,
                    actors: vec![def.actor.clone()],
                    fields: def.spec.fields.iter().copied().collect(),
                },
                store,
            ));
        }
        Ok(out)
    }

    /// Records that a person tried to write into a share (refused).
    pub fn record_write_attempt(&self, share: &DocId) -> Result<()> {
        let now = self.now;
        self.vault.write(now, |w| {
            if let Some(v) = w.share_get(ShareTable::Shares, &share.0)? {
                let mut def: ShareDef = dec(&v, "share")?;
                def.write_attempts += 1;
                def.last_attempt = now;
                w.share_put(ShareTable::Shares, &share.0, &enc(&def))?;
            }
            Ok(())
        })
    }

    // -----------------------------------------------------------------------------------------
    // Received (recipient side)

    /// The live received shares (not revoked).
    pub fn received(&self) -> Result<Vec<Received>> {
        Ok(self
            .received_all()?
            .into_iter()
            .filter(|r| !r.revoked)
            .collect())
    }

    /// Every received share record, revoked ones (tombstones) included.
    pub fn received_all(&self) -> Result<Vec<Received>> {
        let r = self.vault.read()?;
        r.share_scan(ShareTable::ReceivedShares, &[])?
            .iter()
            .map(|(_, v)| dec(v, "received share"))
            .collect()
    }

    /// The received store of one share (current epoch), for a session. A document is put
    /// saved with the heads its header records (`share::saved_heads`), so a session that
    /// finds nothing changed loads none; one whose header does not read is loaded (and left
    /// out if it does not load, as before).
    pub fn received_store(&self, share: &DocId) -> Result<ShareStore> {
        let r = self.vault.read()?;
        let mut store = ShareStore::new();
        for (k, v) in r.share_scan(ShareTable::Received, &share.0)? {
            let Ok(pid) = <[u8; 16]>::try_from(&k[16..]) else {
                continue;
            };
            let pid = DocId(pid);
            match share::saved_heads(&v) {
                Some(heads) if !heads.is_empty() => {
                    let leaf = kith_core::sync::leaf_digest(&pid, &heads);
                    store.put_saved(pid, v, leaf);
                }
                _ => {
                    if let Ok(doc) = Automerge::load(&v) {
                        store.put(pid, doc);
                    }
                }
            }
        }
        Ok(store)
    }

    /// Before a session: records the owner's offer for a share; a new epoch drops the old
    /// epoch's documents. Returns whether anything was dropped.
    pub fn begin_received(&self, from: &str, offer: &OfferEntry) -> Result<bool> {
        let id = DocId(offer.id);
        let now = self.now;
        self.vault.write(now, |w| {
            let old: Option<Received> = match w.share_get(ShareTable::ReceivedShares, &id.0)? {
                Some(v) => Some(dec(&v, "received share")?),
                None => None,
            };
            if old.as_ref().is_some_and(|o| o.from != from) {
                return Err(AppError::user(
                    "a person offered a share id another person uses",
                ));
            }
            // The owner is the authority on its shares: its offer replaces whatever an own
            // device relayed (a tombstone included).
            let dropped = match &old {
                Some(o) if o.epoch != offer.epoch => {
                    w.share_delete_prefix(ShareTable::Received, &id.0)? > 0
                }
                _ => false,
            };
            let from_name = w
                .share_get(ShareTable::Persons, from.as_bytes())?
                .and_then(|v| dec::<Person>(&v, "person").ok())
                .map(|p| p.name)
                .unwrap_or_default();
            let rec = Received {
                id,
                from: from.to_string(),
                epoch: offer.epoch,
                actors: offer.actors.clone(),
                fields: offer.fields.clone(),
                updated: old.as_ref().map(|o| o.updated).unwrap_or(0),
                from_name,
                revoked: false,
                stored: old.map(|o| o.stored).unwrap_or(0),
            };
            w.share_put(ShareTable::ReceivedShares, &id.0, &enc(&rec))?;
            Ok(dropped)
        })
    }

    /// After a completed session: stores the documents received, each checked to hold only
    /// changes by the epoch's announced actors (else nothing is stored). `epoch` is the epoch
    /// the session ran in: if the record moved on meanwhile (a new epoch, a revocation), the
    /// documents are stale and refused. `updated`: when the owner's session completed, for
    /// documents relayed by an own device (`None`: now, from the owner itself).
    pub fn store_received(
        &self,
        share: &DocId,
        docs: &[(DocId, Automerge)],
        epoch: u32,
        updated: Option<i64>,
    ) -> Result<()> {
        let now = self.now;
        self.vault.write(now, |w| {
            let Some(v) = w.share_get(ShareTable::ReceivedShares, &share.0)? else {
                return Err(AppError::user("received documents for a share never offered"));
            };
            let mut rec: Received = dec(&v, "received share")?;
            if rec.revoked || rec.epoch != epoch {
                return Err(AppError::user(format!(
                    "share {} changed epoch or was revoked during the session; nothing stored",
                    share.short()
                )));
            }
            let actors: Vec<ActorId> = rec
                .actors
                .iter()
                .map(|a| ActorId::from(data_encoding::HEXLOWER.decode(a.as_bytes()).unwrap_or_default()))
                .collect();
            for (pid, doc) in docs {
                if !share::changes_only_by(doc, &actors) {
                    return Err(AppError::user(format!(
                        "refused a shared document holding changes by an actor the owner did not announce ({})",
                        pid.short()
                    )));
                }
                w.share_put(ShareTable::Received, &key2(share, pid), &doc.save())?;
            }
            rec.updated = match updated {
                Some(t) => rec.updated.max(t),
                None => now,
            };
            if !docs.is_empty() {
                rec.stored += 1;
            }
            w.share_put(ShareTable::ReceivedShares, &share.0, &enc(&rec))?;
            Ok(())
        })
    }

    /// Drops every received share from `from` not in `keep` (revoked). Returns how many
    /// shares were dropped; the caller then compacts the file (`App::compact_after_drop`).
    pub fn drop_received_except(&self, from: &str, keep: &[[u8; 16]]) -> Result<usize> {
        let gone: Vec<DocId> = self
            .received()?
            .into_iter()
            .filter(|r| r.from == from && !keep.contains(&r.id.0))
            .map(|r| r.id)
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        self.vault.write(self.now, |w| {
            for id in &gone {
                tombstone(w, id)?;
            }
            Ok::<_, AppError>(())
        })?;
        Ok(gone.len())
    }

    /// Every received contact, optionally from one person only (a person known here, or
    /// the name of a person whose slice an own device relayed).
    pub fn shared(&self, from: Option<&str>) -> Result<Vec<SharedRow>> {
        let persons = self.persons()?;
        let only = match from {
            Some(n) => match self.resolve_person(n) {
                Ok(p) => Some(p.key),
                Err(e) => match self
                    .received()?
                    .into_iter()
                    .find(|r| r.from_name.eq_ignore_ascii_case(n.trim()))
                {
                    Some(r) => Some(r.from),
                    None => return Err(e),
                },
            },
            None => None,
        };
        // One row per received contact from `ix_received` (what its document shows), not the
        // documents themselves.
        let r = self.vault.read()?;
        let mut out = Vec::new();
        for rec in self.received()? {
            if only.as_ref().is_some_and(|k| *k != rec.from) {
                continue;
            }
            let who = sender_name(&persons, &rec);
            let share = rec.id.to_hex();
            for row in r.received_rows(&rec.id.0)? {
                out.push(SharedRow {
                    from: who.clone(),
                    share: share.clone(),
                    id: hex(&row.pid),
                    values: row.values,
                    updated: rec.updated,
                    text: row.text,
                });
            }
        }
        // By folded name (stored in the row), stable: equal names keep the slice order.
        out.sort_by(|a, b| a.text.sort.cmp(&b.text.sort));
        Ok(out)
    }

    /// One received contact by its share id and pseudonym (hex, as in [`SharedRow`]); `None`
    /// when no live slice holds it.
    pub fn shared_row(&self, share: &str, id: &str) -> Result<Option<SharedRow>> {
        let parse = |h: &str| -> Option<[u8; 16]> {
            data_encoding::HEXLOWER_PERMISSIVE
                .decode(h.as_bytes())
                .ok()?
                .try_into()
                .ok()
        };
        let (Some(sid), Some(pid)) = (parse(share), parse(id)) else {
            return Ok(None);
        };
        let r = self.vault.read()?;
        let Some(v) = r.share_get(ShareTable::ReceivedShares, &sid)? else {
            return Ok(None);
        };
        let rec: Received = dec(&v, "received share")?;
        if rec.revoked {
            return Ok(None);
        }
        let Some((values, text)) = r.received_row(&sid, &pid)? else {
            return Ok(None);
        };
        Ok(Some(SharedRow {
            from: sender_name(&all_persons(&r)?, &rec),
            share: rec.id.to_hex(),
            id: hex(&pid),
            values,
            updated: rec.updated,
            text,
        }))
    }

    /// Received contacts matching every word of `query` in their name, org, title, help or
    /// tags (for `search`, `show`).
    pub fn shared_matching(&self, query: &str) -> Result<Vec<(u32, SharedRow)>> {
        let words = kith_core::text::terms(query);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for row in self.shared(None)? {
            // The terms were folded when the row was stored (`ix_received`).
            let fields = [
                ("name", 40),
                ("org", 30),
                ("title", 20),
                ("help", 15),
                ("tags", 10),
            ]
            .map(|(f, w)| (row.text.terms_of(f).collect::<Vec<_>>(), w));
            let score = score_terms(&words, &fields);
            if score > 0 {
                out.push((score, row));
            }
        }
        out.sort_by_key(|x| std::cmp::Reverse(x.0));
        Ok(out)
    }

    /// `kith who-knows QUERY`: own and received contacts whose org, title or help match.
    pub fn who_knows(&self, query: &str) -> Result<Vec<WhoKnows>> {
        let words = kith_core::text::terms(query);
        if words.is_empty() {
            return Err(AppError::hint(
                "the query has no words",
                "ask for an organisation, a title or a word of how they could help, e.g. `kith who-knows acme`",
            ));
        }
        let mut out = Vec::new();
        let r = self.vault.read()?;
        // Candidates from the full-text index: the documents in which every query word is a
        // prefix of some term. Org, title and help are all indexed terms, so every contact
        // that can score is among them. Each is read from its summary row (`ix_contacts`
        // carries the primary org and title and `help`): no document is loaded.
        let mut candidates: Option<std::collections::BTreeSet<u32>> = None;
        for w in &words {
            let hits: std::collections::BTreeSet<u32> = r.postings_prefix(w)?.into_keys().collect();
            candidates = Some(match candidates {
                None => hits,
                Some(prev) => prev.intersection(&hits).copied().collect(),
            });
        }
        for ord in candidates.unwrap_or_default() {
            let Some(id) = r.id_of_ord(ord)? else {
                continue;
            };
            // `None`: a note, an interaction...: not a contact.
            let Some(c) = r.contact(id)? else { continue };
            if c.archived || !c.merged_into.is_empty() {
                continue;
            }
            let terms = [&c.org, &c.title, &c.help].map(|t| kith_core::text::terms(t));
            let fields = [(&terms[0], 30), (&terms[1], 20), (&terms[2], 15)]
                .map(|(t, w)| (t.iter().map(String::as_str).collect::<Vec<_>>(), w));
            let s = score_terms(&words, &fields);
            if s > 0 {
                out.push(WhoKnows {
                    name: c.name,
                    org: c.org,
                    title: c.title,
                    help: c.help,
                    through: String::new(),
                    score: s + 100,
                    id: id.short(),
                    of: WhoOf::Own(id),
                });
            }
        }
        for row in self.shared(None)? {
            let fields = [("org", 30), ("title", 20), ("help", 15)]
                .map(|(f, w)| (row.text.terms_of(f).collect::<Vec<_>>(), w));
            let s = score_terms(&words, &fields);
            if s > 0 {
                out.push(WhoKnows {
                    name: row.get("name"),
                    org: row.get("org"),
                    title: row.get("title"),
                    help: row.get("help"),
                    through: row.from.clone(),
                    score: s,
                    id: row.id[..8].to_string(),
                    of: WhoOf::Received {
                        share: row.share.clone(),
                        id: row.id.clone(),
                    },
                });
            }
        }
        out.sort_by(|a, b| b.score.cmp(&a.score).then(a.name.cmp(&b.name)));
        Ok(out)
    }
}

/// What the user calls the person a received share came from: their name as paired, else
/// the name an own device relayed, else the start of their key.
fn sender_name(persons: &[Person], rec: &Received) -> String {
    persons
        .iter()
        .find(|p| p.key == rec.from)
        .map(|p| p.name.clone())
        .or_else(|| (!rec.from_name.is_empty()).then(|| rec.from_name.clone()))
        .unwrap_or_else(|| rec.from.chars().take(8).collect())
}

/// Deletes a received share's documents and leaves its record as a tombstone (revoked, no
/// actors), so an own device still holding the slice cannot bring it back.
pub(crate) fn tombstone(w: &mut Writer, id: &DocId) -> Result<bool> {
    let dropped = w.share_delete_prefix(ShareTable::Received, &id.0)? > 0;
    if let Some(v) = w.share_get(ShareTable::ReceivedShares, &id.0)? {
        let mut rec: Received = dec(&v, "received share")?;
        rec.revoked = true;
        rec.actors.clear();
        w.share_put(ShareTable::ReceivedShares, &id.0, &enc(&rec))?;
    }
    Ok(dropped)
}

/// Whether every word of a query filter matches (as a prefix) a word of the contact's name,
/// organisation, title, emails, tags or help.
fn query_matches(words: &[String], c: &model::Contact) -> bool {
    let mut text: Vec<String> = vec![c.name.clone(), c.help.clone()];
    for r in c.orgs.values() {
        text.push(r.org.clone());
        text.push(r.title.clone());
    }
    text.extend(c.emails.values().map(|e| e.value.clone()));
    text.extend(c.tags.iter().cloned());
    let terms: Vec<String> = text
        .iter()
        .flat_map(|t| kith_core::text::terms(t))
        .collect();
    !words.is_empty()
        && words
            .iter()
            .all(|w| terms.iter().any(|t| t.starts_with(w.as_str())))
}

/// The projection of contact `id` in a share with `spec`; `None` when the contact is not in
/// the slice. The one rule of `derive` and of `show_share`'s view.
fn projection_in(spec: &Spec, id: DocId, c: &model::Contact) -> Option<Projection> {
    let hits: BTreeSet<DocId> = match &spec.filter {
        Filter::Query(q) if query_matches(&kith_core::text::terms(q), c) => [id].into(),
        _ => BTreeSet::new(),
    };
    spec.selects(&id, c, &hits)
        .then(|| share::project(c, &spec.fields))
}

/// The scoped store of a share from its `share_docs` rows: documents whose leaf `derive`
/// recorded are put saved (not loaded); any other is loaded.
fn store_of(def: &ShareDef, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Result<ShareStore> {
    let mut store = ShareStore::new();
    for (k, v) in rows {
        let Ok(pid) = <[u8; 16]>::try_from(&k[16..]) else {
            continue;
        };
        let pid = DocId(pid);
        let leaf = def
            .leaves
            .get(&pid)
            .and_then(|h| data_encoding::HEXLOWER.decode(h.as_bytes()).ok())
            .and_then(|b| <[u8; 16]>::try_from(b).ok());
        match leaf {
            Some(leaf) => store.put_saved(pid, v, leaf),
            None => {
                let doc = Automerge::load(&v).map_err(|e| {
                    AppError::Store(StoreError::Internal(format!("damaged projection: {e}")))
                })?;
                store.put(pid, doc);
            }
        }
    }
    Ok(store)
}

/// A share's definition as stored now, in the write transaction `w` (revoked: an error).
fn current_def(w: &Writer, id: &DocId) -> Result<ShareDef> {
    match w.share_get(ShareTable::Shares, &id.0)? {
        Some(v) => dec(&v, "share"),
        None => Err(AppError::user(format!(
            "share {} was revoked meanwhile",
            id.short()
        ))),
    }
}

/// Test hook (`KITH_TEST_DERIVE_PAUSE=PATH`): creates PATH and waits (at most 30 s) until
/// it is removed, so a test can run another command between reading a share's definition
/// and deriving it.
fn test_pause() {
    let Some(path) = std::env::var_os("KITH_TEST_DERIVE_PAUSE") else {
        return;
    };
    let path = std::path::PathBuf::from(path);
    if std::fs::write(&path, b"paused").is_err() {
        return;
    }
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while path.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Derives a share's projections in the write transaction `w` and stores the definition.
///
/// Incremental when it can be: if the share was derived under this rule at change `S` of the
/// vault, only the documents changed after `S` (the vault's change log) can have entered,
/// left or changed the slice, since whether a contact is in it and what it shows depend on
/// that contact's document alone; the other projections are those of `def.last`. A purge
/// (the tombstone document changed: a deleted document leaves the change log), a new spec
/// (`derived_rule` reset by `edit_share`) or an older mark derive in full.
fn derive(w: &mut Writer, mut def: ShareDef) -> Result<ShareDef> {
    let seq = w.change_seq()?;
    let changed = if def.derived_rule == DERIVATION && def.derived_seq <= seq {
        let ids = w.changed_after(def.derived_seq)?;
        (!ids.contains(&kith_core::tombstones::TOMBSTONES_DOC)).then_some(ids)
    } else {
        None
    };
    if changed.as_ref().is_some_and(|c| c.is_empty()) {
        return Ok(def); // nothing changed since the last derivation
    }
    let incremental = changed.is_some();
    let (mut now_proj, candidates): (BTreeMap<DocId, Projection>, Vec<DocId>) = match changed {
        Some(ids) => {
            let mut p = def.last.clone();
            for id in &ids {
                p.remove(id);
            }
            (p, ids)
        }
        None => (
            BTreeMap::new(),
            match &def.spec.filter {
                Filter::Contacts(ids) => ids.iter().copied().collect(),
                Filter::Query(_) => w.contact_ids()?,
                Filter::Tags(tags) => {
                    let mut v = Vec::new();
                    for id in w.contact_ids()? {
                        if let Some(s) = w.contact(id)? {
                            if s.tags.iter().any(|t| tags.contains(t)) {
                                v.push(id);
                            }
                        }
                    }
                    v
                }
            },
        ),
    };
    let read = candidates.len();
    for id in candidates {
        let Some(l) = w.load(id)? else { continue };
        if kith_core::model::doc_kind(&l.doc) != Some(kith_core::Kind::Contact) {
            continue;
        }
        let c = model::read_contact(&l.doc);
        if let Some(p) = projection_in(&def.spec, id, &c) {
            now_proj.insert(id, p);
        }
    }
    if share::narrows(&def.last, &now_proj) {
        // A new epoch: fresh actor, fresh pseudonyms, the old documents gone.
        w.share_delete_prefix(ShareTable::ShareDocs, &def.id.0)?;
        def.epoch += 1;
        def.actor = hex(&rand::random::<[u8; 16]>());
        def.last.clear();
        def.leaves.clear();
    }
    let secret = def.secret_bytes();
    let actor = def.actor_id();
    let mut written = 0;
    for (cid, p) in &now_proj {
        if def.last.get(cid) == Some(p) {
            continue;
        }
        written += 1;
        let pid = share::pseudonym(&secret, def.epoch, cid);
        let key = key2(&def.id, &pid);
        let doc = match w.share_get(ShareTable::ShareDocs, &key)? {
            Some(bytes) => {
                let mut d = AutoCommit::load(&bytes).map_err(super::am_err)?;
                share::refresh_projection(&mut d, p, actor.clone()).map_err(super::am_err)?;
                d
            }
            None => share::build_projection(p, actor.clone()).map_err(super::am_err)?,
        };
        let mut doc = doc;
        let leaf = kith_core::sync::leaf_digest(&pid, &doc.get_heads());
        def.leaves.insert(pid, hex(&leaf));
        w.share_put(ShareTable::ShareDocs, &key, &doc.save())?;
    }
    tracing::info!(
        share = %def.id.short(),
        "derived: {read} document(s) read ({}), {written} projection(s) written, epoch {}",
        if incremental { "changed since the last derivation" } else { "in full" },
        def.epoch
    );
    def.last = now_proj;
    def.derived_seq = seq;
    def.derived_rule = DERIVATION;
    w.share_put(ShareTable::Shares, &def.id.0, &enc(&def))?;
    Ok(def)
}
