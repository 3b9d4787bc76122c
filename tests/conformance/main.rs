//! One conformance suite, two Tars: every scenario is written once against the CLI and
//! the `TarsApi`, and runs against the emulator always and against the real Tars of the
//! realtars kit when `REALTARS_URL` is set (`source $REALTARS_HOME/env`). Real runs are
//! serial (one Tars) and start from `reset.sh`.
//!
//!   cargo test --test conformance                       # emulator only
//!   source .realtars/env && cargo test --test conformance   # both

#[path = "../common/mod.rs"]
#[allow(unused_imports)]
mod common;

mod fixtures;
mod health;
mod recovery;
mod scenarios;
mod target;
mod workspace;
