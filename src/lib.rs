//! kith: a local-first personal relationship manager.
//!
//! The library behind the `kith` binary: the redb vault (`store`), the use cases (`app`), the
//! `$EDITOR` buffer format (`editbuf`) and the command line (`cli`). The domain model and
//! everything without I/O live in the `kith-core` crate.

pub mod app;
pub mod atomic;
pub mod cli;
pub mod config;
pub mod editbuf;
pub mod keep;
pub mod net;
/// The vault lives in its own crate (no network, no async); re-exported so `crate::store::...`
/// and `kith::store::...` paths keep working.
pub use kith_store as store;
pub mod web;
