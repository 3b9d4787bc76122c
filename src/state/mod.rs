//! State (DESIGN.md §5): the pure model, the locked store with atomic writes, and the
//! apply journal.
//!
//! `model` is pure; `backend` holds the bytes (a local file or a shared MySQL database);
//! `store` locks and saves through it; `journal` frames the apply journal.

pub mod backend;
mod crash_point;
pub mod custody;
mod errored_dump;
pub mod journal;
pub mod model;
pub mod sidecar;
pub mod store;

pub use backend::{StateBackend, StateLocation};
pub use journal::{Journal, JournalEntry, JournalFile, StepHistory, StepPhase};
pub use model::{IdentityError, ResourceState, ResourceStatus, State};
pub use sidecar::Sidecar;
pub use store::{LockInfo, StateError, StateStore, default_state_path, force_unlock, read_state};
