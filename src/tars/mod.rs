//! The Tars side: the [`TarsApi`] trait, its HTTP client, DTOs, errors and task waiting.
//!
//! I/O module (reqwest + tokio). Nothing here decides what to change in Tars: callers
//! (apply, refresh, status) do. Facts about the API are in `reference/tarsweb-api.md`.

mod adapter;
mod api;
pub mod batch;
pub mod board;
pub mod budget;
mod client;
mod coalesce;
mod de;
mod dto;
mod envelope;
mod error;
mod http;
mod task;
mod untrusted;
pub mod wait;

pub use adapter::AdapterConf;
pub use api::TarsApi;
pub use budget::RateBudget;
pub use client::HttpTarsClient;
pub use dto::{
    Adapter, AppCreated, ConfigFile, DeployRequest, ExpandPreviewItem, ExpandPreviewRequest, ExpandRequest,
    ExpandServer, Patch, ServerConf, TarsNodeInfo,
};
pub use error::{BODY_EXCERPT_CHARS, CallFailure, TOKEN_HINT, TarsError};
pub use http::{ClientConfig, MAX_BODY_BYTES, POOL_IDLE_TIMEOUT};
pub use task::{
    Numbering, Task, TaskCommand, TaskItem, TaskItemRequest, TaskRequest, TaskState, is_transient_failure,
};
pub use untrusted::{MESSAGE_MAX_CHARS, escape_unsafe, redact_private_keys};
pub use wait::{
    HealthGate, NotRunning, PollSchedule, TaskReport, describe_row, run_task, wait_running,
    wait_running_replacing,
};

/// A fresh id for `upload_patch_package`'s `task_id` (BcosBuilder uses a UUID v4).
pub fn new_upload_task_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
