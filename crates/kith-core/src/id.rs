//! Document identifiers: random 128-bit ids, shown as 32 lowercase hex digits.
//!
//! Invariant: an id is chosen once, when its document is created, and never changes; the
//! core never generates randomness itself, so callers pass the 16 random bytes in.

use std::fmt;
use std::str::FromStr;

/// The id of one Automerge document in the vault.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocId(pub [u8; 16]);

impl DocId {
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        DocId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The full 32-digit lowercase hex form.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        push_hex(&mut s, &self.0);
        s
    }

    /// The short form shown in listings (first 8 hex digits).
    pub fn short(&self) -> String {
        let mut s = String::with_capacity(8);
        push_hex(&mut s, &self.0[..4]);
        s
    }
}

/// The hasher of maps and sets keyed by document ids (`HashMap<DocId, _, IdHasher>`): ids are
/// uniformly random, so a multiply-rotate fold of their bytes (FxHash's) spreads them as well as
/// SipHash at a fraction of its cost. Not resistant to chosen keys, which only a trusted device
/// of the same user could send (and which would only slow one map down).
pub type IdHasher = std::hash::BuildHasherDefault<IdHash>;

/// The state of [`IdHasher`].
#[derive(Default, Clone, Copy)]
pub struct IdHash(u64);

impl std::hash::Hasher for IdHash {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0x0f)] as char);
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", self.to_hex())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a document id (expected 32 hex digits)")]
pub struct ParseIdError(pub String);

impl FromStr for DocId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseIdError(s.to_string()));
        }
        let mut out = [0u8; 16];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(chunk).map_err(|_| ParseIdError(s.to_string()))?;
            out[i] = u8::from_str_radix(hex, 16).map_err(|_| ParseIdError(s.to_string()))?;
        }
        Ok(DocId(out))
    }
}

impl serde::Serialize for DocId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for DocId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether `prefix` (already lowercased) could name an id: 1 to 32 hex digits.
pub fn is_hex_prefix(prefix: &str) -> bool {
    !prefix.is_empty() && prefix.len() <= 32 && prefix.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = DocId([0xab; 16]);
        assert_eq!(id.to_hex(), "ab".repeat(16));
        assert_eq!(id.to_hex().parse::<DocId>().unwrap(), id);
        assert_eq!(id.short(), "abababab");
    }

    #[test]
    fn rejects_bad_ids() {
        assert!("xyz".parse::<DocId>().is_err());
        assert!("ab".repeat(15).parse::<DocId>().is_err());
        assert!(format!("{}zz", "ab".repeat(15)).parse::<DocId>().is_err());
    }
}
