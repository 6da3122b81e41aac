//! Runs one `kith/sync/3` session over an iroh bi-stream: bytes from the peer go through the
//! capped `FrameDecoder` into `Session::handle`; the effects it returns are carried out in
//! order: frames written to the stream, document changes and sync states written to the vault
//! in one write transaction per batch (with their index updates, so `list` and `search` see
//! synced data at once).
//!
//! Documents the peer sends whole (`Docs` frames) are loaded, verified and indexed on both
//! cores before the batch's write transaction opens (`WholeDoc::prepare`), then stored as
//! received; a batch of nothing but `Docs` frames waits for more (up to `BATCH_DOCS` documents
//! or a short quiet gap), so a large first sync commits (and rewrites posting lists) once per
//! few thousand documents, not per frame. While the engine has whole documents to send, the
//! driver asks for more as soon as the previous frames are written (flow control is QUIC's).
//!
//! A document the engine quarantines is recorded in the vault's `quarantine` table (peer, doc,
//! reason, time) in the batch's transaction; a session that completes clears the entries of
//! that peer it did not quarantine again.
//!
//! Invariant: the engine is handed time from a monotonic clock, never the pinned `KITH_NOW`, and
//! a `Tick` every second whether or not bytes arrive, so the idle timeout (counted from the last
//! *complete* frame) and the session deadline always fire, even against a peer that trickles
//! bytes; a dropped connection leaves only complete transactions behind.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iroh::endpoint::{Connection, RecvStream, SendStream};
use kith_core::sync::{
    Config, Effect, Event, Frame, FrameDecoder, PeerId, Role, Session, Summary, SyncError,
};
use kith_core::DocId;

use crate::store::{PeerState, StoreError, Vault, WholeDoc};

/// A batch of only whole documents waits for more frames until it holds this many documents
/// (or this many bytes, or nothing arrived for `BATCH_GAP`): one write transaction each.
/// Measured on the 85,000-document first sync (docs/benchmarks.md, session 8): 1,024 instead
/// of 4,096 takes the same time and keeps the receiver's peak memory about 10 MiB lower (two
/// batches are in memory at once: one stored, the next prepared).
const BATCH_DOCS: usize = 1024;
const BATCH_BYTES: usize = 24 * 1024 * 1024;
const BATCH_GAP: Duration = Duration::from_millis(15);

/// Bytes queued for the writer task above which no more whole documents are produced.
const MAX_BACKLOG: usize = 8 * 1024 * 1024;

type Writer = tokio::task::JoinHandle<(SendStream, Result<(), String>)>;

/// The writer task stopped early: why.
async fn writer_error(writer: &mut Writer) -> SessionError {
    match writer.await {
        Ok((_, Err(e))) => SessionError::Io(e),
        Ok((_, Ok(()))) => SessionError::Io("the stream writer stopped".into()),
        Err(e) => SessionError::Io(e.to_string()),
    }
}

/// Writes queued frames: all at once, or one byte at a time `trickle` apart (test fault).
async fn write_out(
    send: &mut SendStream,
    wire: &[u8],
    trickle: Option<Duration>,
) -> Result<(), String> {
    match trickle {
        None => send.write_all(wire).await.map_err(|e| e.to_string()),
        Some(gap) => {
            for b in wire {
                send.write_all(std::slice::from_ref(b))
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::time::sleep(gap).await;
            }
            Ok(())
        }
    }
}

/// Why a session did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Sync(#[from] SyncError),
    #[error("connection lost: {0}")]
    Io(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(String),
}

/// Turns the peer's close of the connection into a message that says what happened.
fn peer_close_reason(conn: &Connection) -> Option<String> {
    match conn.close_reason()? {
        iroh::endpoint::ConnectionError::ApplicationClosed(close) => {
            let code = u64::from(close.error_code);
            let reason = String::from_utf8_lossy(&close.reason).to_string();
            Some(match code {
                3 => format!("refused as an unknown device ({reason})"),
                4 => format!("refused: this device was removed from the vault ({reason})"),
                2 => format!("refused: the peer speaks another protocol version ({reason})"),
                0 => return None,
                c => format!("the peer closed the session with code {c}: {reason}"),
            })
        }
        other => Some(other.to_string()),
    }
}

struct Clock(Instant);

