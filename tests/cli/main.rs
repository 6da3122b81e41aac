//! The integration tests: end-to-end tests of the `kith` binary (wiring, output, JSON, exit
//! codes), interop, and store-level tests on real vault files.
//!
//! One test binary (so the package is linked once; `layout` fails when a file here is not
//! declared below); every CLI test builds its own `TestEnv` with a temporary home, a cleared
//! environment and a pinned clock (2026-11-22T10:00:00Z).

mod app8;
mod appdev;
mod cliconv;
mod concurrency;
mod contacts;
mod devices;
mod edit;
mod env;
mod errors;
mod fast7;
mod finish7;
mod import;
mod interop;
mod intro;
mod io6;
mod io9;
mod ioperf;
mod items;
mod keep;
mod keep11;
mod keep5;
mod keepperf;
mod layout;
mod live7;
mod maps;
mod net;
mod purge;
mod recv7;
mod refs;
mod rough;
mod share;
mod share2;
mod share5;
mod share6;
mod storage;
mod store;
mod store_maps;
mod sync;
mod sync5;
mod sync6;
mod sync7;
mod sync9;
mod web;
mod web12;
mod web5;
mod web6;
mod web6_browser;
mod web_browser;
mod webui;
mod webui_browser;
