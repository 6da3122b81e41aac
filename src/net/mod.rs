//! The network: this device's iroh identity and endpoint, the sync driver, pairing, and the
//! daemon's push loop. The protocol logic lives in `kith_core::sync`; this module only moves its
//! frames over iroh streams and its effects into the vault.
//!
//! Invariants:
//! - A connection's peer is checked against the membership document before any protocol byte
//!   is read or written: an unknown or removed device gets a close code and nothing else.
//! - Nothing here trusts a length a peer sent: every frame goes through a capped decoder.
//! - Commands that do not need the network never bind an endpoint (only `device`, `sync`,
//!   `daemon` and `status` call into this module, and `status` never binds).

mod error;
pub mod intro;
pub mod pair;
pub mod session;
pub mod share;
pub mod slices;

pub use error::NetError;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iroh::endpoint::{presets, Connection, RelayMode};
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayUrl, SecretKey};
use kith_core::devices::{self, Trust, DEVICES_DOC};
use kith_core::sync::CloseCode;

use crate::store::Vault;

/// How the endpoint reaches other devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relay {
    /// n0's public relays and DNS discovery.
    Default,
    /// No relay and no public discovery: direct addresses (and mDNS on the LAN) only.
    Off,
    /// A self-hosted iroh relay.
    Custom(String),
}

/// Network settings: defaults, then `<home>/kith.conf`, then `config.toml`, then `KITH_*`
/// variables, then flags.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub relay: Relay,
    pub mdns: bool,
    pub bind: Option<SocketAddr>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            relay: Relay::Default,
            mdns: true,
            bind: None,
        }
    }
}

fn parse_relay(v: &str) -> Result<Relay, NetError> {
    match v.trim() {
        "off" | "none" | "false" | "0" => Ok(Relay::Off),
        "default" | "on" | "n0" | "true" | "1" => Ok(Relay::Default),
        url if url.starts_with("https://") || url.starts_with("http://") => {
            url.parse::<RelayUrl>()
                .map_err(|e| NetError::setting(format!("'{url}' is not a relay URL: {e}"), None))?;
            Ok(Relay::Custom(url.to_string()))
        }
        other => Err(NetError::setting(
            format!("'{other}' is not a relay setting"),
            Some("use off, default, or the https:// URL of your iroh relay"),
        )),
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, NetError> {
    match v.trim() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        other => Err(NetError::setting(
            format!("{key}: '{other}' is not on or off"),
            None,
        )),
    }
}

fn parse_bind(v: &str) -> Result<SocketAddr, NetError> {
    v.trim().parse().map_err(|_| {
        NetError::setting(
            format!("'{v}' is not an address to listen on"),
            Some("use IP:PORT, e.g. 127.0.0.1:7400"),
        )
    })
}

impl NetConfig {
    /// Resolves the settings. Flags are `Some` when given on the command line.
    pub fn resolve(
        home: &Path,
        relay: Option<&str>,
        mdns: Option<&str>,
        bind: Option<&str>,
    ) -> Result<NetConfig, NetError> {
        let mut cfg = NetConfig::default();
        let conf = home.join("kith.conf");
        if let Ok(text) = std::fs::read_to_string(&conf) {
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((k, v)) = line.split_once('=') else {
                    return Err(NetError::setting(
                        format!("{}:{}: expected 'key = value'", conf.display(), n + 1),
                        None,
                    ));
                };
                let at = |e: NetError| {
                    NetError::setting(format!("{}:{}: {e}", conf.display(), n + 1), None)
                };
                match k.trim() {
                    "relay" => cfg.relay = parse_relay(v).map_err(at)?,
                    "mdns" => cfg.mdns = parse_bool("mdns", v).map_err(at)?,
                    "bind" => cfg.bind = Some(parse_bind(v).map_err(at)?),
                    other => {
                        return Err(NetError::setting(
                            format!("{}:{}: unknown setting '{other}'", conf.display(), n + 1),
                            Some("settings: relay, mdns, bind"),
                        ))
                    }
                }
            }
        }
        // The user's config.toml (crate::config) comes after the older per-home kith.conf.
        if let Some(c) = crate::config::current() {
            let file = crate::config::path().map(|p| p.0.display().to_string());
            let file = file.unwrap_or_else(|| "config.toml".into());
            let at = |e: NetError| NetError::setting(format!("{file}: {e}"), None);
            if let Some(v) = &c.relay {
                cfg.relay = parse_relay(v).map_err(at)?;
            }
            if let Some(v) = c.mdns {
                cfg.mdns = v;
            }
            if let Some(v) = &c.bind {
                cfg.bind = Some(parse_bind(v).map_err(at)?);
            }
        }
        if let Ok(v) = std::env::var("KITH_RELAY") {
            cfg.relay =
                parse_relay(&v).map_err(|e| NetError::setting(format!("KITH_RELAY: {e}"), None))?;
        }
        if let Ok(v) = std::env::var("KITH_MDNS") {
            cfg.mdns = parse_bool("KITH_MDNS", &v)?;
        }
        if let Ok(v) = std::env::var("KITH_BIND") {
            cfg.bind = Some(
                parse_bind(&v).map_err(|e| NetError::setting(format!("KITH_BIND: {e}"), None))?,
            );
        }
        if let Some(v) = relay {
            cfg.relay = parse_relay(v)?;
        }
        if let Some(v) = mdns {
            cfg.mdns = parse_bool("--mdns", v)?;
        }
        if let Some(v) = bind {
            cfg.bind = Some(parse_bind(v)?);
        }
        Ok(cfg)
    }
}

