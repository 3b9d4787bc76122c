//! Protection: nodes tarsform imported (BcosBuilder's) are not destroyed by a plan unless
//! they are targeted explicitly or their service sets `prevent_destroy = false`; a
//! service with `prevent_destroy = true` protects every node.

use super::*;

pub(super) fn check(
    input: &PlanInput<'_>,
    changes: &BTreeMap<Address, ResourceChange>,
) -> Result<(), PlanError> {
    let protected: Vec<String> = changes
        .values()
        .filter(|c| c.address.kind() == ResourceKind::Node && c.action == Action::Delete)
        .filter(|c| !targeted(input, &c.address))
        .filter(|c| {
            let imported = c
                .before
                .as_ref()
                .and_then(|b| b.get("imported"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            match setting(input.topology, &c.address) {
                Some(flag) => flag,
                None => imported,
            }
        })
        .map(|c| c.address.to_string())
        .collect();
    if protected.is_empty() {
        Ok(())
    } else {
        Err(PlanError::ProtectedNodes { nodes: protected })
    }
}

/// Whether a `--target` names the node or its server.
fn targeted(input: &PlanInput<'_>, node: &Address) -> bool {
    let server = node.server_name().map(Address::server);
    input
        .options
        .targets
        .iter()
        .any(|t| t.matches(node) || server.as_ref().is_some_and(|s| t.matches(s)))
}

/// `prevent_destroy` of the node's service, when the topology still declares it.
fn setting(topology: &Topology, node: &Address) -> Option<bool> {
    let server = node.server_name()?;
    topology
        .service_of(server)
        .and_then(|s| s.service.prevent_destroy)
}
