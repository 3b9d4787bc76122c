//! The state a plan leads to when applied as planned: `after` of every change, with
//! values known only at apply filled in. For tests, benchmarks and previews; the
//! executor writes real values instead.

use super::{Action, Plan, ResourceState, ResourceStatus, State};
use crate::addr::Address;

/// `prior` updated by every change of `plan`; `fill(address, attribute)` supplies the
/// values the plan marks as known only after apply.
pub fn state_after(
    plan: &Plan,
    prior: Option<&State>,
    fill: impl Fn(&Address, &str) -> serde_json::Value,
) -> State {
    let mut state = prior.cloned().unwrap_or_else(|| State {
        format_version: 1,
        lineage: "00000000-0000-4000-8000-000000000000".into(),
        serial: 0,
        tool_version: plan.tool_version.clone(),
        chain_id: plan.chain_id.clone(),
        resources: Default::default(),
    });
    state.serial = state.serial.saturating_add(1);
    for change in &plan.changes {
        match change.action {
            Action::Delete => {
                state.resources.remove(&change.address);
            }
            Action::Read | Action::NoOp => {}
            _ => {
                let mut attributes = change.after.clone().unwrap_or_default();
                for key in &change.after_unknown {
                    attributes.insert(key.clone(), fill(&change.address, key));
                }
                // State keeps digests, ids and paths, not file contents (DESIGN.md §5).
                attributes.remove("content");
                for key in super::TRANSIENT_ATTRS {
                    attributes.remove(key);
                }
                attributes.remove("register");
                state.resources.insert(
                    change.address.clone(),
                    ResourceState {
                        kind: change.address.kind(),
                        attributes,
                        dependencies: change.depends_on.clone(),
                        status: ResourceStatus::Ready,
                    },
                );
            }
        }
    }
    state
}
