//! Reconciliation hashing and the pure diff functions that narrow two vaults to what differs.
//!
//! A document's *leaf* is the first 16 bytes of SHA-256(id || sorted heads). Bucket b (the first
//! byte of the id) hashes to the XOR of its leaves, so a store updates it in O(1) when one
//! document changes; the root is SHA-256 of the 256 bucket hashes in order.
//!
//! Invariant: these functions are pure and total: every input, including a peer's, yields a value
//! or a [`DocListError`], never a panic.

use automerge::ChangeHash;
use sha2::{Digest as _, Sha256};

use crate::DocId;

/// Number of buckets: documents are bucketed by the first byte of their id.
pub const BUCKETS: usize = 256;

/// A 16-byte truncated SHA-256 digest (leaf or bucket hash).
pub type Digest = [u8; 16];

/// The bucket of a document: the first byte of its (uniformly random) id.
pub fn bucket_of(id: &DocId) -> u8 {
    id.0[0]
}

/// The leaf digest of a document: SHA-256(id[16] || heads sorted ascending, 32 bytes each)[..16].
pub fn leaf_digest(id: &DocId, heads: &[ChangeHash]) -> Digest {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    for head in sorted {
        h.update(head.0);
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// The 256 bucket hashes of a vault.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BucketHashes(pub Box<[Digest; BUCKETS]>);

impl Default for BucketHashes {
    fn default() -> Self {
        Self::empty()
    }
}

impl BucketHashes {
    /// The hashes of an empty vault (all zero).
    pub fn empty() -> Self {
        BucketHashes(Box::new([[0u8; 16]; BUCKETS]))
    }

    /// Adds or removes (XOR is its own inverse) a document's leaf. To change a document's heads,
    /// toggle the old leaf out and the new one in.
    pub fn toggle(&mut self, id: &DocId, leaf: &Digest) {
        let b = &mut self.0[bucket_of(id) as usize];
        for (x, y) in b.iter_mut().zip(leaf) {
            *x ^= y;
        }
    }

    /// Builds the hashes from `(id, leaf)` pairs.
    pub fn from_leaves<'a>(leaves: impl IntoIterator<Item = (&'a DocId, &'a Digest)>) -> Self {
        let mut b = Self::empty();
        for (id, leaf) in leaves {
            b.toggle(id, leaf);
        }
        b
    }

    /// SHA-256 over the 256 bucket hashes in bucket order.
    pub fn root(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for b in self.0.iter() {
            h.update(b);
        }
        let full = h.finalize();
        let mut out = [0u8; 32];
        out.copy_from_slice(&full[..]);
        out
    }
}

/// Buckets whose hashes differ, ascending. Both sides compute the same list.
pub fn differing_buckets(a: &BucketHashes, b: &BucketHashes) -> Vec<u8> {
    (0..BUCKETS)
        .filter(|&i| a.0[i] != b.0[i])
        .map(|i| i as u8)
        .collect()
}

/// Why a peer's document list is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocListError {
    #[error("document ids are not strictly ascending at {0}")]
    NotAscending(DocId),
    #[error("document {0} is in a bucket that does not differ")]
    OutsideBuckets(DocId),
}

/// Checks that a peer's `(id, leaf)` list is strictly ascending (after `prev`, the last id of
/// the previous chunk) and only names documents in `buckets` (sorted ascending).
pub fn check_doc_list(
    prev: Option<DocId>,
    entries: &[(DocId, Digest)],
    buckets: &[u8],
) -> Result<(), DocListError> {
    let mut last = prev;
    for (id, _) in entries {
        if last.is_some_and(|l| l >= *id) {
            return Err(DocListError::NotAscending(*id));
        }
        if buckets.binary_search(&bucket_of(id)).is_err() {
            return Err(DocListError::OutsideBuckets(*id));
        }
        last = Some(*id);
    }
    Ok(())
}

/// The documents that differ, split three ways (each list ascending): documents both sides
/// have with different leaves (synced with Automerge's protocol), documents only `mine` lists
/// (this side sends them whole), and documents only `theirs` lists, with the leaf the peer
/// announced (the peer sends them whole; each must arrive with exactly that leaf).
pub struct Partition {
    pub both: Vec<DocId>,
    pub only_mine: Vec<DocId>,
    pub only_theirs: Vec<(DocId, Digest)>,
}