impl Clock {
    fn ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// What the driver writes to the vault for one batch of effects.
fn persist(vault: &Vault, peer: [u8; 32], effects: &[Effect]) -> Result<(), StoreError> {
    let needs_write = effects.iter().any(|e| {
        matches!(
            e,
            Effect::StoreChanges { .. } | Effect::SaveSyncState { .. } | Effect::Quarantine { .. }
        )
    });
    if !needs_write {
        return Ok(());
    }
    vault.write(crate::net::now_ms(), |w| {
        for e in effects {
            match e {
                Effect::StoreChanges {
                    doc,
                    created,
                    bytes,
                    ..
                } => w.apply_remote(*doc, *created, bytes)?,
                Effect::SaveSyncState { doc, state } => w.save_sync_state(peer, *doc, state)?,
                Effect::Quarantine { doc, reason } => w.quarantine(peer, *doc, reason)?,
                Effect::StoreWhole { .. } => {
                    // Never produced without a received Docs frame, whose batch runs in a
                    // write transaction (see `run`).
                }
                _ => {}
            }
        }
        Ok::<_, StoreError>(())
    })
}

/// Verified whole documents of consecutive `Docs` frames, stored together
/// (`Writer::store_whole_batch`: each table opened once) before any other event is handled
/// and before the batch commits.
#[derive(Default)]
struct WholeBatch {
    docs: Vec<(DocId, Vec<u8>, WholeDoc)>,
    ids: std::collections::HashSet<DocId, kith_core::IdHasher>,
}

impl WholeBatch {
    fn flush(
        &mut self,
        w: &mut crate::store::Writer,
        refresh: &mut std::collections::BTreeSet<DocId>,
    ) -> Result<(), StoreError> {
        self.ids.clear();
        w.store_whole_batch(std::mem::take(&mut self.docs), refresh)
    }
}

/// Carries out one step's store effects in the batch's write transaction. Returns whether the
/// step ended the session. Whole documents that do not verify are pushed to `rejected` (nothing
/// of them stored), for the engine to learn as `Event::Rejected`; those that do are moved
/// (their bytes taken from the effect) into `whole`, stored when it is flushed.
fn apply(
    w: &mut crate::store::Writer,
    peer: [u8; 32],
    effects: &mut [Effect],
    prepared: &PrepShared,
    rejected: &mut Vec<(DocId, String)>,
    refresh: &mut std::collections::BTreeSet<DocId>,
    whole: &mut WholeBatch,
) -> Result<bool, StoreError> {
    let mut terminal = false;
    for e in effects.iter_mut() {
        match e {
            Effect::StoreWhole { doc, bytes, leaf } => {
                match prepared
                    .take(doc, bytes)
                    .and_then(|wd| wd.verify(doc, leaf).map(|()| wd))
                {
                    Ok(wd) => {
                        // A second copy of a document waiting to be stored: store the first
                        // (the second then merges into it).
                        if !whole.ids.insert(*doc) {
                            whole.flush(w, refresh)?;
                            whole.ids.insert(*doc);
                        }
                        whole.docs.push((*doc, std::mem::take(bytes), wd));
                    }
                    Err(reason) => rejected.push((*doc, reason)),
                }
            }
            Effect::StoreChanges {
                doc,
                created,
                bytes,
                ..
            } => {
                whole.flush(w, refresh)?;
                w.apply_remote(*doc, *created, bytes)?
            }
            Effect::SaveSyncState { doc, state } => w.save_sync_state(peer, *doc, state)?,
            Effect::Quarantine { doc, reason } => w.quarantine(peer, *doc, reason)?,
            Effect::Done(_) | Effect::Fail(_) => terminal = true,
            Effect::Send(_) => {}
        }
    }
    Ok(terminal)
}

/// Runs a session to its end. `on_progress` is called with the running summary after each
/// batch (for progress bars).
pub async fn run(
    vault: Arc<Vault>,
    peer: PeerId,
    role: Role,
    send: SendStream,
    mut recv: RecvStream,
    on_progress: &mut (dyn FnMut(&Summary) + Send),
    own: &mut OwnChanges,
) -> Result<Summary, SessionError> {
    let clock = Clock(Instant::now());
    let mut cfg = Config::default();
    // Test knob: a shorter idle timeout (ms), so slow-peer tests finish quickly.
    if let Some(ms) = env_u64("KITH_SYNC_IDLE_TIMEOUT_MS") {
        cfg.idle_timeout_ms = ms;
    }
    // Test knobs: smaller Docs frames (sender) and smaller batches of whole documents
    // (receiver), so a test can stop a transfer between batches.
    if let Some(n) = env_u64("KITH_SYNC_FRAME_BYTES") {
        cfg.whole_frame_bytes = n as usize;
    }
    let batch_docs = env_u64("KITH_SYNC_BATCH_DOCS").map_or(BATCH_DOCS, |n| n.max(1) as usize);
    let mut session = Session::new(role, peer, cfg);
    let mut quarantined = std::collections::BTreeSet::new();
    let faults = Faults::from_env();
    // Frames are written by their own task, so this loop keeps reading while a large write
    // waits for the peer's flow control: two sides sending each other many documents at once
    // cannot block each other. `backlog` counts queued bytes; whole documents are only asked
    // for while it is below `MAX_BACKLOG`.
    let backlog = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (wire_tx, mut wire_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let mut writer = {
        let backlog = backlog.clone();
        let trickle = faults.trickle;
        let mut send = send;
        tokio::spawn(async move {
            while let Some(buf) = wire_rx.recv().await {
                let r = write_out(&mut send, &buf, trickle).await;
                backlog.fetch_sub(buf.len(), std::sync::atomic::Ordering::SeqCst);
                if let Err(e) = r {
                    return (send, Err(e));
                }
            }
            (send, Ok(()))
        })
    };
    let mut pump = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut pending: Vec<Event> = Vec::new();
    // Fault injection for tests: abort the process (as `kill -9` would) right after the N-th
    // committed batch that stored received documents.
    let abort_after: Option<u32> = std::env::var("KITH_FAULT_ABORT_AFTER_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok());
    // Test hook: pause after the N-th such batch, create `<KITH_FAULT_PAUSE_FILE>.paused`, and
    // wait (at most 30 s) for `KITH_FAULT_PAUSE_FILE` to exist (a test edits meanwhile).
    let pause_after: Option<u32> = std::env::var("KITH_FAULT_PAUSE_AFTER_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok());
    let pause_file = std::env::var_os("KITH_FAULT_PAUSE_FILE").map(std::path::PathBuf::from);
    let mut batches = 0u32;
    // For the log (-v): frames and bytes each way.
    let (mut frames_in, mut frames_out, mut bytes_in, mut bytes_out) = (0u64, 0u64, 0u64, 0u64);
    let peer_hex = data_encoding::HEXLOWER.encode(&peer.0[..4]);
    tracing::debug!(peer = %peer_hex, ?role, "sync session started");
    if role == Role::Initiator {
        pending.push(Event::Start);
    }
    // Set when a batch of whole documents stopped waiting for more.
    let mut flush = false;
    // Whole documents are prepared on worker threads as soon as their frame is decoded.
    let preparer = Preparer::new();
    // The stream ended (or failed) while a batch was running: reported when the loop would
    // next wait for bytes.
    let mut read_end: Option<String> = None;
    loop {
        if !pending.is_empty()
            && (flush || !gathering(&pending, batch_docs, session.whole_awaited()))
        {
            flush = false;
            // Every event received so far is one batch: handled in order, its effects carried out
            // before the next event, and persisted in one write transaction (one commit per
            // batch, not per frame). A batch that can change documents (it holds Sync frames)
            // runs inside that transaction, the engine reading through it; any other batch
            // is handled against a read snapshot and needs a write only for sync states.
            let events = take_batch(&mut pending, batch_docs);
            let now = clock.ms();
            let needs_txn = events.iter().any(|e| {
                matches!(
                    e,
                    Event::Received(Frame::Sync { .. }) | Event::Received(Frame::Docs { .. })
                )
            });
            // The batch runs on tokio's blocking pool (`net::blocking`), the session moved
            // into the task and handed back with the effects.
            let prepared = preparer.handle();
            let job = crate::net::blocking(&vault, move |v| {
                let mut session = session;
                let mut own_range = None;
                let effects: Result<Vec<Effect>, StoreError> = if needs_txn {
                    // The whole documents were queued for the workers as their frames arrived;
                    // this thread stores each one as it is ready, in order.
                    let t0 = Instant::now();
                    v.write(crate::net::now_ms(), |w| {
                        let mut out = Vec::new();
                        let seq0 = w.change_seq()?;
                        let mut queue: std::collections::VecDeque<Event> = events.into();
                        // Contacts whose last-contact day and cadence the batch's whole
                        // documents affect: recomputed once each, before the commit.
                        let mut refresh = std::collections::BTreeSet::new();
                        let mut whole = WholeBatch::default();
                        while let Some(ev) = queue.pop_front() {
                            // Only `Docs` frames add to the whole documents waiting to be
                            // stored: any other event sees them stored.
                            if !matches!(ev, Event::Received(Frame::Docs { .. })) {
                                whole.flush(w, &mut refresh)?;
                            }
                            let mut effects = session.handle(&*w, now, ev);
                            let mut rejected = Vec::new();
                            let terminal = apply(
                                w,
                                peer.0,
                                &mut effects,
                                &prepared,
                                &mut rejected,
                                &mut refresh,
                                &mut whole,
                            )?;
                            out.extend(effects);
                            if terminal {
                                break;
                            }
                            // A refused whole document goes back to the engine before the
                            // next frame.
                            for (i, (doc, reason)) in rejected.into_iter().enumerate() {
                                queue.insert(i, Event::Rejected { doc, reason });
                            }
                        }
                        whole.flush(w, &mut refresh)?;
                        let t1 = Instant::now();
                        w.refresh_contacts(&refresh)?;
                        tracing::debug!(
                            waited_ms = prepared.take_waited().as_millis() as u64,
                            handled_ms = t1.duration_since(t0).as_millis() as u64,
                            refresh_ms = t1.elapsed().as_millis() as u64,
                            "batch stored"
                        );
                        Ok::<_, StoreError>((out, (seq0, w.change_seq()?)))
                    })
                    .map(|(out, range)| {
                        own_range = Some(range);
                        out
                    })
                } else {
                    (|| {
                        let reader = v.read()?;
                        let mut out = Vec::new();
                        for ev in events {
                            let effects = session.handle(&reader, now, ev);
                            let terminal = effects
                                .iter()
                                .any(|e| matches!(e, Effect::Done(_) | Effect::Fail(_)));
                            out.extend(effects);
                            if terminal {
                                break;
                            }
                        }
                        drop(reader);
                        persist(v, peer.0, &out).map(|()| out)
                    })()
                };
                if !needs_txn {
                    // A sending batch: the frames it built (documents read whole) are freed
                    // by the writer task, on another thread. A receiving batch is not
                    // trimmed: measured on the 85,000-document first sync, trimming there
                    // saved the receiver about 10 MiB for about 1 s more system time
                    // (docs/benchmarks.md, session 8).
                    crate::net::release_free_memory();
                }
                (session, own_range, effects)
            });
            tokio::pin!(job);
            // While the batch runs, frames keep arriving (up to one more batch of whole
            // documents), so the workers prepare the next batch while this one is stored.
            let (s, own_range, effects) = loop {
                let ahead = read_end.is_none() && pending_docs(&pending) < batch_docs;
                tokio::select! {
                    biased;
                    r = &mut job => break r,
                    r = recv.read(&mut buf), if ahead => match r {
                        Ok(Some(n)) => {
                            bytes_in += n as u64;
                            decoder.push(&buf[..n]);
                            frames_in += decode(&mut decoder, &mut pending, &preparer);
                        }
                        Ok(None) => {
                            read_end = Some(
                                "the peer ended the session before it was complete".to_string(),
                            )
                        }
                        Err(e) => read_end = Some(e.to_string()),
                    },
                }
            };
            session = s;
            if let Some((before, after)) = own_range {
                own.add(before, after);
            }
            let effects = effects?;
            // Only batches that stored the user's documents count (not the membership or
            // tombstone documents): the kill must come after data arrived.
            if needs_txn
                && effects.iter().any(|e| {
                    matches!(e, Effect::StoreChanges { doc, .. } | Effect::StoreWhole { doc, .. }
                        if *doc != kith_core::devices::DEVICES_DOC
                            && *doc != kith_core::tombstones::TOMBSTONES_DOC)
                })
            {
                batches += 1;
                if abort_after == Some(batches) {
                    std::process::abort();
                }
                if let (Some(n), Some(file)) = (pause_after, &pause_file) {
                    if n == batches {
                        let mut marker = file.clone().into_os_string();
                        marker.push(".paused");
                        let _ = std::fs::write(&marker, b"");
                        for _ in 0..300 {
                            if file.exists() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }
            // Frames go out only after their batch is durable.
            let mut wire = Vec::new();
            let mut terminal = None;
            for e in effects {
                match e {
                    Effect::Send(frame) => {
                        frames_out += 1;
                        wire.extend_from_slice(&faults.encode(frame))
                    }
                    Effect::Done(summary) => terminal = Some(Ok(summary)),
                    Effect::Fail(err) => terminal = Some(Err(err)),
                    Effect::Quarantine { doc, .. } => {
                        quarantined.insert(doc);
                    }
                    Effect::StoreChanges { .. }
                    | Effect::StoreWhole { .. }
                    | Effect::SaveSyncState { .. } => {}
                }
            }
            // More whole documents to send: ask for them while the write backlog is short.
            pump = terminal.is_none() && session.wants_to_send();
            if !wire.is_empty() {
                bytes_out += wire.len() as u64;
                tracing::trace!(peer = %peer_hex, bytes = wire.len(), "frames queued");
                backlog.fetch_add(wire.len(), std::sync::atomic::Ordering::SeqCst);
                if wire_tx.send(wire).is_err() {
                    return Err(writer_error(&mut writer).await);
                }
            }
            if let Some(end) = terminal {
                // Let the writer drain what is queued (the Close frame included).
                drop(wire_tx);
                let (mut send, written) = match (&mut writer).await {
                    Ok(r) => r,
                    Err(e) => return Err(SessionError::Io(e.to_string())),
                };
                match end {
                    Ok(summary) => {
                        written.map_err(SessionError::Io)?;
                        // Every document not skipped this time is in sync now (or no longer
                        // differs): its old quarantine entry goes.
                        crate::net::blocking(&vault, move |v| {
                            v.write(crate::net::now_ms(), |w| {
                                w.clear_quarantine(peer.0, &quarantined)
                            })
                        })
                        .await?;
                        on_progress(&summary);
                        tracing::info!(
                            peer = %peer_hex, frames_sent = frames_out, frames_received = frames_in,
                            bytes_sent = bytes_out, bytes_received = bytes_in,
                            docs_sent = summary.docs_sent, docs_received = summary.docs_received,
                            ms = clock.ms(), "sync session finished"
                        );
                        finish(&mut send, &mut recv).await;
                        return Ok(summary);
                    }
                    Err(err) => {
                        tracing::info!(peer = %peer_hex, ms = clock.ms(), error = %err, "sync session failed");
                        let _ = send.finish();
                        return Err(SessionError::Sync(err));
                    }
                }
            }
            on_progress(session.summary());
        }
        if writer.is_finished() {
            return Err(writer_error(&mut writer).await);
        }
        // Read more bytes, or tick the timers once a second. The tick fires on its own schedule,
        // not only when a read is quiet: a peer trickling bytes cannot hold off the timeouts.
        // While the pending batch holds only whole documents and is small, it waits for more
        // (at most `BATCH_GAP` of quiet).
        if !pending.is_empty() && !gathering(&pending, batch_docs, session.whole_awaited()) {
            continue;
        }
        if let Some(e) = read_end.take() {
            return Err(SessionError::Io(e));
        }
        let room = backlog.load(std::sync::atomic::Ordering::SeqCst) < MAX_BACKLOG;
        let read = tokio::select! {
            biased;
            _ = tick.tick() => None,
            r = recv.read(&mut buf) => Some(r),
            // Bytes already waiting are read first (above); then more whole documents.
            _ = std::future::ready(()), if pump && room && pending.is_empty() => {
                pump = false;
                pending.push(Event::Tick);
                continue;
            }
            _ = tokio::time::sleep(Duration::from_millis(2)), if pump && !room => continue,
            _ = tokio::time::sleep(BATCH_GAP), if !pending.is_empty() => {
                flush = true;
                continue;
            }
        };
        match read {
            None => pending.push(Event::Tick),
            Some(Ok(Some(n))) => {
                bytes_in += n as u64;
                tracing::trace!(peer = %peer_hex, bytes = n, "bytes received");
                decoder.push(&buf[..n]);
                frames_in += decode(&mut decoder, &mut pending, &preparer);
            }
            Some(Ok(None)) => {
                return Err(SessionError::Io(
                    "the peer ended the session before it was complete".into(),
                ));
            }
            Some(Err(e)) => return Err(SessionError::Io(e.to_string())),
        }
    }
}

/// Decodes every complete frame buffered in `decoder` into `pending` (a decoding error too),
/// queueing the documents of `Docs` frames for preparation. Returns the number of frames.
fn decode(decoder: &mut FrameDecoder, pending: &mut Vec<Event>, preparer: &Preparer) -> u64 {
    let mut n = 0;
    loop {
        match decoder.next_frame() {
            Ok(Some(f)) => {
                n += 1;
                if let Frame::Docs { docs } = &f {
                    preparer.submit(docs);
                }
                pending.push(Event::Received(f))
            }
            Ok(None) => return n,
            Err(e) => {
                pending.push(Event::DecodeError(e));
                return n;
            }
        }
    }
}

/// Whole documents in pending frames.
fn pending_docs(pending: &[Event]) -> usize {
    pending
        .iter()
        .map(|e| match e {
            Event::Received(Frame::Docs { docs }) => docs.len(),
            _ => 0,
        })
        .sum()
}

/// Whether a pending batch should wait for more frames: it holds only whole documents, fewer
/// than `BATCH_DOCS` of them and fewer than `BATCH_BYTES` bytes, and fewer than the `awaited`
/// ones the peer still has to send (once the last one is in hand, waiting gains nothing: a
/// single new document is stored at once, not after `BATCH_GAP`).
fn gathering(pending: &[Event], batch_docs: usize, awaited: usize) -> bool {
    let (mut docs, mut bytes) = (0usize, 0usize);
    for e in pending {
        match e {
            Event::Received(Frame::Docs { docs: d }) => {
                docs += d.len();
                bytes += d.iter().map(|(_, b)| b.len()).sum::<usize>();
            }
            _ => return false,
        }
    }
    docs < batch_docs && bytes < BATCH_BYTES && docs < awaited
}

/// The next batch: every pending event, except that one batch holds whole documents of at most
/// `batch_docs` documents' worth of frames (at least one frame); the rest waits for the next.
fn take_batch(pending: &mut Vec<Event>, batch_docs: usize) -> Vec<Event> {
    let mut docs = 0usize;
    let mut cut = pending.len();
    for (i, e) in pending.iter().enumerate() {
        if let Event::Received(Frame::Docs { docs: d }) = e {
            if i > 0 && docs + d.len() > batch_docs {
                cut = i;
                break;
            }
            docs += d.len();
        }
    }
    let rest = pending.split_off(cut);
    std::mem::replace(pending, rest)
}

/// Documents a worker takes at a time.
const PREPARE_CHUNK: usize = 16;

/// Whole documents received, loaded, verified and indexed (`WholeDoc::prepare`) by worker
/// threads (one per core) from the moment their frame is decoded, while the session handles
/// and stores earlier batches: the store step takes each one as the engine hands the
/// document over, waiting only when the workers have not reached it yet. A document the
/// workers do not have (or whose bytes differ from the ones they prepared) is prepared by the
/// store step itself.
struct Preparer {
    shared: Arc<PrepShared>,
}

#[derive(Default)]
struct PrepShared {
    state: std::sync::Mutex<PrepState>,
    ready: std::sync::Condvar,
}

#[derive(Default)]
struct PrepState {
    /// Not started yet, in arrival order.
    queue: std::collections::VecDeque<(DocId, Vec<u8>)>,
    /// Queued or being prepared.
    busy: std::collections::HashSet<DocId, kith_core::IdHasher>,
    /// Prepared, with the bytes they were prepared from.
    done:
        std::collections::HashMap<DocId, (Vec<u8>, Result<WholeDoc, String>), kith_core::IdHasher>,
    closed: bool,
    /// Time the store step spent waiting for a worker (for the log).
    waited: Duration,
}

impl Preparer {
    fn new() -> Preparer {
        let shared = Arc::new(PrepShared::default());
        let workers = crate::store::par::workers();
        if workers > 1 {
            for _ in 0..workers {
                let sh = shared.clone();
                std::thread::spawn(move || sh.work());
            }
        }
        if workers <= 1 {
            shared
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .closed = true;
        }
        Preparer { shared }
    }

    /// Queues the documents of a decoded `Docs` frame (copies: the engine takes the frame).
    fn submit(&self, docs: &[(DocId, Vec<u8>)]) {
        let mut st = self.shared.lock();
        if st.closed {
            return;
        }
        for (id, bytes) in docs {
            // A second copy of a document in flight is left to the store step.
            if st.busy.contains(id) || st.done.contains_key(id) {
                continue;
            }
            st.busy.insert(*id);
            st.queue.push_back((*id, bytes.clone()));
        }
        drop(st);
        self.shared.ready.notify_all();
    }

    fn handle(&self) -> Arc<PrepShared> {
        self.shared.clone()
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.closed = true;
        st.queue.clear();
        drop(st);
        self.shared.ready.notify_all();
    }
}

impl PrepShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, PrepState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker: prepares queued documents until the session ends.
    fn work(&self) {
        let mut st = self.lock();
        loop {
            if st.closed {
                return;
            }
            if st.queue.is_empty() {
                st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let n = st.queue.len().min(PREPARE_CHUNK);
            let jobs: Vec<(DocId, Vec<u8>)> = st.queue.drain(..n).collect();
            drop(st);
            let out: Vec<_> = jobs
                .into_iter()
                .map(|(id, bytes)| {
                    let r = prepare_one(&bytes);
                    (id, bytes, r)
                })
                .collect();
            st = self.lock();
            for (id, bytes, r) in out {
                st.busy.remove(&id);
                if !st.closed {
                    st.done.insert(id, (bytes, r));
                }
            }
            self.ready.notify_all();
        }
    }

    /// The prepared document `doc` (whose bytes are `bytes`), prepared here if no worker has it.
    fn take(&self, doc: &DocId, bytes: &[u8]) -> Result<WholeDoc, String> {
        let mut st = self.lock();
        let t = Instant::now();
        loop {
            if let Some((b, r)) = st.done.remove(doc) {
                st.waited += t.elapsed();
                drop(st);
                return if b == bytes { r } else { prepare_one(bytes) };
            }
            if st.closed || !st.busy.contains(doc) {
                drop(st);
                return prepare_one(bytes);
            }
            st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Time spent waiting for workers since the last call.
    fn take_waited(&self) -> Duration {
        std::mem::take(&mut self.lock().waited)
    }
}

/// `WholeDoc::prepare`, with a panic inside Automerge on a peer's bytes turned into a refusal
/// of that document.
fn prepare_one(bytes: &[u8]) -> Result<WholeDoc, String> {
    std::panic::catch_unwind(|| WholeDoc::prepare(bytes))
        .unwrap_or_else(|_| Err("it does not load (Automerge failed on it)".into()))
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Fault injection for tests, from the environment of the sending process:
/// - `KITH_FAULT_CORRUPT_DOC=<doc id>`: every Sync message for that document, and its bytes
///   when it travels whole, go out as garbage (a poisoned document, as a peer with a damaged copy would send);
/// - `KITH_FAULT_TRICKLE_MS=<ms>`: frames go out one byte at a time, this long apart (a peer on
///   a link that barely moves).
struct Faults {
    corrupt: Option<kith_core::DocId>,
    trickle: Option<Duration>,
}

impl Faults {
    fn from_env() -> Faults {
        Faults {
            corrupt: std::env::var("KITH_FAULT_CORRUPT_DOC")
                .ok()
                .and_then(|v| v.parse().ok()),
            trickle: env_u64("KITH_FAULT_TRICKLE_MS").map(Duration::from_millis),
        }
    }

    fn encode(&self, frame: kith_core::sync::Frame) -> Vec<u8> {
        match frame {
            kith_core::sync::Frame::Sync { doc, message } if Some(doc) == self.corrupt => {
                let garbage = vec![0x42, 0xff, 0xff, 0xff];
                let _ = message;
                kith_core::sync::Frame::Sync {
                    doc,
                    message: garbage,
                }
                .encode()
            }
            kith_core::sync::Frame::Docs { mut docs } if self.corrupt.is_some() => {
                for (id, bytes) in docs.iter_mut() {
                    if Some(*id) == self.corrupt {
                        *bytes = vec![0x85, 0x6f, 0x4a, 0x83, 0xff, 0xff, 0xff];
                    }
                }
                kith_core::sync::Frame::Docs { docs }.encode()
            }
            f => f.encode(),
        }
    }
}

/// After DONE: finish our direction and wait (briefly) for the peer to finish theirs, so that
/// closing the connection cannot cut off frames still in flight.
async fn finish(send: &mut SendStream, recv: &mut RecvStream) {
    let _ = send.finish();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 1024];
        while let Ok(Some(_)) = recv.read(&mut buf).await {}
    })
    .await;
}

/// Dials side: opens the stream on an established, trusted connection and runs the session.
pub async fn initiate(
    vault: Arc<Vault>,
    conn: &Connection,
    on_progress: &mut (dyn FnMut(&Summary) + Send),
) -> Result<Summary, SessionError> {
    let peer = PeerId(*conn.remote_id().as_bytes());
    let start = change_seq(&vault).await;
    let mut own = OwnChanges::default();
    let out = match conn.open_bi().await {
        Ok((send, recv)) => {
            run(
                vault.clone(),
                peer,
                Role::Initiator,
                send,
                recv,
                on_progress,
                &mut own,
            )
            .await
        }
        Err(e) => Err(SessionError::Io(e.to_string())),
    };
    // A refusal (unknown or removed device) arrives as the peer closing the connection.
    let out = match out {
        Err(SessionError::Io(io)) => {
            // Give the close frame a moment to arrive if the stream broke first.
            let _ = tokio::time::timeout(Duration::from_millis(500), conn.closed()).await;
            Err(peer_close_reason(conn)
                .map(SessionError::Refused)
                .unwrap_or(SessionError::Io(io)))
        }
        other => other,
    };
    record(&vault, peer, own.synced_upto(start), &out).await;
    conn.close(0u32.into(), b"done");
    out
}

/// Accepting side, after the trust check.
pub async fn respond(vault: Arc<Vault>, conn: &Connection) -> Result<Summary, SessionError> {
    let peer = PeerId(*conn.remote_id().as_bytes());
    let start = change_seq(&vault).await;
    let mut own = OwnChanges::default();
    let (send, recv) = conn
        .accept_bi()
        .await
        .map_err(|e| SessionError::Io(e.to_string()))?;
    let out = run(
        vault.clone(),
        peer,
        Role::Responder,
        send,
        recv,
        &mut |_| {},
        &mut own,
    )
    .await;
    record(&vault, peer, own.synced_upto(start), &out).await;
    out
}

/// The change numbers this session's own transactions took (documents received from the peer):
/// ranges `(before, after]` of the vault's change counter.
#[derive(Default)]
pub struct OwnChanges(Vec<(u64, u64)>);

impl OwnChanges {
    fn add(&mut self, before: u64, after: u64) {
        if after > before {
            self.0.push((before, after));
        }
    }

    /// The highest change number up to which, starting from `start`, every change is either
    /// from before the session or one of the session's own: a change another command made
    /// meanwhile (an edit during the sync) stops it, so that edit counts as unsent.
    fn synced_upto(&self, start: u64) -> u64 {
        let mut upto = start;
        let mut ranges = self.0.clone();
        ranges.sort_unstable();
        for (from, to) in ranges {
            if from == upto {
                upto = to;
            } else if from > upto {
                break;
            }
        }
        upto
    }
}

/// The vault's change counter now (0 when it cannot be read: nothing then counts as synced).
async fn change_seq(vault: &Arc<Vault>) -> u64 {
    crate::net::blocking(vault, |v| v.read().and_then(|r| r.change_seq()))
        .await
        .unwrap_or(0)
}

/// Remembers when the peer was last seen and synced (for `kith status` and `device list`).
/// After a completed session both sides hold every change either had when it started, so
/// the changes up to `upto` (the counter at the start, extended over the documents the session
/// itself received) count as synced; an edit made on this device during the session stays
/// unsent until the next session.
async fn record(vault: &Arc<Vault>, peer: PeerId, upto: u64, out: &Result<Summary, SessionError>) {
    let now = crate::net::now_ms();
    let out: Result<(), String> = match out {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    };
    let _ = crate::net::blocking(vault, move |vault| {
        vault.write(now, |w| {
            let mut st: PeerState = w.peer_state(peer.0)?;
            st.last_seen = now;
            match &out {
                Ok(_) => {
                    st.last_sync = now;
                    // Everything changed before the session started is now on both sides.
                    st.synced_upto = st.synced_upto.max(upto);
                    st.last_error.clear();
                }
                Err(e) => st.last_error = e.clone(),
            }
            w.set_peer_state(peer.0, &st)?;
            Ok::<_, StoreError>(())
        })
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(n: u8) -> Event {
        Event::Received(Frame::Docs {
            docs: (0..n).map(|i| (DocId([i; 16]), vec![1, 2, 3])).collect(),
        })
    }

    #[test]
    fn a_batch_of_whole_documents_stops_waiting_once_the_last_awaited_one_is_in() {
        let pending = vec![docs(3), docs(2)];
        // More documents to come: wait for them (up to the batch size).
        assert!(gathering(&pending, 4096, 100));
        // The five in hand are all the peer still sends: store them now.
        assert!(!gathering(&pending, 4096, 5));
        assert!(!gathering(&pending, 4096, 0));
        // The batch is full.
        assert!(!gathering(&pending, 5, 100));
        // Anything but whole documents is handled at once.
        let mixed = vec![docs(1), Event::Tick];
        assert!(!gathering(&mixed, 4096, 100));
    }
}
