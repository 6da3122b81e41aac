//! End-to-end tests of the `kith` binary: wiring, output, JSON and exit codes.
//!
//! One test binary (so the package is linked once); every test builds its own `TestEnv` with a
//! temporary home, a cleared environment and a pinned clock (2026-11-22T10:00:00Z).

mod concurrency;
mod contacts;
mod edit;
mod env;
mod errors;
mod finish7;
mod import;
mod items;
mod maps;
mod net;
mod purge;
mod refs;
mod rough;
mod storage;
mod sync;
