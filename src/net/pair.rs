//! Pairing a new device: a one-time ticket and the `kith/pair/1` protocol.
//!
//! Ticket: `kith1` + base32 (RFC 4648, lowercase, no padding) of the postcard encoding of
//! [`Ticket`]: the inviting device's id and direct addresses, a random 16-byte secret, and an
//! expiry time (10 minutes). The joiner connects with ALPN `kith/pair/1`, opens one stream and
//! sends one [`JoinRequest`] frame (u32 big-endian length, at most [`MAX_PAIR_FRAME`] bytes, then
//! postcard); the inviter answers with one [`JoinReply`] frame. On success each side records the
//! other in its membership document; then the joiner syncs over `kith/sync/1`.
//!
//! Invariants: the secret is compared in constant time; a ticket is accepted once and only
//! before it expires; a wrong secret, reuse or expiry is refused with a reason and records
//! nothing.

use std::net::SocketAddr;

use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh::{EndpointAddr, EndpointId};
use serde::{Deserialize, Serialize};

use super::NetError;

pub const ALPN: &[u8] = b"kith/pair/1";
pub const TICKET_PREFIX: &str = "kith1";
pub const TICKET_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// Largest pairing frame accepted from a peer.
pub const MAX_PAIR_FRAME: u32 = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub version: u8,
    pub device: [u8; 32],
    pub addrs: Vec<SocketAddr>,
    pub secret: [u8; 16],
    /// Milliseconds since the epoch.
    pub expires: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JoinRequest {
    pub secret: [u8; 16],
    pub name: String,
    pub addrs: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JoinReply {
    pub ok: bool,
    pub reason: String,
    pub name: String,
}

const B32: data_encoding::Encoding = data_encoding::BASE32_NOPAD;

impl Ticket {
    pub fn encode(&self) -> String {
        let bytes = postcard::to_stdvec(self).expect("plain struct");
        format!("{TICKET_PREFIX}{}", B32.encode(&bytes).to_lowercase())
    }

    /// Parses a ticket; `now` is used to refuse an expired one.
    pub fn decode(s: &str, now: i64) -> Result<Ticket, NetError> {
        let s = s.trim();
        let hint = "copy the whole line that `kith device invite` printed on the other device";
        let Some(body) = s.strip_prefix(TICKET_PREFIX) else {
            return Err(NetError::ticket(
                "this is not a kith pairing ticket (it should start with kith1)",
                hint,
            ));
        };
        let bytes = B32
            .decode(body.to_uppercase().as_bytes())
            .map_err(|_| NetError::ticket("damaged or incomplete ticket", hint))?;
        let t: Ticket = postcard::from_bytes(&bytes)
            .map_err(|_| NetError::ticket("damaged or incomplete ticket", hint))?;
        if t.version != 1 {
            return Err(NetError::ticket(
                format!(
                    "the pairing ticket has version {}, this kith reads version 1",
                    t.version
                ),
                "use the same kith version on both devices",
            ));
        }
        if EndpointId::from_bytes(&t.device).is_err() {
            return Err(NetError::ticket(
                "the pairing ticket names an invalid device id",
                hint,
            ));
        }
        if now > t.expires {
            return Err(NetError::ticket(
                format!(
                    "the pairing ticket expired at {}",
                    kith_core::time::format_unix_ms_utc(t.expires)
                ),
                "run `kith device invite` again on the other device for a new ticket",
            ));
        }
        Ok(t)
    }

    pub fn addr(&self) -> EndpointAddr {
        let id = EndpointId::from_bytes(&self.device).expect("checked in decode");
        let mut a = EndpointAddr::new(id);
        for sa in &self.addrs {
            a = a.with_ip_addr(*sa);
        }
        a
    }
}

/// Constant-time comparison of two secrets.
pub fn secret_eq(a: &[u8; 16], b: &[u8; 16]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

pub async fn write_frame<T: Serialize>(send: &mut SendStream, v: &T) -> Result<(), String> {
    let body = postcard::to_stdvec(v).map_err(|e| e.to_string())?;
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    send.write_all(&out).await.map_err(|e| e.to_string())
}

/// Reads one length-prefixed frame; the length is checked against the cap before reading.
pub async fn read_frame<T: for<'a> Deserialize<'a>>(recv: &mut RecvStream) -> Result<T, String> {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len)
        .await
        .map_err(|e| format!("reading a frame: {e}"))?;
    let len = u32::from_be_bytes(len);
    if len == 0 || len > MAX_PAIR_FRAME {
        return Err(format!(
            "frame of {len} bytes is outside 1..={MAX_PAIR_FRAME}"
        ));
    }
    let mut body = vec![0u8; len as usize];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| format!("reading a frame: {e}"))?;
    postcard::from_bytes(&body).map_err(|_| "malformed pairing frame".to_string())
}

/// Joiner side: asks the inviter to admit this device. Returns the inviter's name.
pub async fn request_join(conn: &Connection, req: &JoinRequest) -> Result<String, NetError> {
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| NetError::pairing(format!("pairing failed: {e}"), None))?;
    write_frame(&mut send, req)
        .await
        .map_err(|e| NetError::pairing(format!("pairing failed: {e}"), None))?;
    let _ = send.finish();
    let reply: JoinReply = read_frame(&mut recv).await.map_err(|e| {
        NetError::pairing(
            format!("pairing failed: {e}"),
            Some("the ticket may be used or expired; run `kith device invite` again"),
        )
    })?;
    if reply.ok {
        Ok(reply.name)
    } else {
        Err(NetError::pairing(
            format!("the other device refused to pair: {}", reply.reason),
            Some("run `kith device invite` again on the other device for a new ticket"),
        ))
    }
}