/// Path of this device's secret key.
pub fn key_path(home: &Path) -> PathBuf {
    home.join("device.key")
}

/// Loads this device's key if it has one (read commands never create it).
pub fn existing_device_key(home: &Path) -> Result<Option<SecretKey>, NetError> {
    let path = key_path(home);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_key(&path, &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::key(
            format!("cannot read {}: {e}", path.display()),
            None,
        )),
    }
}

fn parse_key(path: &Path, text: &str) -> Result<SecretKey, NetError> {
    let hint = format!(
        "restore {} from a backup; or delete it to make this a new device, which must then be paired again (`kith device join`)",
        path.display()
    );
    if text.trim().is_empty() {
        return Err(NetError::key(
            format!(
                "the device key {} is empty (a write was cut short, e.g. by a full disk)",
                path.display()
            ),
            Some(hint),
        ));
    }
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.trim().as_bytes())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            NetError::key(
                format!("{} is damaged: it is not a kith device key", path.display()),
                Some(hint.clone()),
            )
        })?;
    Ok(SecretKey::from_bytes(&bytes))
}

/// Loads this device's iroh secret key, creating it (owner-only permissions, written
/// atomically) on first use.
pub fn device_key(home: &Path) -> Result<SecretKey, NetError> {
    if let Some(k) = existing_device_key(home)? {
        return Ok(k);
    }
    let path = key_path(home);
    std::fs::create_dir_all(home)
        .map_err(|e| NetError::key(format!("cannot create {}: {e}", home.display()), None))?;
    let key = SecretKey::generate();
    let hex = data_encoding::HEXLOWER.encode(&key.to_bytes());
    write_private(&path, hex.as_bytes())
        .map_err(|e| NetError::key(format!("cannot write {}: {e}", path.display()), None))?;
    Ok(key)
}

/// Writes a file atomically with owner-only permissions (`atomic::write_new`): a crash or a
/// full disk leaves the old file or none, never a partial one. Fails if `path` exists (a
/// concurrent first run keeps the key that won).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::atomic::write_new(path, bytes)
}

/// The device id (64 hex digits) of a key.
pub fn id_hex(id: &EndpointId) -> String {
    data_encoding::HEXLOWER.encode(id.as_bytes())
}

