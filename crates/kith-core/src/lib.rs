//! kith-core: the domain model, Automerge schema, index derivation and queries of kith.
//!
//! Invariant: this crate does no I/O. No filesystem, network, clock or randomness: callers pass
//! the current time and random bytes in. Its Cargo.toml (no tokio, iroh, redb or clap) is the proof.

pub mod id;
pub mod sync;

pub use id::DocId;
