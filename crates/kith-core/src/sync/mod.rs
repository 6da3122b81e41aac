//! The sans-IO sync engine: reconciles a vault of Automerge documents with one trusted peer.
//!
//! The protocol (`kith/sync/3`, specified in `docs/design/sync-protocol.md`) first compares a
//! root hash over 256 buckets of per-document heads digests, narrows down to the buckets and then
//! the documents that differ. A document one side lacks entirely travels whole (its stored
//! bytes, many per `Docs` frame, streamed); Automerge's own sync protocol runs, pipelined, only
//! for documents both sides have that differ. A reconnect with nothing changed is one round
//! trip of two small frames.
//!
//! Invariant: nothing here does I/O. The driver (iroh + redb, in the `kith` crate) decodes
//! frames with [`FrameDecoder`], feeds them to [`Session::handle`] with the current time, and
//! carries out the returned [`Effect`]s in order (send frames, persist document changes and sync
//! states) before the next call. The engine reads the vault only through [`SyncStore`].

mod frame;
mod mem;
mod reconcile;
mod session;

#[cfg(test)]
mod deletion_tests;
#[cfg(test)]
mod sim;

pub use frame::{
    Frame, FrameDecoder, FrameError, FrameType, DOCS_ENTRY_OVERHEAD, DOCS_FRAME_TARGET,
    MAX_FRAME_LEN,
};
pub use mem::MemStore;
pub use reconcile::{
    bucket_of, check_doc_list, differing_buckets, differing_docs, leaf_digest, partition_docs,
    BucketHashes, Digest, DocListError, Partition, BUCKETS,
};
pub use session::{verify_whole, Config, Effect, Event, Role, Session, Summary, SyncError};

use crate::DocId;

/// The ALPN string of this protocol. A new incompatible version gets a new string.
pub const ALPN: &[u8] = b"kith/sync/3";

/// The ALPNs of older protocol versions: 1 (kith before whole-document transfer) and 2 (before
/// sparse `Buckets` and varint lengths in `Docs`). A listener still accepts them, only to close
/// the connection with [`CloseCode::VERSION`] and a reason the older peer shows its user,
/// instead of a bare handshake failure.
pub const ALPN_OLD: [&[u8]; 2] = [b"kith/sync/1", b"kith/sync/2"];

/// The protocol version carried in `Hello`. The engine also runs the sharing protocols
/// (`kith/share/1`, `kith/slices/1`), where an older peer's `Hello` is refused with
/// [`CloseCode::VERSION`].
pub const PROTOCOL_VERSION: u8 = 3;

/// The id of the peer device a session talks to: its 32-byte iroh `EndpointId` (public key).
/// The engine only uses it to key persisted Automerge sync states.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PeerId(pub [u8; 32]);

/// Reason codes carried in a `Close` frame and usable as QUIC application close codes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// The session ended normally.
    pub const OK: CloseCode = CloseCode(0);
    /// The peer sent a malformed, oversized or unexpected frame.
    pub const PROTOCOL: CloseCode = CloseCode(1);
    /// The peer speaks another protocol version.
    pub const VERSION: CloseCode = CloseCode(2);
    /// The driver refused the connection: the device is not in the trusted set.
    pub const UNTRUSTED_DEVICE: CloseCode = CloseCode(3);
    /// The driver refused the connection: the device was removed from the vault.
    pub const REMOVED_DEVICE: CloseCode = CloseCode(4);
    /// No frame arrived within the idle timeout.
    pub const TIMEOUT: CloseCode = CloseCode(5);
    /// The local store failed; try again later.
    pub const STORE: CloseCode = CloseCode(6);
    /// Automerge rejected a sync message for a document.
    pub const DOCUMENT: CloseCode = CloseCode(7);
    /// The local side is shutting down.
    pub const SHUTDOWN: CloseCode = CloseCode(8);
}

/// A failure of the store behind [`SyncStore`], with a message for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// Read access to the vault that the engine needs. Writes come back as [`Effect`]s.
///
/// Contract (also in the protocol spec, "What the store provides"):
/// - Every document with non-empty heads takes part; documents with empty heads are absent.
/// - `bucket_hashes` returns, for b in 0..256, the XOR of [`leaf_digest`] over the documents whose
///   id starts with byte b. A store keeps these in a table updated in the same transaction as the
///   documents, so this never loads a document.
/// - `bucket_leaves(b)` returns `(id, leaf_digest(id, heads))` of those documents, sorted by id.
///   A store keeps per-document heads (or the digest itself) in a table for this.
/// - `load` returns the document as stored, reflecting every `StoreChanges` effect already
///   carried out. It is only called for documents that differ.
/// - `sync_state` returns the bytes of the last `SaveSyncState` for (peer, doc), if any.
/// - `is_deleted` says whether a document id is in the vault's tombstone set (deleted for good,
///   docs/design/deletion.md). The engine neither offers nor accepts such a document. The default
///   (nothing is deleted) suits stores without deletion.
pub trait SyncStore {
    fn bucket_hashes(&self) -> Result<BucketHashes, StoreError>;
    fn doc_count(&self) -> Result<u64, StoreError>;
    fn bucket_leaves(&self, bucket: u8) -> Result<Vec<(DocId, Digest)>, StoreError>;
    fn load(&self, doc: &DocId) -> Result<Option<automerge::Automerge>, StoreError>;
    fn sync_state(&self, peer: &PeerId, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError>;
    fn is_deleted(&self, doc: &DocId) -> Result<bool, StoreError> {
        let _ = doc;
        Ok(false)
    }
    /// The document's bytes as stored, to send whole to a peer that lacks it: anything
    /// `Automerge::load` accepts, reflecting every stored change. The default loads and saves;
    /// a store that keeps saved bytes returns them without loading.
    fn load_bytes(&self, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.load(doc)?.map(|d| d.save()))
    }
}
