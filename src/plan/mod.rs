//! The planner: desired graph + state + what Tars reports + local files → [`Plan`].
//!
//! Pure, synchronous and deterministic: no tokio, reqwest or filesystem; the same input
//! gives a byte-identical plan. It decides everything apply needs (names, file contents,
//! digests, registration method, order); the executor obeys. Saved plan files and their
//! freshness check live in [`saved`].

mod digest;
mod endpoint;
mod errors;
mod local;
mod model;
mod observed;
pub mod paths;
mod planner;
pub mod saved;
mod simulate;
mod targets;

use crate::state::{ResourceState, ResourceStatus, State};
pub use digest::{pem_sha256, sha256_hex};
pub use endpoint::Endpoint;
pub use errors::PlanError;
pub use local::{LocalCa, LocalCert, LocalFiles, LocalPackage};
pub use model::*;
pub use observed::{Observed, ObservedAdapter, ObservedConfig, ObservedNode, ObservedServer};
pub use planner::{
    AdapterCheck, PINNED_PREFIX, RESTART_REQUESTED, TRANSIENT_ATTRS, check_adapter, pinned_identity,
    redact_cipher_key, restore_cipher_key, servant_name,
};
pub use simulate::state_after;

use crate::addr::Target;
use crate::config::Topology;
use crate::graph::ResourceGraph;

/// Everything the planner reads.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub topology: &'a Topology,
    /// `graph::desired(topology)`.
    pub graph: &'a ResourceGraph,
    /// `None` when no state file exists yet.
    pub state: Option<&'a State>,
    /// `None` without refresh.
    pub observed: Option<&'a Observed>,
    pub local: &'a LocalFiles,
    pub options: &'a PlanOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Restrict the plan to these addresses, what extends them and their dependencies.
    pub targets: Vec<Target>,
    /// Plan the deletion of everything in the state.
    pub destroy: bool,
    /// Root of the generated files, as given on the command line.
    pub generated_root: String,
    /// Allow a running service to switch between RSA and SM certificates.
    pub switch_crypto: bool,
    /// `tarsform restart`: restart every started node in scope, one at a time per server.
    pub restart: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            targets: Vec::new(),
            destroy: false,
            generated_root: "generated".into(),
            switch_crypto: false,
            restart: false,
        }
    }
}

/// Plans the changes that bring Tars and the local files to the desired topology.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    planner::run(input)
}

/// Digest of the topology as planned (the token is never part of it).
pub fn topology_digest(topology: &Topology) -> String {
    digest::json_sha256(topology)
}

/// Digest of the local inputs (CA, certificates, key digests, config copies, packages).
pub fn inputs_digest(local: &LocalFiles) -> String {
    digest::json_sha256(local)
}
