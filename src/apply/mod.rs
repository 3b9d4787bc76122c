//! Apply: expands a plan into steps (each with an inverse), runs them as a DAG with
//! bounded parallelism, journals every step, saves state after each one and rolls
//! back on failure. See DESIGN.md §4.

pub mod engine;
pub mod fetched_keys;
pub mod health;
pub mod json_events;
pub mod key_pool;
pub mod local_ops;
pub mod package_fetch;
pub mod progress;
pub mod recover;
pub mod refresh;
pub mod runner;
pub mod state_check;
pub mod steps;
pub mod tars_ops;
pub mod undo;
pub mod verify;
