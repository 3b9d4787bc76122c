//! State (DESIGN.md §5): the pure model, the locked store with atomic writes, and the
//! apply journal.
//!
//! `model` is pure; `store` and the I/O half of `journal` touch the file system.

pub mod model;

pub use model::{ResourceState, ResourceStatus, State};
