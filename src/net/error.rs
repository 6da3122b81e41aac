//! The network's own errors, typed by what failed (settings, the device key, the endpoint, a
//! pairing ticket, pairing itself, the vault), so `net` does not borrow the app's
//! user-facing error; `app` converts them (`From<NetError> for AppError`).
//!
//! Invariant: every variant carries a message naming what and where, and a hint where one
//! helps; converting to `AppError` keeps both unchanged.

use crate::app::AppError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A network setting (kith.conf, config.toml, `KITH_RELAY`/`KITH_MDNS`/`KITH_BIND`, a
    /// flag) is not valid.
    #[error("{msg}")]
    Setting { msg: String, hint: Option<String> },
    /// This device's key file cannot be read or written, or is damaged.
    #[error("{msg}")]
    Key { msg: String, hint: Option<String> },
    /// The endpoint cannot be started.
    #[error("{msg}")]
    Endpoint { msg: String, hint: Option<String> },
    /// A pairing ticket that cannot be used.
    #[error("{msg}")]
    Ticket { msg: String, hint: Option<String> },
    /// The pairing exchange failed or was refused.
    #[error("{msg}")]
    Pairing { msg: String, hint: Option<String> },
    /// The vault failed underneath.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NetError {
    pub(crate) fn setting(msg: impl Into<String>, hint: Option<&str>) -> Self {
        NetError::Setting {
            msg: msg.into(),
            hint: hint.map(str::to_string),
        }
    }
    pub(crate) fn key(msg: impl Into<String>, hint: Option<String>) -> Self {
        NetError::Key {
            msg: msg.into(),
            hint,
        }
    }
    pub(crate) fn endpoint(msg: impl Into<String>, hint: Option<&str>) -> Self {
        NetError::Endpoint {
            msg: msg.into(),
            hint: hint.map(str::to_string),
        }
    }
    pub(crate) fn ticket(msg: impl Into<String>, hint: &str) -> Self {
        NetError::Ticket {
            msg: msg.into(),
            hint: Some(hint.to_string()),
        }
    }
    pub(crate) fn pairing(msg: impl Into<String>, hint: Option<&str>) -> Self {
        NetError::Pairing {
            msg: msg.into(),
            hint: hint.map(str::to_string),
        }
    }

    /// The next step for the user, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            NetError::Setting { hint, .. }
            | NetError::Key { hint, .. }
            | NetError::Endpoint { hint, .. }
            | NetError::Ticket { hint, .. }
            | NetError::Pairing { hint, .. } => hint.clone(),
            NetError::Store(e) => e.hint(),
        }
    }
}

/// An Automerge failure while writing the membership document: internal.
pub(crate) fn am_err(e: automerge::AutomergeError) -> NetError {
    NetError::Store(StoreError::Internal(format!("automerge: {e}")))
}

impl From<NetError> for AppError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Store(s) => AppError::Store(s),
            other => AppError::User {
                hint: other.hint(),
                msg: other.to_string(),
            },
        }
    }
}
