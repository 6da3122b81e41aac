//! Wire frames of `kith/sync/3`: `u32` big-endian length, then a type byte and the body.
//!
//! Invariant: decoding never trusts the peer. The length is checked against [`MAX_FRAME_LEN`]
//! before any byte of the body is awaited, no buffer is sized from a peer-chosen number, and
//! every malformed input is a [`FrameError`] value, never a panic.

use crate::DocId;

use super::reconcile::{BucketHashes, Digest, BUCKETS};

/// Hard cap on the length field (type byte + body): 16 MiB.
pub const MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;

/// Most entries a sender puts in one `DocList` frame (32 bytes each: 2 MiB).
pub const DOC_LIST_CHUNK: usize = 65_536;

/// Most document bytes a sender packs into one `Docs` frame (the frame stays far below
/// [`MAX_FRAME_LEN`]; a document larger than this travels alone, or by Automerge sync when it
/// does not fit a frame at all).
pub const DOCS_FRAME_TARGET: usize = 1024 * 1024;

/// Most overhead of one entry of a `Docs` frame: id (16) and length (a LEB128 varint of at
/// most 4 bytes, since a frame is at most 16 MiB). Senders size frames with it.
pub const DOCS_ENTRY_OVERHEAD: usize = 20;

/// Least bytes one entry of a `Docs` frame takes: id (16), a one-byte length, one byte.
const DOCS_ENTRY_MIN: usize = 18;

/// Bytes of the bucket bitmap of a sparse `Buckets` frame (one bit per bucket).
const BUCKET_BITMAP: usize = BUCKETS / 8;

/// `Buckets` body forms: every hash (`0`), or a bitmap of the non-zero ones and those (`1`).
const BUCKETS_DENSE: u8 = 0;
const BUCKETS_SPARSE: u8 = 1;

/// Bytes of `n` as an unsigned LEB128 varint.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a minimal LEB128 varint of at most 4 bytes (values below 2^28) from the front of
/// `s`: the value and the bytes it took.
fn get_varint(s: &[u8]) -> Option<(usize, usize)> {
    let mut n = 0usize;
    for (i, &b) in s.iter().take(4).enumerate() {
        n |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // Minimal: no trailing zero group (the value 0 itself is one byte).
            if i > 0 && b == 0 {
                return None;
            }
            return Some((n, i + 1));
        }
    }
    None
}

/// The non-zero buckets of `b`.
fn nonzero_buckets(b: &BucketHashes) -> usize {
    b.0.iter().filter(|h| **h != [0u8; 16]).count()
}

/// Body length of a `Buckets` frame: the sparse form when it is shorter.
fn buckets_body_len(b: &BucketHashes) -> usize {
    let dense = 1 + BUCKETS * 16;
    let sparse = 1 + BUCKET_BITMAP + nonzero_buckets(b) * 16;
    dense.min(sparse)
}

/// The type byte of each frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum FrameType {
    Hello = 0x01,
    Buckets = 0x02,
    DocList = 0x03,
    Sync = 0x04,
    Idle = 0x05,
    Close = 0x06,
    Skip = 0x07,
    Docs = 0x08,
}

impl FrameType {
    fn from_byte(b: u8) -> Option<FrameType> {
        Some(match b {
            0x01 => FrameType::Hello,
            0x02 => FrameType::Buckets,
            0x03 => FrameType::DocList,
            0x04 => FrameType::Sync,
            0x05 => FrameType::Idle,
            0x06 => FrameType::Close,
            0x07 => FrameType::Skip,
            0x08 => FrameType::Docs,
            _ => return None,
        })
    }
}

/// One protocol frame. Layouts are in `docs/design/sync-protocol.md`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Frame {
    /// Opens the session: version, root hash of the sender's vault, its document count.
    Hello {
        version: u8,
        root: [u8; 32],
        doc_count: u64,
    },
    /// The sender's 256 bucket hashes.
    Buckets(BucketHashes),
    /// `(id, leaf digest)` of the sender's documents in the differing buckets, ascending by id.
    /// `last` marks the final chunk.
    DocList {
        last: bool,
        entries: Vec<(DocId, Digest)>,
    },
    /// One encoded Automerge sync message for one document.
    Sync { doc: DocId, message: Vec<u8> },
    /// "I have nothing more to send": counts of `Sync` frames sent and received so far.
    Idle { sent: u64, received: u64 },
    /// The sender gives up: a [`super::CloseCode`] value and a UTF-8 reason for the log.
    Close { code: u16, reason: String },
    /// The sender quarantined one document (it cannot apply or load it): both sides stop
    /// syncing it for the rest of the session, and the rest of the session goes on. A UTF-8
    /// reason follows the id.
    Skip { doc: DocId, reason: String },
    /// Whole documents the peer lacks entirely, as stored (`Automerge::save` output, possibly
    /// followed by incremental chunks): `(id, bytes)` each. Protocol version 2.
    Docs { docs: Vec<(DocId, Vec<u8>)> },
}

