//! State (DESIGN.md §5): the pure model, the locked store with atomic writes, and the
//! apply journal.
//!
//! `model` is pure; `store` and the I/O half of `journal` touch the file system.

mod crash_point;
mod errored_dump;
pub mod journal;
pub mod model;
pub mod sidecar;
pub mod store;

pub use journal::{Journal, JournalEntry, JournalFile, StepHistory, StepPhase};
pub use model::{IdentityError, ResourceState, ResourceStatus, State};
pub use sidecar::Sidecar;
pub use store::{LockInfo, StateError, StateStore, default_state_path, force_unlock, read_state};
