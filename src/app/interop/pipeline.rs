//! Building an import's new documents on worker threads while the main thread reads and
//! matches the next cards, and storing them in input order, many per call
//! (`Writer::insert_new`).
//!
//! Invariant: the vault an import leaves is the one the sequential path (each document built,
//! saved and indexed in turn with `Writer::save_indexed`) leaves, table for table: ids are
//! drawn on the main thread in input order, documents are stored in input order, and nothing
//! reads the vault for a card while a document it could see is still being built (a card whose
//! UID, email, phone or id is one of a pending contact's, or that matched an existing contact,
//! waits until every pending document is stored).

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::Scope;

use automerge::ActorId;
use kith_core::index;
use kith_core::model::{self, Contact, Interaction, Note};
use kith_core::{DocId, Kind};

use super::Abort;
use crate::app::{am_err, AppError};
use crate::store::{NewDoc, StoreError, Writer};

/// A new document to build.
pub(super) enum Job {
    Contact(Box<Contact>),
    Note(Note),
    Interaction(Interaction),
}

/// Builds and seals one new document (any thread).
fn build(
    actor: &ActorId,
    now: i64,
    id: DocId,
    job: Job,
) -> Result<NewDoc, automerge::AutomergeError> {
    let mut doc = NewDoc::empty(actor);
    let (kind, ix) = match job {
        Job::Contact(c) => {
            let stored = model::new_contact(&mut doc, &c, now)?;
            (Kind::Contact, index::contact_index(&stored))
        }
        Job::Note(n) => {
            let stored = model::new_note(&mut doc, &n, now)?;
            (Kind::Note, index::note_index(&stored))
        }
        Job::Interaction(i) => {
            let stored = model::new_interaction(&mut doc, &i, now)?;
            (Kind::Interaction, index::interaction_index(&stored))
        }
    };
    Ok(NewDoc::seal(id, doc, Some(kind), ix, now))
}

/// Documents stored per `insert_new` call while the import runs.
const BATCH: usize = 128;
/// At most this many documents are being built or waiting to be stored (bounds memory).
const AHEAD: usize = 1024;

type Built = (usize, Result<NewDoc, automerge::AutomergeError>);

/// The worker threads and what the main thread knows of the documents they build.
struct Workers {
    jobs: Sender<(usize, DocId, Job)>,
    built: Receiver<Built>,
}

/// New documents of one import: built on workers (or, sequentially, right away), stored in
/// input order.
pub(super) struct Builder<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    actor: ActorId,
    now: i64,
    workers: Option<Workers>,
    sequential: bool,
    ids: Ids,
    /// Documents handed out so far; `seq` numbers them in input order.
    sent: usize,
    /// Documents `seq < stored` are in the vault.
    stored: usize,
    done: BTreeMap<usize, NewDoc>,
    /// Identity keys and ids of contacts handed out, with the `seq` of the last one holding
    /// each: a card looking one of them up must wait until that contact is stored.
    keys: HashMap<String, usize>,
}

impl<'scope, 'env> Builder<'scope, 'env> {
    /// A builder for an import writing through `w`. `KITH_TEST_IMPORT_SEQUENTIAL` (tests) makes
    /// it build and save each document in turn with `save_indexed`, the reference the parallel
    /// path must equal; `KITH_TEST_ID_SEED` (tests) draws document ids from a fixed sequence.
    pub(super) fn new(scope: &'scope Scope<'scope, 'env>, w: &Writer) -> Self {
        let seed = std::env::var("KITH_TEST_ID_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        Builder {
            scope,
            actor: w.actor().clone(),
            now: w.now(),
            workers: None,
            sequential: std::env::var_os("KITH_TEST_IMPORT_SEQUENTIAL").is_some(),
            ids: Ids(seed.map(|s| s | 1)),
            sent: 0,
            stored: 0,
            done: BTreeMap::new(),
            keys: HashMap::new(),
        }
    }

    /// An id for a document the import creates (in input order, on this thread).
    pub(super) fn new_id(&mut self) -> DocId {
        self.ids.next()
    }