/// Why bytes from the peer are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {len} exceeds the cap of {max} bytes")]
    TooLarge { len: u32, max: u32 },
    #[error("frame length is zero (a frame has at least a type byte)")]
    Empty,
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    #[error("malformed {kind:?} frame: {reason}")]
    Malformed {
        kind: FrameType,
        reason: &'static str,
    },
    #[error("the decoder already failed; drop the connection")]
    Poisoned,
}

impl Frame {
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Hello { .. } => FrameType::Hello,
            Frame::Buckets(_) => FrameType::Buckets,
            Frame::DocList { .. } => FrameType::DocList,
            Frame::Sync { .. } => FrameType::Sync,
            Frame::Idle { .. } => FrameType::Idle,
            Frame::Close { .. } => FrameType::Close,
            Frame::Skip { .. } => FrameType::Skip,
            Frame::Docs { .. } => FrameType::Docs,
        }
    }

    /// Length of the body (without the 4-byte length and the type byte).
    fn body_len(&self) -> usize {
        match self {
            Frame::Hello { .. } => 1 + 32 + 8,
            Frame::Buckets(b) => buckets_body_len(b),
            Frame::DocList { entries, .. } => 1 + 4 + entries.len() * 32,
            Frame::Sync { message, .. } => 16 + message.len(),
            Frame::Idle { .. } => 16,
            Frame::Close { reason, .. } => 2 + reason.len(),
            Frame::Skip { reason, .. } => 16 + reason.len(),
            Frame::Docs { docs } => {
                4 + docs
                    .iter()
                    .map(|(_, b)| 16 + varint_len(b.len()) + b.len())
                    .sum::<usize>()
            }
        }
    }

    /// Bytes this frame occupies on the wire, length prefix included.
    pub fn encoded_len(&self) -> usize {
        4 + 1 + self.body_len()
    }

    /// The wire form: length prefix, type byte, body.
    pub fn encode(&self) -> Vec<u8> {
        let len = 1 + self.body_len();
        let mut out = Vec::with_capacity(4 + len);
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.push(self.frame_type() as u8);
        match self {
            Frame::Hello {
                version,
                root,
                doc_count,
            } => {
                out.push(*version);
                out.extend_from_slice(root);
                out.extend_from_slice(&doc_count.to_be_bytes());
            }
            Frame::Buckets(b) => {
                if buckets_body_len(b) < 1 + BUCKETS * 16 {
                    out.push(BUCKETS_SPARSE);
                    let mut bitmap = [0u8; BUCKET_BITMAP];
                    for (i, h) in b.0.iter().enumerate() {
                        if *h != [0u8; 16] {
                            bitmap[i / 8] |= 0x80 >> (i % 8);
                        }
                    }
                    out.extend_from_slice(&bitmap);
                    for h in b.0.iter().filter(|h| **h != [0u8; 16]) {
                        out.extend_from_slice(h);
                    }
                } else {
                    out.push(BUCKETS_DENSE);
                    for h in b.0.iter() {
                        out.extend_from_slice(h);
                    }
                }
            }
            Frame::DocList { last, entries } => {
                out.push(u8::from(*last));
                out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
                for (id, d) in entries {
                    out.extend_from_slice(id.as_bytes());
                    out.extend_from_slice(d);
                }
            }
            Frame::Sync { doc, message } => {
                out.extend_from_slice(doc.as_bytes());
                out.extend_from_slice(message);
            }
            Frame::Idle { sent, received } => {
                out.extend_from_slice(&sent.to_be_bytes());
                out.extend_from_slice(&received.to_be_bytes());
            }
            Frame::Close { code, reason } => {
                out.extend_from_slice(&code.to_be_bytes());
                out.extend_from_slice(reason.as_bytes());
            }
            Frame::Skip { doc, reason } => {
                out.extend_from_slice(doc.as_bytes());
                out.extend_from_slice(reason.as_bytes());
            }
            Frame::Docs { docs } => {
                out.extend_from_slice(&(docs.len() as u32).to_be_bytes());
                for (id, bytes) in docs {
                    out.extend_from_slice(id.as_bytes());
                    put_varint(&mut out, bytes.len());
                    out.extend_from_slice(bytes);
                }
            }
        }
        out
    }

    /// Parses one frame from `payload` = type byte + body (the length prefix already removed).
    pub fn decode(payload: &[u8]) -> Result<Frame, FrameError> {
        let (&ty, body) = payload.split_first().ok_or(FrameError::Empty)?;
        let kind = FrameType::from_byte(ty).ok_or(FrameError::UnknownType(ty))?;
        let bad = |reason| FrameError::Malformed { kind, reason };
        match kind {
            FrameType::Hello => {
                if body.len() != 41 {
                    return Err(bad("body must be 41 bytes"));
                }
                let mut root = [0u8; 32];
                root.copy_from_slice(&body[1..33]);
                Ok(Frame::Hello {
                    version: body[0],
                    root,
                    doc_count: u64::from_be_bytes(arr8(&body[33..41])),
                })
            }
            FrameType::Buckets => {
                let (&form, rest) = body.split_first().ok_or(bad("empty body"))?;
                let mut b = BucketHashes::empty();
                match form {
                    BUCKETS_DENSE => {
                        if rest.len() != BUCKETS * 16 {
                            return Err(bad("dense body must be 1 + 4096 bytes"));
                        }
                        for (i, chunk) in rest.chunks_exact(16).enumerate() {
                            b.0[i].copy_from_slice(chunk);
                        }
                    }
                    BUCKETS_SPARSE => {
                        if rest.len() < BUCKET_BITMAP {
                            return Err(bad("sparse body shorter than its bitmap"));
                        }
                        let (bitmap, hashes) = rest.split_at(BUCKET_BITMAP);
                        let present: Vec<usize> = (0..BUCKETS)
                            .filter(|i| bitmap[i / 8] & (0x80 >> (i % 8)) != 0)
                            .collect();
                        if hashes.len() != present.len() * 16 {
                            return Err(bad("sparse body length does not match its bitmap"));
                        }
                        for (&i, chunk) in present.iter().zip(hashes.chunks_exact(16)) {
                            if chunk == [0u8; 16] {
                                return Err(bad("a listed bucket hash is zero"));
                            }
                            b.0[i].copy_from_slice(chunk);
                        }
                    }
                    _ => return Err(bad("form must be 0 (dense) or 1 (sparse)")),
                }
                Ok(Frame::Buckets(b))
            }
            FrameType::DocList => {
                if body.len() < 5 {
                    return Err(bad("body shorter than its 5-byte header"));
                }
                let last = match body[0] {
                    0 => false,
                    1 => true,
                    _ => return Err(bad("last flag must be 0 or 1")),
                };
                let count = u32::from_be_bytes(arr4(&body[1..5])) as usize;
                let rest = &body[5..];
                // Check the count against the bytes present before allocating for it.
                if rest.len() % 32 != 0 || rest.len() / 32 != count {
                    return Err(bad("entry count does not match the body length"));
                }
                let entries = rest
                    .chunks_exact(32)
                    .map(|e| {
                        let mut id = [0u8; 16];
                        let mut d = [0u8; 16];
                        id.copy_from_slice(&e[..16]);
                        d.copy_from_slice(&e[16..]);
                        (DocId(id), d)
                    })
                    .collect();
                Ok(Frame::DocList { last, entries })
            }
            FrameType::Sync => {
                if body.len() < 16 {
                    return Err(bad("body shorter than a document id"));
                }
                let mut id = [0u8; 16];
                id.copy_from_slice(&body[..16]);
                Ok(Frame::Sync {
                    doc: DocId(id),
                    message: body[16..].to_vec(),
                })
            }
            FrameType::Idle => {
                if body.len() != 16 {
                    return Err(bad("body must be 16 bytes"));
                }
                Ok(Frame::Idle {
                    sent: u64::from_be_bytes(arr8(&body[..8])),
                    received: u64::from_be_bytes(arr8(&body[8..])),
                })
            }
            FrameType::Close => {
                if body.len() < 2 {
                    return Err(bad("body shorter than its code"));
                }
                let reason = std::str::from_utf8(&body[2..])
                    .map_err(|_| bad("reason is not UTF-8"))?
                    .to_string();
                Ok(Frame::Close {
                    code: u16::from_be_bytes([body[0], body[1]]),
                    reason,
                })
            }
            FrameType::Skip => {
                if body.len() < 16 {
                    return Err(bad("body shorter than a document id"));
                }
                let mut id = [0u8; 16];
                id.copy_from_slice(&body[..16]);
                let reason = std::str::from_utf8(&body[16..])
                    .map_err(|_| bad("reason is not UTF-8"))?
                    .to_string();
                Ok(Frame::Skip {
                    doc: DocId(id),
                    reason,
                })
            }
            FrameType::Docs => {
                if body.len() < 4 {
                    return Err(bad("body shorter than its 4-byte count"));
                }
                let count = u32::from_be_bytes(arr4(&body[..4])) as usize;
                let mut rest = &body[4..];
                // Every entry takes at least 18 bytes: check the count against the bytes
                // present before allocating for it.
                if count == 0 {
                    return Err(bad("a Docs frame carries at least one document"));
                }
                if count > rest.len() / DOCS_ENTRY_MIN {
                    return Err(bad("entry count exceeds what the body can hold"));
                }
                let mut docs = Vec::with_capacity(count);
                for _ in 0..count {
                    if rest.len() < 17 {
                        return Err(bad("entry header cut short"));
                    }
                    let mut id = [0u8; 16];
                    id.copy_from_slice(&rest[..16]);
                    let (len, used) =
                        get_varint(&rest[16..]).ok_or(bad("document length is not a varint"))?;
                    rest = &rest[16 + used..];
                    if len == 0 {
                        return Err(bad("a document of zero bytes"));
                    }
                    if len > rest.len() {
                        return Err(bad("document length exceeds the body"));
                    }
                    docs.push((DocId(id), rest[..len].to_vec()));
                    rest = &rest[len..];
                }
                if !rest.is_empty() {
                    return Err(bad("bytes after the last document"));
                }
                Ok(Frame::Docs { docs })
            }
        }
    }
}

