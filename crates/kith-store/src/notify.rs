//! Change notification: after every committed write transaction ([`Vault::write`]), the
//! committing process sends one empty datagram to the Unix socket [`SOCKET_FILE`] next to the
//! vault, where this home's `kith daemon` (if one runs) waits for it. The daemon then pushes
//! the change within milliseconds, and an idle daemon has nothing to poll.
//!
//! Invariant: a notification is only a hint, never data, and sending it never fails or blocks
//! a write: no socket (no daemon), a full socket buffer (the daemon is busy and will look at
//! the change counter anyway) or a path too long for a socket address are all ignored, and the
//! commit it follows has already happened. The daemon treats a datagram from anyone as "look
//! at the change counter", so a forged one costs one small read.

use std::path::{Path, PathBuf};

use crate::Vault;

/// The daemon's notification socket, in the directory of the vault.
pub const SOCKET_FILE: &str = "daemon.sock";

/// The notification socket of the vault at `vault_path`.
pub fn socket_path(vault_path: &Path) -> PathBuf {
    vault_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(SOCKET_FILE)
}

/// Tells this home's daemon, if it listens, that a write transaction committed.
pub fn committed(vault_path: &Path) {
    #[cfg(unix)]
    {
        let sock = socket_path(vault_path);
        if let Ok(s) = std::os::unix::net::UnixDatagram::unbound() {
            let _ = s.set_nonblocking(true);
            let _ = s.send_to(&[], &sock);
        }
    }
    #[cfg(not(unix))]
    let _ = vault_path;
}

impl Vault {
    /// The notification socket next to this vault (see [`socket_path`]).
    pub fn notify_socket(&self) -> PathBuf {
        socket_path(self.path())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_commit_pokes_a_listening_socket_and_nothing_else_fails() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault.redb");
        // Nobody listens: nothing happens, nothing fails.
        committed(&vault);
        let s = std::os::unix::net::UnixDatagram::bind(socket_path(&vault)).unwrap();
        s.set_nonblocking(true).unwrap();
        committed(&vault);
        committed(&vault);
        let mut buf = [0u8; 8];
        assert_eq!(s.recv(&mut buf).unwrap(), 0);
        assert_eq!(s.recv(&mut buf).unwrap(), 0);
        assert!(s.recv(&mut buf).is_err(), "exactly one datagram per commit");
    }
}
