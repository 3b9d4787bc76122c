//! The desired resource graph: every resource a topology asks for, and what depends on what.
//!
//! Owns [`desired`] (Topology → [`ResourceGraph`]), the graph checks (dangling edges, cycles)
//! and a deterministic dependency order. Pure: no I/O, no tokio, no filesystem.
//! Rendering the graph as DOT or Mermaid lives in `view::graph`.

mod build;
mod resource_graph;

pub use build::desired;
pub(crate) use build::kind_of_server;
pub use resource_graph::ResourceGraph;

use crate::addr::Address;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("resource graph: `{from}` depends on `{to}`, which is not in the graph")]
    Dangling { from: Address, to: Address },
    #[error("resource graph: dependency cycle through {}", join(.cycle))]
    Cycle { cycle: Vec<Address> },
    #[error(
        "resource graph: `{address}` is declared twice\nhint: check the topology for duplicate agency names or deploy IPs"
    )]
    Duplicate { address: Address },
}

fn join(addresses: &[Address]) -> String {
    addresses
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(" → ")
}

#[cfg(test)]
pub(crate) mod tests_support;
