//! One sync session with one trusted peer, as a step function: `handle(store, now, event)`.
//!
//! Phases: Hello (root hashes) -> Buckets -> DocList -> Syncing (Automerge sync per differing
//! document, pipelined) -> Done; any error -> Failed. Identical roots end the session after
//! the Hello exchange: one round trip.
//!
//! A document that cannot be synced (the peer's message for it does not decode or apply, it does
//! not converge, or this side cannot load it) is quarantined, not fatal: the engine emits
//! [`Effect::Quarantine`], tells the peer with a `Skip` frame, and both sides go on with the other
//! documents. The document still differs, so the next session tries it again.
//!
//! Invariant: the engine never does I/O and never panics on peer input. It reads documents only
//! through [`SyncStore`] and only those that differ; at most `max_active_docs` unsettled
//! documents are held in memory, and a document whose heads match the peer's is dropped from
//! memory (its sync state is kept). Every write is returned as an [`Effect`] that the driver
//! must carry out, in order, before the next call to [`Session::handle`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};

use super::frame::{
    Frame, FrameError, FrameType, DOCS_ENTRY_OVERHEAD, DOCS_FRAME_TARGET, DOC_LIST_CHUNK,
    MAX_FRAME_LEN,
};
use super::reconcile::{
    check_doc_list, differing_buckets, partition_docs, BucketHashes, Digest, DocListError,
};
use super::{CloseCode, PeerId, StoreError, SyncStore, PROTOCOL_VERSION};
use crate::tombstones::{self, TOMBSTONES_DOC};
use crate::DocId;

/// Most document entries a peer may list in one session (bounds memory on peer input).
const MAX_LISTED_DOCS: usize = 10_000_000;

/// Most Sync frames one document may receive in one session. Automerge converges in a handful;
/// more means a livelock (e.g. duplicated frames), which must end in a clean failure.
const MAX_MESSAGES_PER_DOC: u32 = 64;

/// Tunables of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// A session with no frame received for this long fails with [`SyncError::Timeout`] on `Tick`.
    pub idle_timeout_ms: u64,
    /// Most documents this side starts syncing before earlier ones settle.
    pub max_active_docs: usize,
    /// Overall deadline of a session: this much time for any session, plus
    /// [`Config::deadline_per_doc_ms`] per differing document, plus the time the wire bytes take
    /// at [`Config::deadline_min_rate`] bytes per second. Past it, `Tick` fails the session with
    /// [`SyncError::Deadline`]: a peer that keeps the session alive without doing the work
    /// cannot hold it forever.
    pub deadline_base_ms: u64,
    pub deadline_per_doc_ms: u64,
    pub deadline_min_rate: u64,
    /// Most document bytes packed into one `Docs` frame (whole-document transfer).
    pub whole_frame_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle_timeout_ms: 30_000,
            max_active_docs: 256,
            deadline_base_ms: 120_000,
            deadline_per_doc_ms: 100,
            deadline_min_rate: 32 * 1024,
            whole_frame_bytes: DOCS_FRAME_TARGET,
        }
    }
}

/// Which side of the connection this is: the initiator opened the stream and speaks first.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Initiator,
    Responder,
}

/// What the driver feeds in.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The connection is trusted and open. The initiator sends `Hello`.
    Start,
    /// A frame arrived.
    Received(Frame),
    /// The [`super::FrameDecoder`] rejected the peer's bytes.
    DecodeError(FrameError),
    /// Time passed (check the idle timeout). Also lets the session send more whole documents:
    /// a driver feeds a `Tick` as soon as it has written the previous frames while
    /// [`Session::wants_to_send`] is true.
    Tick,
    /// The driver could not verify or store a document the peer sent whole
    /// ([`Effect::StoreWhole`]); nothing of it was stored. The session quarantines it and tells
    /// the peer (`Skip`). Fed right after the effect, before the next frame.
    Rejected { doc: DocId, reason: String },
}

