//! tarsform: a declarative plan/apply engine for FISCO BCOS Pro RPC and Gateway
//! services on the Tars framework. See `docs/architecture.md`.
//!
//! Pure core: `config`, `addr`, `graph`, `render`, `pki`, `plan`, `view`, `state::model`.
//! I/O shell: `state::store`, `tars`, `emulator`, `apply`, `cli`.

pub mod addr;
pub mod apply;
pub mod cli;
pub mod compact;
pub mod config;
pub mod emulator;
pub mod graph;
pub mod keycenter;
pub mod pki;
pub mod plan;
pub mod policy;
pub mod render;
pub mod secret;
pub mod state;
pub mod tars;
pub mod view;
pub mod workspace;
