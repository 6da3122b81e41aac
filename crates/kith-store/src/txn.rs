//! The write transaction handle, `Writer` (the read snapshot, `Reader`, is in `query`).
//!
//! Invariant: one `Writer` is one redb write transaction; dropping it without `Vault::write`
//! returning Ok discards everything it did.

use std::collections::BTreeMap;
use std::path::PathBuf;

use automerge::ActorId;
use redb::WriteTransaction;

/// One write transaction. Dropping it without `Vault::write` returning Ok discards everything.
pub struct Writer {
    pub(crate) txn: WriteTransaction,
    pub(crate) path: PathBuf,
    pub(crate) actor: ActorId,
    pub(crate) now: i64,
    /// During `reindex`: posting lists collected in memory and written once at the end,
    /// instead of rewriting a term's list for every document that contains it.
    pub(crate) postings: Option<BTreeMap<String, Vec<(u32, u8)>>>,
    /// Posting changes of this transaction (term -> ordinal -> new weight, or None to remove),
    /// applied once per term by `flush_postings` before commit: a transaction that touches many
    /// documents (an import, a sync batch) rewrites each term's list once, not once per document.
    pub(crate) pending: BTreeMap<String, BTreeMap<u32, Option<u8>>>,
}
