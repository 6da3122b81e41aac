//! kith: a local-first personal relationship manager.
//!
//! The library behind the `kith` binary: the redb vault (`store`), the use cases (`app`), the
//! `$EDITOR` buffer format (`editbuf`) and the command line (`cli`). The domain model and
//! everything without I/O live in the `kith-core` crate.

pub mod app;
pub mod cli;
pub mod editbuf;
pub mod interop;
pub mod net;
pub mod store;
pub mod web;