    /// Creates a new document with id `id` from `job`: now (sequential), or handed to a worker
    /// and stored later in input order.
    pub(super) fn create(&mut self, w: &mut Writer, id: DocId, job: Job) -> Result<(), Abort> {
        if self.sequential {
            let mut l = w.create_with_id(id);
            let now = self.now;
            match &job {
                Job::Contact(c) => {
                    let stored = model::new_contact(&mut l.doc, c, now).map_err(am_err)?;
                    w.save_indexed(l, Some(Kind::Contact), index::contact_index(&stored))?;
                }
                Job::Note(n) => {
                    let stored = model::new_note(&mut l.doc, n, now).map_err(am_err)?;
                    w.save_indexed(l, Some(Kind::Note), index::note_index(&stored))?;
                }
                Job::Interaction(i) => {
                    let stored = model::new_interaction(&mut l.doc, i, now).map_err(am_err)?;
                    let ix = index::interaction_index(&stored);
                    w.save_indexed(l, Some(Kind::Interaction), ix)?;
                }
            }
            return Ok(());
        }
        let seq = self.sent;
        if let Job::Contact(c) = &job {
            self.keys.insert(id.to_hex(), seq);
            if !c.uid.is_empty() {
                self.keys.insert(format!("u{}", c.uid), seq);
            }
            // The keys `contact_index` gives the email and phone tables.
            for e in c.emails.values() {
                let e = e.value.trim().to_lowercase();
                if !e.is_empty() {
                    self.keys.insert(format!("e{e}"), seq);
                }
            }
            for p in c.phones.values() {
                let k = index::phone_key(&p.value);
                if !k.is_empty() {
                    self.keys.insert(format!("p{k}"), seq);
                }
            }
        }
        self.start_workers();
        let sent = self
            .workers
            .as_ref()
            .is_some_and(|wk| wk.jobs.send((seq, id, job)).is_ok());
        if !sent {
            return Err(stopped());
        }
        self.sent += 1;
        self.pump(w, false)
    }

    /// Whether looking up `c` (by UID, export UID, email or phone, as import's matching does)
    /// could find a contact that is still being built.
    pub(super) fn must_wait_for(&self, c: &Contact) -> bool {
        if self.stored == self.sent {
            return false;
        }
        let pending = |k: &str| self.keys.get(k).is_some_and(|&s| s >= self.stored);
        if !c.uid.is_empty() {
            if pending(&format!("u{}", c.uid)) {
                return true;
            }
            if let Some(id) = kith_core::interop::map::doc_id_of_uid(&c.uid) {
                if pending(&id.to_hex()) {
                    return true;
                }
            }
        }
        c.emails
            .values()
            .any(|e| pending(&format!("e{}", e.value.trim().to_lowercase())))
            || c.phones.values().any(|p| {
                let k = index::phone_key(&p.value);
                !k.is_empty() && pending(&format!("p{k}"))
            })
    }

    /// Stores every document handed out so far (waiting for the workers).
    pub(super) fn finish(&mut self, w: &mut Writer) -> Result<(), Abort> {
        self.pump(w, true)
    }

    fn start_workers(&mut self) {
        if self.workers.is_some() {
            return;
        }
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let (jobs, job_rx) = channel::<(usize, DocId, Job)>();
        let (built_tx, built) = channel::<Built>();
        // The workers share the receiver.
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..n {
            let job_rx = Arc::clone(&job_rx);
            let tx = built_tx.clone();
            let actor = self.actor.clone();
            let now = self.now;
            self.scope.spawn(move || loop {
                let next = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => break,
                };
                let Ok((seq, id, job)) = next else { break };
                if tx.send((seq, build(&actor, now, id, job))).is_err() {
                    break;
                }
            });
        }
        self.workers = Some(Workers { jobs, built });
    }

    /// Stores the built documents that are next in input order, in batches of [`BATCH`];
    /// waits while more than [`AHEAD`] are outstanding, or until none is when `all`.
    fn pump(&mut self, w: &mut Writer, all: bool) -> Result<(), Abort> {
        let Some(wk) = &self.workers else {
            return Ok(());
        };
        loop {
            loop {
                match wk.built.try_recv() {
                    Ok((seq, r)) => {
                        self.done.insert(seq, r.map_err(am_err)?);
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        if self.stored + self.done.len() < self.sent {
                            return Err(stopped());
                        }
                        break;
                    }
                }
            }
            let mut ready = 0;
            while self.done.contains_key(&(self.stored + ready)) {
                ready += 1;
            }
            let outstanding = self.sent - self.stored;
            if ready > 0 && (all || ready >= BATCH || outstanding > AHEAD) {
                let run: Vec<NewDoc> = (self.stored..self.stored + ready)
                    .filter_map(|s| self.done.remove(&s))
                    .collect();
                self.stored += ready;
                w.insert_new(run)?;
                continue;
            }
            if (all && outstanding > 0) || outstanding > AHEAD {
                let (seq, r) = wk.built.recv().map_err(|_| stopped())?;
                self.done.insert(seq, r.map_err(am_err)?);
                continue;
            }
            return Ok(());
        }
    }
}

fn stopped() -> Abort {
    Abort::Err(AppError::Store(StoreError::Internal(
        "an import worker stopped".into(),
    )))
}

/// Document ids: random, or (tests) a fixed sequence from a seed.
struct Ids(Option<u64>);

impl Ids {
    fn next(&mut self) -> DocId {
        let Some(s) = self.0.as_mut() else {
            return DocId(rand::random());
        };
        let mut half = || {
            // xorshift64*
            *s ^= *s >> 12;
            *s ^= *s << 25;
            *s ^= *s >> 27;
            s.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let (a, b) = (half(), half());
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&a.to_be_bytes());
        id[8..].copy_from_slice(&b.to_be_bytes());
        DocId(id)
    }
}