pub fn parse_id(s: &str) -> Option<EndpointId> {
    let b = data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.trim().as_bytes())
        .ok()?;
    let b: [u8; 32] = b.try_into().ok()?;
    EndpointId::from_bytes(&b).ok()
}

/// This machine's name, the default name of the device.
pub fn default_device_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "device".to_string())
}

/// The name this device is recorded under, or the host name when it is not recorded yet.
pub fn default_device_name_for(vault: &Vault, me: &EndpointId) -> String {
    vault
        .read()
        .ok()
        .and_then(|r| r.load(DEVICES_DOC).ok().flatten())
        .and_then(|doc| devices::read_devices(&doc).remove(&id_hex(me)))
        .map(|d| d.name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(default_device_name)
}

/// Binds this device's endpoint with the given protocols.
pub async fn bind(
    cfg: &NetConfig,
    key: SecretKey,
    alpns: Vec<Vec<u8>>,
) -> Result<Endpoint, NetError> {
    let mut b = match &cfg.relay {
        Relay::Default => Endpoint::builder(presets::N0),
        Relay::Off => Endpoint::builder(presets::Minimal),
        Relay::Custom(url) => {
            let url: RelayUrl = url
                .parse()
                .map_err(|e| NetError::setting(format!("relay URL: {e}"), None))?;
            Endpoint::builder(presets::N0).relay_mode(RelayMode::custom([url]))
        }
    };
    let mut alpns = alpns;
    if alpns.iter().any(|a| a == kith_core::sync::ALPN) {
        // An older kith (protocol v1 or v2) is answered with a clear refusal, not a failed
        // handshake.
        alpns.extend(kith_core::sync::ALPN_OLD.iter().map(|a| a.to_vec()));
    }
    b = b.secret_key(key).alpns(alpns);
    if let Some(addr) = cfg.bind {
        b = b
            .clear_ip_transports()
            .bind_addr(addr)
            .map_err(|e| NetError::endpoint(format!("cannot listen on {addr}: {e}"), None))?;
    }
    if cfg.mdns {
        b = b.address_lookup(
            iroh_mdns_address_lookup::MdnsAddressLookup::builder().service_name("kith"),
        );
    }
    b.bind().await.map_err(|e| {
        NetError::endpoint(
            format!("cannot start the network endpoint: {e}"),
            Some("check KITH_BIND / --bind (is the port free?)"),
        )
    })
}

/// The addresses this endpoint listens on that another device could dial.
pub fn listen_addrs(ep: &Endpoint) -> BTreeSet<String> {
    ep.bound_sockets()
        .into_iter()
        .filter(|a| !a.ip().is_unspecified())
        .map(|a| a.to_string())
        .collect()
}

/// Records this device in the membership document (and its current listen addresses).
pub fn register_self(
    vault: &Vault,
    me: &EndpointId,
    name: &str,
    addrs: &BTreeSet<String>,
    now: i64,
) -> Result<(), NetError> {
    let me = id_hex(me);
    vault.write(now, |w| {
        let mut l = w.load_or_create(DEVICES_DOC)?;
        devices::add_device(&mut l.doc, &me, name, &me, now).map_err(error::am_err)?;
        let actor = l.doc.get_actor().to_hex_string();
        devices::record_actor(&mut l.doc, &me, &actor).map_err(error::am_err)?;
        if !addrs.is_empty() {
            devices::set_addrs(&mut l.doc, &me, addrs).map_err(error::am_err)?;
        }
        w.save(l)?;
        Ok::<_, NetError>(())
    })
}

/// How the membership document stands on a device id.
pub fn trust(vault: &Vault, peer: &EndpointId) -> Result<Trust, NetError> {
    let r = vault.read()?;
    Ok(match r.load(DEVICES_DOC)? {
        Some(doc) => devices::trust_of(&doc, &id_hex(peer)),
        None => Trust::Unknown,
    })
}

/// The user's other devices that are trusted, with the addresses to try.
pub fn trusted_peers(
    vault: &Vault,
    me: &EndpointId,
) -> Result<Vec<(EndpointAddr, String)>, NetError> {
    let r = vault.read()?;
    let Some(doc) = r.load(DEVICES_DOC)? else {
        return Ok(Vec::new());
    };
    let states = r.peer_states()?;
    let mine = id_hex(me);
    let mut out = Vec::new();
    for (hex, d) in devices::read_devices(&doc) {
        if hex == mine || d.removed {
            continue;
        }
        let Some(id) = parse_id(&hex) else { continue };
        let mut addr = EndpointAddr::new(id);
        let mut seen = BTreeSet::new();
        let last = states
            .get(id.as_bytes())
            .map(|s| s.last_addr.clone())
            .unwrap_or_default();
        for a in d.addrs.iter().chain(std::iter::once(&last)) {
            if let Ok(sa) = a.parse::<SocketAddr>() {
                if seen.insert(sa) {
                    addr = addr.with_ip_addr(sa);
                }
            }
        }
        out.push((addr, d.name));
    }
    Ok(out)
}

/// Whether `alpn` is an older version of the device sync protocol (refused with
/// [`CloseCode::VERSION`] by [`admit`]).
pub fn is_old_sync(alpn: &[u8]) -> bool {
    kith_core::sync::ALPN_OLD.contains(&alpn)
}

/// Accept-side check: refuses an untrusted or removed peer with its close code and no data.
/// Returns true when the connection may proceed.
pub fn admit(vault: &Vault, conn: &Connection) -> bool {
    let peer = conn.remote_id();
    match trust(vault, &peer) {
        Ok(Trust::Trusted) if is_old_sync(conn.alpn()) => {
            let reason = format!(
                "this device speaks kith/sync/3 and the other one {}: upgrade kith on the older device",
                String::from_utf8_lossy(conn.alpn())
            );
            conn.close(u32::from(CloseCode::VERSION.0).into(), reason.as_bytes());
            false
        }
        Ok(Trust::Trusted) => true,
        Ok(Trust::Removed) => {
            conn.close(
                u32::from(CloseCode::REMOVED_DEVICE.0).into(),
                b"this device was removed from the vault",
            );
            false
        }
        Ok(Trust::Unknown) => {
            conn.close(
                u32::from(CloseCode::UNTRUSTED_DEVICE.0).into(),
                b"unknown device: pair it first with kith device invite / join",
            );
            false
        }
        Err(_) => {
            conn.close(u32::from(CloseCode::STORE.0).into(), b"vault unavailable");
            false
        }
    }
}

/// Shared state of a running node (daemon, invite window).
pub struct Node {
    pub vault: Arc<Vault>,
    pub home: PathBuf,
}

/// Milliseconds since the epoch, or the time pinned by `KITH_NOW` (tests).
pub fn now_ms() -> i64 {
    if let Ok(p) = std::env::var("KITH_NOW") {
        if let Ok(ms) = kith_core::time::parse_rfc3339_to_unix_ms(&p) {
            return ms;
        }
    }
    jiff::Timestamp::now().as_millisecond()
}

/// Hands the memory freed since the last call back to the system. glibc's allocator keeps
/// free pages in each thread's arena, and a sender builds frames of whole documents on the
/// blocking pool that its writer task frees on another thread: without this, a sender's
/// resident memory stays at its largest burst. Called after each sending batch.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs a vault call from async code on tokio's blocking pool: the one way async code touches
/// the vault (a redb transaction may wait on another process's write lock, which must not stall
/// a runtime worker).
pub async fn blocking<T: Send + 'static>(
    vault: &Arc<Vault>,
    f: impl FnOnce(&Vault) -> T + Send + 'static,
) -> T {
    let v = vault.clone();
    match tokio::task::spawn_blocking(move || f(&v)).await {
        Ok(t) => t,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only at runtime shutdown, when nobody waits for the result any more.
        Err(e) => panic!("vault task did not run: {e}"),
    }
}
