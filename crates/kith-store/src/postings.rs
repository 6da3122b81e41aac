//! The posting-list codec: per term, (ord, weight) pairs sorted by ord.
//!
//! Invariant: `decode_postings(encode_postings(l)) == l` for every sorted list; decoding
//! never panics on damaged bytes.

use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// Posting lists: per term, (ord, weight) pairs sorted by ord, as varint(ord delta) + weight byte.

pub fn encode_postings(list: &[(u32, u8)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(list.len() * 3);
    let mut prev = 0u32;
    for &(ord, w) in list {
        let mut d = ord - prev;
        prev = ord;
        loop {
            let b = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.push(w);
    }
    out
}

pub fn decode_postings(bytes: &[u8]) -> Vec<(u32, u8)> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut prev = 0u32;
    while i < bytes.len() {
        let mut d = 0u32;
        let mut shift = 0;
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            d |= u32::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 || shift > 28 {
                break;
            }
        }
        if i >= bytes.len() {
            break;
        }
        prev = prev.wrapping_add(d);
        out.push((prev, bytes[i]));
        i += 1;
    }
    out
}

/// Applies sorted changes to a sorted posting list.
pub(crate) fn merge_postings(
    list: Vec<(u32, u8)>,
    changes: &BTreeMap<u32, Option<u8>>,
) -> Vec<(u32, u8)> {
    let mut out = Vec::with_capacity(list.len() + changes.len());
    let mut ch = changes.iter().peekable();
    for (ord, w) in list {
        while let Some((&c, _)) = ch.peek() {
            if c >= ord {
                break;
            }
            let (&c, v) = ch.next().expect("peeked");
            if let Some(v) = v {
                out.push((c, *v));
            }
        }
        match ch.peek() {
            Some((&c, v)) if c == ord => {
                if let Some(v) = v {
                    out.push((c, *v));
                }
                ch.next();
            }
            _ => out.push((ord, w)),
        }
    }
    for (&c, v) in ch {
        if let Some(v) = v {
            out.push((c, *v));
        }
    }
    out
}
