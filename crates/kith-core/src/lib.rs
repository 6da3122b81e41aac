//! kith-core: the domain model, Automerge schema, index derivation and queries of kith.
//!
//! Invariant: this crate does no I/O. No filesystem, network, clock or randomness: callers pass
//! the current time and random bytes in. Its Cargo.toml (no tokio, iroh, redb or clap) is the proof.

pub mod devices;
pub mod id;
pub mod index;
pub mod interop;
pub mod model;
pub mod share;
pub mod sync;
pub mod text;
pub mod time;
pub mod tombstones;

pub use id::{DocId, IdHasher};
pub use model::Kind;