/// What the engine asks the driver to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Write this frame (`frame.encode()`) to the stream.
    Send(Frame),
    /// Persist new changes of a document and update its heads/leaf/bucket index in the same
    /// transaction. `bytes` feed `Automerge::load_incremental`; when `created` is true the document
    /// was not in the store and `bytes` is a whole saved document (`save()`); otherwise they are
    /// the changes after the previously stored heads. `heads` are the heads afterwards.
    StoreChanges {
        doc: DocId,
        created: bool,
        bytes: Vec<u8>,
        heads: Vec<ChangeHash>,
    },
    /// Persist the Automerge sync state for (this session's peer, doc).
    SaveSyncState { doc: DocId, state: Vec<u8> },
    /// A document this side lacked entirely, sent whole by the peer (protocol version 2): its
    /// stored bytes as the peer had them. The driver verifies them before storing: they load
    /// (`Automerge::load`) and `leaf_digest(doc, heads) == leaf`, the leaf the peer announced in
    /// its DocList. Then it stores the bytes as they are, with the document's heads, leaf,
    /// bucket and index entries, in the batch's transaction. If they do not verify (or the
    /// document exists here after all and cannot take them), it stores nothing of them and
    /// feeds [`Event::Rejected`] back. A document in the tombstone set is dropped silently.
    StoreWhole {
        doc: DocId,
        bytes: Vec<u8>,
        leaf: Digest,
    },
    /// Record that `doc` was skipped in this session with this peer (and why); the rest of the
    /// session goes on. Nothing of the document was stored after the failure.
    Quarantine { doc: DocId, reason: String },
    /// The session ended normally: finish the stream and close with [`CloseCode::OK`].
    Done(Summary),
    /// The session failed; close the connection with `err.code()`.
    Fail(SyncError),
}

/// What a session did, for logs and the CLI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Documents found to differ and run through Automerge sync.
    pub docs_differing: u64,
    /// Documents for which this side sent at least one change.
    pub docs_sent: u64,
    /// Documents whose heads changed here because of the peer.
    pub docs_received: u64,
    /// Of those, documents that did not exist here before.
    pub docs_created: u64,
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Wire bytes, length prefixes included.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Receive bursts (frames with the same `now_ms`) that followed at least one send since the
    /// previous counted burst: the round trips as seen from this side.
    pub round_trips: u64,
    /// Documents skipped in this session (quarantined here or by the peer).
    pub docs_quarantined: u64,
}