fn arr8(s: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    a
}

fn arr4(s: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    a
}

/// Push bytes in as they arrive, pull whole frames out.
///
/// The buffer only ever holds bytes the driver actually received; a length field above the cap
/// is an error as soon as its 4 bytes are in. After the first error the decoder stays failed.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max: u32,
    failed: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::with_max(MAX_FRAME_LEN)
    }

    /// A decoder with a smaller cap (tests; constrained drivers). Never above [`MAX_FRAME_LEN`].
    pub fn with_max(max: u32) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            max: max.min(MAX_FRAME_LEN),
            failed: false,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.failed {
            return Err(FrameError::Poisoned);
        }
        let result = self.try_next();
        if result.is_err() {
            self.failed = true;
            self.buf = Vec::new();
        }
        result
    }

    fn try_next(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes(arr4(&self.buf[..4]));
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        if len == 0 {
            return Err(FrameError::Empty);
        }
        let end = 4 + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let frame = Frame::decode(&self.buf[4..end])?;
        self.buf.drain(..end);
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Frame> {
        let mut b = BucketHashes::empty();
        b.0[7] = [9; 16];
        vec![
            Frame::Hello {
                version: 1,
                root: [3; 32],
                doc_count: 85_000,
            },
            Frame::Buckets(b),
            Frame::DocList {
                last: true,
                entries: vec![(DocId([1; 16]), [2; 16]), (DocId([4; 16]), [5; 16])],
            },
            Frame::DocList {
                last: false,
                entries: vec![],
            },
            Frame::Sync {
                doc: DocId([8; 16]),
                message: vec![0x43, 1, 2, 3],
            },
            Frame::Idle {
                sent: 3,
                received: 4,
            },
            Frame::Close {
                code: 3,
                reason: "untrusted device".into(),
            },
            Frame::Skip {
                doc: DocId([6; 16]),
                reason: "cannot apply".into(),
            },
            Frame::Docs {
                docs: vec![
                    (DocId([1; 16]), vec![0x85, 1, 2]),
                    (DocId([2; 16]), vec![7]),
                    (DocId([3; 16]), vec![9; 300]),
                ],
            },
        ]
    }

    #[test]
    fn docs_frames_with_lying_counts_or_lengths_are_rejected() {
        let ok = Frame::Docs {
            docs: vec![(DocId([1; 16]), vec![1, 2, 3])],
        }
        .encode();
        // type, count, id, one varint byte, three document bytes
        assert_eq!(ok.len(), 4 + 1 + 4 + 16 + 1 + 3);
        let payload = &ok[4..];
        assert!(Frame::decode(payload).is_ok());
        let bad = |p: &[u8], reason: &'static str| {
            assert_eq!(
                Frame::decode(p),
                Err(FrameError::Malformed {
                    kind: FrameType::Docs,
                    reason
                }),
                "{p:?}"
            );
        };
        // A count of 4 billion with a tiny body: refused before anything is allocated.
        let mut p = payload.to_vec();
        p[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        bad(&p, "entry count exceeds what the body can hold");
        // Zero documents.
        bad(
            &[0x08, 0, 0, 0, 0],
            "a Docs frame carries at least one document",
        );
        // A length beyond the body.
        let mut p = payload.to_vec();
        p[21] = 100;
        bad(&p, "document length exceeds the body");
        // A zero-length document.
        let mut p = payload.to_vec();
        p[21] = 0;
        p.truncate(22);
        p.extend_from_slice(&[0; 20]);
        bad(&p, "a document of zero bytes");
        // Trailing bytes.
        let mut p = payload.to_vec();
        p.push(9);
        bad(&p, "bytes after the last document");
        // Two entries announced, one present (plus enough bytes to pass the count check).
        let mut p = payload.to_vec();
        p[1..5].copy_from_slice(&2u32.to_be_bytes());
        p.extend_from_slice(&[0; 16]);
        bad(&p, "entry header cut short");
        bad(&[0x08, 0, 0], "body shorter than its 4-byte count");
        // A length that is not a minimal varint of at most 4 bytes.
        let mut p = vec![0x08, 0, 0, 0, 1];
        p.extend_from_slice(&[1; 16]);
        p.extend_from_slice(&[0x83, 0x00, 1, 2, 3]);
        bad(&p, "document length is not a varint");
        let mut p = vec![0x08, 0, 0, 0, 1];
        p.extend_from_slice(&[1; 16]);
        p.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x01, 1, 2, 3]);
        bad(&p, "document length is not a varint");
    }

    #[test]
    fn varints_round_trip_at_their_boundaries() {
        for n in [
            1usize,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            16 << 20,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            assert_eq!(out.len(), varint_len(n), "{n}");
            assert_eq!(get_varint(&out), Some((n, out.len())), "{n}");
        }
    }

    #[test]
    fn buckets_travel_sparse_when_that_is_shorter() {
        // An empty vault: 38 bytes on the wire instead of 4,101.
        let empty = Frame::Buckets(BucketHashes::empty());
        assert_eq!(empty.encoded_len(), 4 + 1 + 1 + 32);
        // One document: its bucket's hash only.
        let mut one = BucketHashes::empty();
        one.0[200] = [7; 16];
        let f = Frame::Buckets(one.clone());
        assert_eq!(f.encoded_len(), 4 + 1 + 1 + 32 + 16);
        assert_eq!(Frame::decode(&f.encode()[4..]), Ok(f));
        // Every bucket in use: the dense form, one byte more than the 256 hashes.
        let mut full = BucketHashes::empty();
        for (i, h) in full.0.iter_mut().enumerate() {
            *h = [i as u8 | 1; 16];
        }
        let f = Frame::Buckets(full);
        assert_eq!(f.encoded_len(), 4 + 1 + 1 + 4096);
        assert_eq!(Frame::decode(&f.encode()[4..]), Ok(f));
        let bad = |p: &[u8], reason: &'static str| {
            assert_eq!(
                Frame::decode(p),
                Err(FrameError::Malformed {
                    kind: FrameType::Buckets,
                    reason
                }),
                "{p:?}"
            );
        };
        // A bitmap announcing one hash, with none present.
        let mut p = vec![0x02, 1];
        p.extend_from_slice(&[0; 32]);
        p[2] = 0x80;
        bad(&p, "sparse body length does not match its bitmap");
        // A listed hash of zero (the sparse form never lists one).
        p.extend_from_slice(&[0; 16]);
        bad(&p, "a listed bucket hash is zero");
        bad(&[0x02, 1, 0], "sparse body shorter than its bitmap");
        bad(&[0x02, 0, 0], "dense body must be 1 + 4096 bytes");
        bad(&[0x02], "empty body");
    }

    #[test]
    fn round_trip_every_frame_type_byte_by_byte() {
        let mut dec = FrameDecoder::new();
        for f in samples() {
            let bytes = f.encode();
            assert_eq!(bytes.len(), f.encoded_len());
            for b in &bytes {
                assert_eq!(dec.next_frame().unwrap(), None);
                dec.push(&[*b]);
            }
            assert_eq!(dec.next_frame().unwrap(), Some(f));
            assert_eq!(dec.buffered(), 0);
        }
    }

    #[test]
    fn several_frames_in_one_push() {
        let mut dec = FrameDecoder::new();
        let all: Vec<u8> = samples().iter().flat_map(|f| f.encode()).collect();
        dec.push(&all);
        let mut got = vec![];
        while let Some(f) = dec.next_frame().unwrap() {
            got.push(f);
        }
        assert_eq!(got, samples());
    }

    #[test]
    fn oversized_length_is_rejected_before_the_body_arrives() {
        let mut dec = FrameDecoder::new();
        dec.push(&(MAX_FRAME_LEN + 1).to_be_bytes());
        assert_eq!(
            dec.next_frame(),
            Err(FrameError::TooLarge {
                len: MAX_FRAME_LEN + 1,
                max: MAX_FRAME_LEN
            })
        );
        assert_eq!(dec.next_frame(), Err(FrameError::Poisoned));
        let mut dec = FrameDecoder::new();
        dec.push(&u32::MAX.to_be_bytes());
        assert!(matches!(dec.next_frame(), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn malformed_frames_table() {
        use FrameType::*;
        let cases: Vec<(Vec<u8>, FrameError)> = vec![
            (vec![], FrameError::Empty),
            (vec![0x00], FrameError::UnknownType(0)),
            (vec![0x7f, 1, 2], FrameError::UnknownType(0x7f)),
            (
                vec![0x01, 1, 2],
                FrameError::Malformed {
                    kind: Hello,
                    reason: "body must be 41 bytes",
                },
            ),
            (
                vec![0x02; 100],
                FrameError::Malformed {
                    kind: Buckets,
                    reason: "form must be 0 (dense) or 1 (sparse)",
                },
            ),
            (
                vec![0x03, 1, 0, 0],
                FrameError::Malformed {
                    kind: DocList,
                    reason: "body shorter than its 5-byte header",
                },
            ),
            (
                vec![0x03, 2, 0, 0, 0, 0],
                FrameError::Malformed {
                    kind: DocList,
                    reason: "last flag must be 0 or 1",
                },
            ),
            (
                // claims 2^32-1 entries but carries none: no allocation, just an error
                vec![0x03, 1, 0xff, 0xff, 0xff, 0xff],
                FrameError::Malformed {
                    kind: DocList,
                    reason: "entry count does not match the body length",
                },
            ),
            (
                vec![0x04, 1, 2, 3],
                FrameError::Malformed {
                    kind: Sync,
                    reason: "body shorter than a document id",
                },
            ),
            (
                vec![0x05, 0, 0],
                FrameError::Malformed {
                    kind: Idle,
                    reason: "body must be 16 bytes",
                },
            ),
            (
                vec![0x06, 0, 1, 0xff, 0xfe],
                FrameError::Malformed {
                    kind: Close,
                    reason: "reason is not UTF-8",
                },
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(Frame::decode(&payload), Err(want.clone()), "{payload:?}");
            let mut dec = FrameDecoder::new();
            let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(&payload);
            dec.push(&bytes);
            assert_eq!(dec.next_frame(), Err(want), "{payload:?} via decoder");
        }
    }

    #[test]
    fn smaller_cap_is_honoured() {
        let mut dec = FrameDecoder::with_max(10);
        dec.push(
            &Frame::Idle {
                sent: 0,
                received: 0,
            }
            .encode(),
        );
        assert_eq!(
            dec.next_frame(),
            Err(FrameError::TooLarge { len: 17, max: 10 })
        );
    }
}