/// Splits the differing documents of two sorted `(id, leaf)` lists; see [`Partition`].
pub fn partition_docs(mine: &[(DocId, Digest)], theirs: &[(DocId, Digest)]) -> Partition {
    let mut p = Partition {
        both: Vec::new(),
        only_mine: Vec::new(),
        only_theirs: Vec::new(),
    };
    let (mut i, mut j) = (0, 0);
    loop {
        match (mine.get(i), theirs.get(j)) {
            (Some(a), Some(b)) if a.0 == b.0 => {
                if a.1 != b.1 {
                    p.both.push(a.0);
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.0 < b.0 => {
                p.only_mine.push(a.0);
                i += 1;
            }
            (Some(a), None) => {
                p.only_mine.push(a.0);
                i += 1;
            }
            (_, Some(b)) => {
                p.only_theirs.push(*b);
                j += 1;
            }
            (None, None) => break,
        }
    }
    p
}

/// Documents to run Automerge sync on: ids on one side only, or on both with different leaves.
/// Both inputs sorted ascending by id; the output is ascending and the same on both sides.
pub fn differing_docs(mine: &[(DocId, Digest)], theirs: &[(DocId, Digest)]) -> Vec<DocId> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < mine.len() || j < theirs.len() {
        match (mine.get(i), theirs.get(j)) {
            (Some(a), Some(b)) if a.0 == b.0 => {
                if a.1 != b.1 {
                    out.push(a.0);
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.0 < b.0 => {
                out.push(a.0);
                i += 1;
            }
            (Some(_), Some(b)) => {
                out.push(b.0);
                j += 1;
            }
            (Some(a), None) => {
                out.push(a.0);
                i += 1;
            }
            (None, Some(b)) => {
                out.push(b.0);
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(first: u8, n: u8) -> DocId {
        let mut b = [0u8; 16];
        b[0] = first;
        b[15] = n;
        DocId(b)
    }

    fn h(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    #[test]
    fn leaf_ignores_head_order_and_depends_on_id_and_heads() {
        let a = id(1, 1);
        assert_eq!(
            leaf_digest(&a, &[h(1), h(2)]),
            leaf_digest(&a, &[h(2), h(1)])
        );
        assert_ne!(leaf_digest(&a, &[h(1)]), leaf_digest(&a, &[h(2)]));
        assert_ne!(leaf_digest(&a, &[h(1)]), leaf_digest(&id(1, 2), &[h(1)]));
    }

    #[test]
    fn toggle_is_incremental_and_order_free() {
        let docs = [
            (id(0, 1), [1u8; 16]),
            (id(0, 2), [2; 16]),
            (id(9, 1), [3; 16]),
        ];
        let all = BucketHashes::from_leaves(docs.iter().map(|(i, d)| (i, d)));
        let mut rev = BucketHashes::empty();
        for (i, d) in docs.iter().rev() {
            rev.toggle(i, d);
        }
        assert_eq!(all, rev);
        assert_eq!(differing_buckets(&all, &BucketHashes::empty()), vec![0, 9]);
        // change doc (0,2): toggle old out, new in
        let mut changed = all.clone();
        changed.toggle(&docs[1].0, &docs[1].1);
        changed.toggle(&docs[1].0, &[7; 16]);
        assert_eq!(differing_buckets(&all, &changed), vec![0]);
        assert_ne!(all.root(), changed.root());
        rev.toggle(&docs[2].0, &docs[2].1);
        rev.toggle(&docs[2].0, &docs[2].1);
        assert_eq!(all.root(), rev.root());
    }

    #[test]
    fn differing_docs_table() {
        let (a, b, c, d) = (id(1, 1), id(1, 2), id(1, 3), id(2, 1));
        let x = [1u8; 16];
        let y = [2u8; 16];
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Vec<(DocId, Digest)>, Vec<(DocId, Digest)>, Vec<DocId>)> = vec![
            ("both empty", vec![], vec![], vec![]),
            (
                "identical",
                vec![(a, x), (b, y)],
                vec![(a, x), (b, y)],
                vec![],
            ),
            ("only mine", vec![(a, x)], vec![], vec![a]),
            ("only theirs", vec![], vec![(b, x)], vec![b]),
            (
                "changed leaf",
                vec![(a, x), (b, x)],
                vec![(a, x), (b, y)],
                vec![b],
            ),
            (
                "interleaved",
                vec![(a, x), (c, x)],
                vec![(b, x), (c, y), (d, x)],
                vec![a, b, c, d],
            ),
            ("tail of mine", vec![(a, x), (d, y)], vec![(a, x)], vec![d]),
        ];
        for (name, mine, theirs, want) in cases {
            assert_eq!(differing_docs(&mine, &theirs), want, "{name}");
            // symmetric: both sides derive the same set
            assert_eq!(differing_docs(&theirs, &mine), want, "{name} (swapped)");
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn check_doc_list_table() {
        let (a, b, d) = (id(1, 1), id(1, 2), id(2, 1));
        let x = [0u8; 16];
        let cases: Vec<(
            Option<DocId>,
            Vec<(DocId, Digest)>,
            Vec<u8>,
            Result<(), DocListError>,
        )> = vec![
            (None, vec![], vec![], Ok(())),
            (None, vec![(a, x), (b, x)], vec![1], Ok(())),
            (
                None,
                vec![(b, x), (a, x)],
                vec![1],
                Err(DocListError::NotAscending(a)),
            ),
            (
                None,
                vec![(a, x), (a, x)],
                vec![1],
                Err(DocListError::NotAscending(a)),
            ),
            (
                Some(b),
                vec![(a, x)],
                vec![1],
                Err(DocListError::NotAscending(a)),
            ),
            (Some(a), vec![(b, x)], vec![1], Ok(())),
            (
                None,
                vec![(a, x), (d, x)],
                vec![1],
                Err(DocListError::OutsideBuckets(d)),
            ),
            (None, vec![(a, x), (d, x)], vec![1, 2], Ok(())),
        ];
        for (i, (prev, entries, buckets, want)) in cases.into_iter().enumerate() {
            assert_eq!(check_doc_list(prev, &entries, &buckets), want, "case {i}");
        }
    }

    #[test]
    fn empty_vault_root_is_fixed() {
        // SHA-256 of 4096 zero bytes: lets a second implementation check its hashing.
        let root = BucketHashes::empty().root();
        let hex: String = root.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a85dabd8b48892ca7"
        );
    }
}