/// Why a session failed. `code()` is the close code to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("peer sent bad bytes: {0}")]
    Frame(#[from] FrameError),
    #[error("peer sent an unexpected {got:?} frame while {phase}")]
    Unexpected { got: FrameType, phase: &'static str },
    #[error("peer speaks protocol version {theirs}, we speak {ours}; upgrade the older device")]
    Version { ours: u8, theirs: u8 },
    #[error("peer sent a bad document list: {0}")]
    DocList(#[from] DocListError),
    #[error("peer listed more than {MAX_LISTED_DOCS} documents")]
    TooManyDocs,
    #[error("peer sent a sync message for document {0}, which is not being synced")]
    UnknownDoc(DocId),
    #[error("peer sent document {0} whole, but it did not list it as one this side lacks")]
    UnexpectedWhole(DocId),
    #[error("peer sent an undecodable sync message for document {doc}: {reason}")]
    BadSyncMessage { doc: DocId, reason: String },
    #[error("document {doc} rejected the peer's changes: {reason}")]
    Document { doc: DocId, reason: String },
    #[error("document {0} did not converge within {MAX_MESSAGES_PER_DOC} messages")]
    NotConverging(DocId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no complete frame from the peer for {idle_ms} ms; check the connection and retry")]
    Timeout { idle_ms: u64 },
    #[error("the session took longer than its deadline of {deadline_ms} ms; the peer is too slow")]
    Deadline { deadline_ms: u64 },
    #[error("peer closed the session with code {code}: {reason}")]
    PeerClosed { code: u16, reason: String },
}

impl SyncError {
    pub fn code(&self) -> CloseCode {
        match self {
            SyncError::Frame(_)
            | SyncError::Unexpected { .. }
            | SyncError::DocList(_)
            | SyncError::TooManyDocs
            | SyncError::UnknownDoc(_)
            | SyncError::UnexpectedWhole(_)
            | SyncError::NotConverging(_)
            | SyncError::BadSyncMessage { .. } => CloseCode::PROTOCOL,
            SyncError::Version { .. } => CloseCode::VERSION,
            SyncError::Document { .. } => CloseCode::DOCUMENT,
            SyncError::Store(_) => CloseCode::STORE,
            SyncError::Timeout { .. } | SyncError::Deadline { .. } => CloseCode::TIMEOUT,
            SyncError::PeerClosed { code, .. } => CloseCode(*code),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    New,
    AwaitHello,
    AwaitBuckets,
    AwaitDocList,
    Syncing,
    Done,
    Failed,
}

impl Phase {
    fn describe(self) -> &'static str {
        match self {
            Phase::New => "not started",
            Phase::AwaitHello => "awaiting Hello",
            Phase::AwaitBuckets => "awaiting Buckets",
            Phase::AwaitDocList => "awaiting DocList",
            Phase::Syncing => "syncing documents",
            Phase::Done => "done",
            Phase::Failed => "failed",
        }
    }
}

/// Per-document Automerge sync bookkeeping.
struct DocSync {
    /// Loaded while unsettled; dropped once our heads equal the peer's.
    doc: Option<Automerge>,
    state: sync::State,
    /// The document is not in the store yet (first `StoreChanges` must be a whole save).
    unstored: bool,
    settled: bool,
    saved_state: Option<Vec<u8>>,
    sent_changes: bool,
    received_changes: bool,
    received: u32,
}

/// A sync session with one peer. See the module docs.
pub struct Session {
    role: Role,
    peer: PeerId,
    cfg: Config,
    phase: Phase,
    my_buckets: BucketHashes,
    my_root: [u8; 32],
    diff_buckets: Vec<u8>,
    my_leaves: Vec<(DocId, Digest)>,
    their_leaves: Vec<(DocId, Digest)>,
    /// Every differing document (X), ascending: frames may name only these.
    differing: Vec<DocId>,
    /// Documents both sides have that differ, not yet started: run through Automerge sync.
    queue: VecDeque<DocId>,
    /// Documents the peer lacks entirely, not yet sent: they travel whole in `Docs` frames.
    whole_out: VecDeque<DocId>,
    /// Documents this side lacks entirely, with the leaf the peer announced: the peer sends
    /// them whole, and each must arrive with exactly that leaf. Ascending.
    whole_in: Vec<(DocId, Digest)>,
    whole_sent: u64,
    whole_received: u64,
    /// Entries of `whole_in` seen in a `Docs` frame so far (stored, refused or dropped).
    whole_arrived: usize,
    docs: BTreeMap<DocId, DocSync>,
    unsettled: usize,
    sync_sent: u64,
    sync_received: u64,
    last_idle_sent: Option<(u64, u64)>,
    peer_idle: Option<(u64, u64)>,
    summary: Summary,
    sent_since_receive: bool,
    last_received_at: Option<u64>,
    last_activity: u64,
    /// Settled documents still in memory, oldest first; beyond the window they are dropped.
    settled_loaded: VecDeque<DocId>,
    /// Differing documents that are deleted for good (tombstoned): never started, and Sync frames
    /// for them are counted but otherwise ignored (docs/design/deletion.md).
    deleted: BTreeSet<DocId>,
    /// Quarantined documents: frames for them are counted and otherwise ignored.
    skipped: BTreeSet<DocId>,
    started_at: Option<u64>,
    /// The time of the event being handled.
    now: u64,
    /// Whole documents were handed to the driver in this step: no Idle until the next event,
    /// so a `Skip` for a refused one goes out before the Idle that lets the peer finish.
    unconfirmed_whole: bool,
    out: Vec<Effect>,
}

impl Session {
    /// A session with `peer` (whose id keys the persisted sync states).
    pub fn new(role: Role, peer: PeerId, cfg: Config) -> Self {
        Session {
            role,
            peer,
            cfg,
            phase: Phase::New,
            my_buckets: BucketHashes::empty(),
            my_root: [0; 32],
            diff_buckets: Vec::new(),
            my_leaves: Vec::new(),
            their_leaves: Vec::new(),
            differing: Vec::new(),
            queue: VecDeque::new(),
            whole_out: VecDeque::new(),
            whole_in: Vec::new(),
            whole_sent: 0,
            whole_received: 0,
            whole_arrived: 0,
            docs: BTreeMap::new(),
            unsettled: 0,
            sync_sent: 0,
            sync_received: 0,
            last_idle_sent: None,
            peer_idle: None,
            summary: Summary::default(),
            sent_since_receive: false,
            last_received_at: None,
            last_activity: 0,
            settled_loaded: VecDeque::new(),
            deleted: BTreeSet::new(),
            skipped: BTreeSet::new(),
            started_at: None,
            now: 0,
            unconfirmed_whole: false,
            out: Vec::new(),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn peer(&self) -> &PeerId {
        &self.peer
    }

    /// True once `Done` or `Fail` has been emitted; later events are ignored.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Failed)
    }

    /// The counters so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Whether the session has whole documents left to send, or has just handed whole documents
    /// over to store (its `Idle` waits until they are confirmed): the driver then feeds
    /// [`Event::Tick`] as soon as it has written the frames it got, so the stream keeps moving
    /// while at most a few MiB of documents are in memory at once.
    pub fn wants_to_send(&self) -> bool {
        self.phase == Phase::Syncing && (!self.whole_out.is_empty() || self.unconfirmed_whole)
    }

    /// How many of the documents the peer listed as ones this side lacks have not arrived in a
    /// `Docs` frame yet (0 before the document lists are exchanged). A driver that gathers
    /// whole documents into larger batches stops waiting once that many are in hand: the
    /// last batch of a transfer (and the only one of a single new document) is stored at once.
    pub fn whole_awaited(&self) -> usize {
        self.whole_in.len().saturating_sub(self.whole_arrived)
    }

    fn in_x(&self, id: &DocId) -> bool {
        self.differing.binary_search(id).is_ok()
    }

    /// Advances the session by one event. `now_ms` is any monotonic clock in milliseconds.
    pub fn handle<S: SyncStore>(&mut self, store: &S, now_ms: u64, event: Event) -> Vec<Effect> {
        if self.is_finished() {
            return Vec::new();
        }
        self.started_at.get_or_insert(now_ms);
        self.now = now_ms;
        // Every whole document handed over in an earlier step is stored or was refused
        // (refusals come back as `Rejected` before anything else): Idle may go out again.
        if !matches!(event, Event::Rejected { .. }) {
            self.unconfirmed_whole = false;
        }
        let result = match event {
            Event::Start => {
                self.last_activity = now_ms;
                self.start(store)
            }
            Event::Received(frame) => {
                self.last_activity = now_ms;
                self.summary.frames_received += 1;
                self.summary.bytes_received += frame.encoded_len() as u64;
                // Frames arriving in the same millisecond belong to one flight.
                if self.sent_since_receive && self.last_received_at != Some(now_ms) {
                    self.summary.round_trips += 1;
                    self.sent_since_receive = false;
                }
                self.last_received_at = Some(now_ms);
                self.on_frame(store, frame)
            }
            Event::DecodeError(e) => Err(SyncError::Frame(e)),
            Event::Tick => {
                let idle = now_ms.saturating_sub(self.last_activity);
                let deadline = self.deadline_ms();
                let elapsed = now_ms.saturating_sub(self.started_at.unwrap_or(now_ms));
                if idle >= self.cfg.idle_timeout_ms {
                    Err(SyncError::Timeout { idle_ms: idle })
                } else if elapsed >= deadline {
                    Err(SyncError::Deadline {
                        deadline_ms: deadline,
                    })
                } else if self.phase == Phase::Syncing {
                    self.progress(store)
                } else {
                    Ok(())
                }
            }
            Event::Rejected { doc, reason } => {
                if self.phase == Phase::Syncing
                    && self.whole_in.binary_search_by_key(&doc, |e| e.0).is_ok()
                {
                    self.summary.docs_received = self.summary.docs_received.saturating_sub(1);
                    self.summary.docs_created = self.summary.docs_created.saturating_sub(1);
                    self.quarantine(
                        doc,
                        format!("its whole copy was refused here: {reason}"),
                        true,
                    );
                    self.progress(store)
                } else {
                    Ok(())
                }
            }
        };
        if let Err(e) = result {
            self.fail(e);
        }
        std::mem::take(&mut self.out)
    }

    /// The session's overall deadline, which grows with the work found and done so far.
    pub fn deadline_ms(&self) -> u64 {
        let bytes = self.summary.bytes_sent + self.summary.bytes_received;
        self.cfg
            .deadline_base_ms
            .saturating_add(
                self.summary
                    .docs_differing
                    .saturating_mul(self.cfg.deadline_per_doc_ms),
            )
            .saturating_add(bytes.saturating_mul(1000) / self.cfg.deadline_min_rate.max(1))
    }

    /// Gives up on one document for this session: drops it from memory, records why, and
    /// (when the failure is on this side) tells the peer to stop sending it.
    fn quarantine(&mut self, id: DocId, reason: String, tell_peer: bool) {
        if !self.skipped.insert(id) {
            return;
        }
        if let Some(d) = self.docs.get_mut(&id) {
            if !d.settled {
                d.settled = true;
                self.unsettled -= 1;
            }
            d.doc = None;
        }
        self.summary.docs_quarantined += 1;
        if tell_peer {
            self.send(Frame::Skip {
                doc: id,
                reason: reason.clone(),
            });
        }
        self.out.push(Effect::Quarantine { doc: id, reason });
    }

    fn fail(&mut self, err: SyncError) {
        if !matches!(err, SyncError::PeerClosed { .. }) {
            let reason = err.to_string();
            self.send(Frame::Close {
                code: err.code().0,
                reason,
            });
        }
        self.phase = Phase::Failed;
        self.out.push(Effect::Fail(err));
    }

    fn finish(&mut self) {
        for d in self.docs.values() {
            self.summary.docs_sent += u64::from(d.sent_changes);
            self.summary.docs_received += u64::from(d.received_changes);
        }
        self.summary.docs_sent += self.whole_sent;
        self.phase = Phase::Done;
        self.out.push(Effect::Done(self.summary.clone()));
    }

    fn send(&mut self, frame: Frame) {
        self.summary.frames_sent += 1;
        self.summary.bytes_sent += frame.encoded_len() as u64;
        self.sent_since_receive = true;
        if matches!(frame, Frame::Sync { .. } | Frame::Docs { .. }) {
            self.sync_sent += 1;
        }
        self.out.push(Effect::Send(frame));
    }

    fn hello<S: SyncStore>(&mut self, store: &S) -> Result<Frame, SyncError> {
        self.my_buckets = store.bucket_hashes()?;
        self.my_root = self.my_buckets.root();
        Ok(Frame::Hello {
            version: PROTOCOL_VERSION,
            root: self.my_root,
            doc_count: store.doc_count()?,
        })
    }

    fn start<S: SyncStore>(&mut self, store: &S) -> Result<(), SyncError> {
        if self.phase != Phase::New {
            return Ok(());
        }
        if self.role == Role::Initiator {
            let hello = self.hello(store)?;
            self.send(hello);
        }
        self.phase = Phase::AwaitHello;
        Ok(())
    }

    fn on_frame<S: SyncStore>(&mut self, store: &S, frame: Frame) -> Result<(), SyncError> {
        let got = frame.frame_type();
        match (self.phase, frame) {
            (_, Frame::Close { code, reason }) => Err(SyncError::PeerClosed { code, reason }),
            (Phase::New | Phase::AwaitHello, Frame::Hello { version, root, .. })
                if self.role == Role::Responder =>
            {
                check_version(version)?;
                let hello = self.hello(store)?;
                self.send(hello);
                self.after_hello(root);
                Ok(())
            }
            (Phase::AwaitHello, Frame::Hello { version, root, .. }) => {
                check_version(version)?;
                self.after_hello(root);
                Ok(())
            }
            (Phase::AwaitBuckets, Frame::Buckets(theirs)) => {
                self.diff_buckets = differing_buckets(&self.my_buckets, &theirs);
                let mut mine = Vec::new();
                for &b in &self.diff_buckets {
                    mine.extend(store.bucket_leaves(b)?);
                }
                // The store promises sorted leaves; sorting again keeps the diff correct anyway.
                mine.sort_by_key(|e| e.0);
                let mut chunks = mine.chunks(DOC_LIST_CHUNK).peekable();
                if chunks.peek().is_none() {
                    self.send(Frame::DocList {
                        last: true,
                        entries: Vec::new(),
                    });
                }
                while let Some(chunk) = chunks.next() {
                    let last = chunks.peek().is_none();
                    self.send(Frame::DocList {
                        last,
                        entries: chunk.to_vec(),
                    });
                }
                self.my_leaves = mine;
                self.phase = Phase::AwaitDocList;
                Ok(())
            }
            (Phase::AwaitDocList, Frame::DocList { last, entries }) => {
                check_doc_list(
                    self.their_leaves.last().map(|e| e.0),
                    &entries,
                    &self.diff_buckets,
                )?;
                if self.their_leaves.len() + entries.len() > MAX_LISTED_DOCS {
                    return Err(SyncError::TooManyDocs);
                }
                self.their_leaves.extend(entries);
                if last {
                    let p = partition_docs(&self.my_leaves, &self.their_leaves);
                    self.my_leaves = Vec::new();
                    self.their_leaves = Vec::new();
                    let mut diff: Vec<DocId> = p.both.clone();
                    diff.extend(&p.only_mine);
                    diff.extend(p.only_theirs.iter().map(|e| e.0));
                    diff.sort_unstable();
                    self.summary.docs_differing = diff.len() as u64;
                    self.differing = diff;
                    self.queue = p.both.into();
                    self.whole_out = p.only_mine.into();
                    self.whole_in = p.only_theirs;
                    self.phase = Phase::Syncing;
                    self.progress(store)?;
                }
                Ok(())
            }
            (Phase::Syncing, Frame::Sync { doc, message }) => {
                self.on_sync(store, doc, message)?;
                self.progress(store)
            }
            (Phase::Syncing, Frame::Docs { docs }) => {
                self.on_docs(store, docs)?;
                self.progress(store)
            }
            (Phase::Syncing, Frame::Skip { doc, reason }) => {
                if !self.in_x(&doc) {
                    return Err(SyncError::UnknownDoc(doc));
                }
                let reason: String = reason.chars().take(500).collect();
                self.quarantine(doc, format!("the peer could not sync it: {reason}"), false);
                self.progress(store)
            }
            (Phase::Syncing, Frame::Idle { sent, received }) => {
                self.peer_idle = Some((sent, received));
                self.progress(store)
            }
            (phase, _) => Err(SyncError::Unexpected {
                got,
                phase: phase.describe(),
            }),
        }
    }

    fn after_hello(&mut self, their_root: [u8; 32]) {
        if their_root == self.my_root {
            self.finish();
        } else {
            self.send(Frame::Buckets(self.my_buckets.clone()));
            self.phase = Phase::AwaitBuckets;
        }
    }

    /// Starts queued documents up to the window, then sends `Idle` / finishes when quiet.
    fn progress<S: SyncStore>(&mut self, store: &S) -> Result<(), SyncError> {
        while self.unsettled < self.cfg.max_active_docs {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            if self.docs.contains_key(&id)
                || self.deleted.contains(&id)
                || self.skipped.contains(&id)
            {
                continue; // the peer started it first, or it is deleted or quarantined
            }
            if store.is_deleted(&id)? {
                self.deleted.insert(id);
                continue;
            }
            if let Err(e) = self.activate(store, id) {
                self.quarantine(id, format!("cannot load it here: {e}"), true);
                continue;
            }
            self.generate(id);
        }
        self.send_whole(store)?;
        if self.queue.is_empty()
            && self.unsettled == 0
            && self.whole_out.is_empty()
            && !self.unconfirmed_whole
        {
            let now = (self.sync_sent, self.sync_received);
            if self.last_idle_sent != Some(now) {
                self.send(Frame::Idle {
                    sent: now.0,
                    received: now.1,
                });
                self.last_idle_sent = Some(now);
            }
            if self.peer_idle == Some((now.1, now.0)) {
                self.finish();
            }
        }
        Ok(())
    }

    /// Ensures `id` has bookkeeping and its document in memory.
    fn activate<S: SyncStore>(&mut self, store: &S, id: DocId) -> Result<(), SyncError> {
        if let Some(d) = self.docs.get_mut(&id) {
            if d.doc.is_some() {
                if d.settled {
                    d.settled = false;
                    self.unsettled += 1;
                }
                return Ok(());
            }
        }
        let loaded = store.load(&id)?;
        let unstored = loaded.is_none();
        let doc = loaded.unwrap_or_default();
        match self.docs.get_mut(&id) {
            Some(d) => {
                d.doc = Some(doc);
                d.unstored = unstored;
                if d.settled {
                    d.settled = false;
                    self.unsettled += 1;
                }
            }
            None => {
                let state = if unstored {
                    sync::State::new()
                } else {
                    store
                        .sync_state(&self.peer, &id)?
                        // An undecodable saved state only costs a longer sync: start afresh.
                        .and_then(|b| sync::State::decode(&b).ok())
                        .unwrap_or_default()
                };
                self.docs.insert(
                    id,
                    DocSync {
                        doc: Some(doc),
                        state,
                        unstored,
                        settled: false,
                        saved_state: None,
                        sent_changes: false,
                        received_changes: false,
                        received: 0,
                    },
                );
                self.unsettled += 1;
            }
        }
        Ok(())
    }

    /// Sends the next Automerge sync message for `id`, if Automerge has one.
    fn generate(&mut self, id: DocId) {
        let Some(d) = self.docs.get_mut(&id) else {
            return;
        };
        let Some(doc) = d.doc.as_ref() else {
            return;
        };
        if let Some(msg) = doc.generate_sync_message(&mut d.state) {
            if !msg.changes.is_empty() {
                d.sent_changes = true;
            }
            let message = msg.encode();
            self.send(Frame::Sync { doc: id, message });
        }
    }

    fn on_sync<S: SyncStore>(
        &mut self,
        store: &S,
        id: DocId,
        message: Vec<u8>,
    ) -> Result<(), SyncError> {
        if !self.in_x(&id) {
            return Err(SyncError::UnknownDoc(id));
        }
        self.sync_received += 1;
        if self.skipped.contains(&id) {
            return Ok(()); // in flight before the peer learnt of the quarantine
        }
        // A deleted document is never accepted: its frames are counted (so both sides agree
        // on the Idle counters) and dropped.
        if self.deleted.contains(&id) {
            return Ok(());
        }
        if !self.docs.contains_key(&id) && store.is_deleted(&id)? {
            self.deleted.insert(id);
            return Ok(());
        }
        let msg = match sync::Message::decode(&message) {
            Ok(m) => m,
            Err(e) => {
                let err = SyncError::BadSyncMessage {
                    doc: id,
                    reason: e.to_string(),
                };
                self.quarantine(id, err.to_string(), true);
                return Ok(());
            }
        };
        if let Err(e) = self.activate(store, id) {
            self.quarantine(id, format!("cannot load it here: {e}"), true);
            return Ok(());
        }
        let Some(d) = self.docs.get_mut(&id) else {
            return Ok(());
        };
        d.received += 1;
        if d.received > MAX_MESSAGES_PER_DOC {
            self.quarantine(id, SyncError::NotConverging(id).to_string(), true);
            return Ok(());
        }
        let Some(doc) = d.doc.as_mut() else {
            return Ok(());
        };
        let before = doc.get_heads();
        if let Err(e) = doc.receive_sync_message(&mut d.state, msg) {
            // The in-memory copy may hold part of the message: drop it (the store has only
            // what was stored before), and skip the document for this session.
            let err = SyncError::Document {
                doc: id,
                reason: e.to_string(),
            };
            self.quarantine(id, err.to_string(), true);
            return Ok(());
        }
        let after = doc.get_heads();
        if after != before {
            let bytes = if d.unstored {
                doc.save()
            } else {
                doc.save_after(&before)
            };
            let created = d.unstored;
            d.unstored = false;
            d.received_changes = true;
            self.summary.docs_created += u64::from(created);
            self.out.push(Effect::StoreChanges {
                doc: id,
                created,
                bytes,
                heads: after,
            });
            if id == TOMBSTONES_DOC {
                self.learn_tombstones();
            }
        }
        self.generate(id);
        let Some(d) = self.docs.get_mut(&id) else {
            return Ok(());
        };
        let encoded = d.state.encode();
        if d.saved_state.as_ref() != Some(&encoded) {
            d.saved_state = Some(encoded.clone());
            self.out.push(Effect::SaveSyncState {
                doc: id,
                state: encoded,
            });
        }
        // Settled: the peer has told us heads equal to ours, so neither needs anything more.
        let ours = d.doc.as_ref().map(|doc| sorted(doc.get_heads()));
        let theirs = d.state.their_heads.clone().map(sorted);
        if ours.is_some() && ours == theirs && !d.settled {
            d.settled = true;
            self.unsettled -= 1;
            // Keep recently settled documents loaded (the peer's last message may still come),
            // but no more than the window.
            self.settled_loaded.push_back(id);
            while self.settled_loaded.len() > self.cfg.max_active_docs {
                if let Some(old) = self.settled_loaded.pop_front() {
                    if let Some(d) = self.docs.get_mut(&old) {
                        if d.settled {
                            d.doc = None;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Session {
    /// The peer's changes to the tombstone document just arrived: stop syncing every document
    /// they delete. The store deletes them when it persists the tombstones (in the same write
    /// transaction); here the engine stops waiting for them, so the session still ends.
    fn learn_tombstones(&mut self) {
        let Some(doc) = self.docs.get(&TOMBSTONES_DOC).and_then(|d| d.doc.as_ref()) else {
            return;
        };
        let set = tombstones::read_tombstones(doc);
        self.learn_tombstone_set(set);
    }

    fn learn_tombstone_set(&mut self, set: BTreeMap<DocId, tombstones::Tombstone>) {
        let gone: Vec<DocId> = set
            .into_keys()
            .filter(|id| self.in_x(id) && !self.deleted.contains(id))
            .collect();
        for id in gone {
            self.deleted.insert(id);
            self.queue.retain(|q| *q != id);
            self.whole_out.retain(|q| *q != id);
            if let Some(d) = self.docs.remove(&id) {
                if !d.settled {
                    self.unsettled -= 1;
                }
            }
        }
    }
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

fn check_version(theirs: u8) -> Result<(), SyncError> {
    if theirs == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(SyncError::Version {
            ours: PROTOCOL_VERSION,
            theirs,
        })
    }
}

/// Whole-document transfer (protocol version 2): documents one side lacks entirely travel as
/// stored bytes in `Docs` frames instead of through Automerge's sync protocol.
impl Session {
    /// Packs whole documents the peer lacks into `Docs` frames: at most
    /// [`WHOLE_FRAMES_PER_STEP`] frames per call, so a large first sync streams with a few MiB
    /// in memory. A document too large for one frame goes through Automerge sync instead.
    fn send_whole<S: SyncStore>(&mut self, store: &S) -> Result<(), SyncError> {
        let mut frames = 0;
        let mut batch: Vec<(DocId, Vec<u8>)> = Vec::new();
        let mut size = 4usize;
        while frames < WHOLE_FRAMES_PER_STEP {
            let Some(id) = self.whole_out.pop_front() else {
                break;
            };
            if self.deleted.contains(&id) || self.skipped.contains(&id) {
                continue;
            }
            if store.is_deleted(&id)? {
                self.deleted.insert(id);
                continue;
            }
            let bytes = match store.load_bytes(&id) {
                Ok(Some(b)) if !b.is_empty() => b,
                // Gone meanwhile (purged by another command): nothing to send.
                Ok(_) => continue,
                Err(e) => {
                    self.quarantine(id, format!("cannot load it here: {e}"), true);
                    continue;
                }
            };
            let entry = DOCS_ENTRY_OVERHEAD + bytes.len();
            if entry + 4 + 1 > MAX_FRAME_LEN as usize {
                // Too large to travel whole: Automerge sync splits it into changes.
                self.queue.push_back(id);
                continue;
            }
            if !batch.is_empty() && size + entry > self.cfg.whole_frame_bytes {
                self.send(Frame::Docs {
                    docs: std::mem::take(&mut batch),
                });
                frames += 1;
                size = 4;
            }
            size += entry;
            self.whole_sent += 1;
            batch.push((id, bytes));
        }
        if !batch.is_empty() {
            self.send(Frame::Docs { docs: batch });
            frames += 1;
        }
        if frames > 0 {
            // Sending whole documents is progress even while the peer, busy storing them, sends
            // nothing back: a peer that stops reading stops these writes (flow control), and
            // the idle timeout then fires as usual.
            self.last_activity = self.now;
        }
        if !self.queue.is_empty() {
            // Oversized documents moved to the Automerge queue: start them.
            while self.unsettled < self.cfg.max_active_docs {
                let Some(id) = self.queue.pop_front() else {
                    break;
                };
                if self.docs.contains_key(&id) || self.skipped.contains(&id) {
                    continue;
                }
                if let Err(e) = self.activate(store, id) {
                    self.quarantine(id, format!("cannot load it here: {e}"), true);
                    continue;
                }
                self.generate(id);
            }
        }
        Ok(())
    }

    /// Whole documents from the peer: each must be one this side lacks (listed by the peer,
    /// absent here). They are handed to the driver to verify and store.
    fn on_docs<S: SyncStore>(
        &mut self,
        store: &S,
        docs: Vec<(DocId, Vec<u8>)>,
    ) -> Result<(), SyncError> {
        self.sync_received += 1;
        for (id, bytes) in docs {
            let Ok(ix) = self.whole_in.binary_search_by_key(&id, |e| e.0) else {
                return Err(SyncError::UnexpectedWhole(id));
            };
            let leaf = self.whole_in[ix].1;
            self.whole_arrived += 1;
            if self.skipped.contains(&id) || self.deleted.contains(&id) {
                continue;
            }
            if store.is_deleted(&id)? {
                self.deleted.insert(id);
                continue;
            }
            if id == TOMBSTONES_DOC {
                // The engine must know the peer's tombstones to stop waiting for what they
                // delete; this one document is loaded here too.
                if let Ok(doc) = Automerge::load(&bytes) {
                    if super::leaf_digest(&id, &doc.get_heads()) == leaf {
                        let set = tombstones::read_tombstones(&doc);
                        self.learn_tombstone_set(set);
                    }
                }
            }
            self.whole_received += 1;
            self.unconfirmed_whole = true;
            self.summary.docs_received += 1;
            self.summary.docs_created += 1;
            self.out.push(Effect::StoreWhole {
                doc: id,
                bytes,
                leaf,
            });
        }
        Ok(())
    }
}

/// Most `Docs` frames one step emits (each up to [`DOCS_FRAME_TARGET`] bytes).
const WHOLE_FRAMES_PER_STEP: usize = 8;

/// Loads and checks a document received whole: it must load, and its heads must give the leaf
/// the peer announced. The check every driver runs for [`Effect::StoreWhole`].
pub fn verify_whole(id: &DocId, bytes: &[u8], leaf: &Digest) -> Result<Automerge, String> {
    let doc = Automerge::load(bytes).map_err(|e| format!("it does not load: {e}"))?;
    let heads = doc.get_heads();
    if heads.is_empty() {
        return Err("it has no changes".into());
    }
    if super::leaf_digest(id, &heads) != *leaf {
        return Err("its heads are not the ones the peer announced".into());
    }
    Ok(doc)
}
