//! `--target`: which addresses a targeted plan may touch.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, PlanInput, ResourceChange};
use crate::addr::{Address, ResourceKind};

/// `None` without targets. Otherwise the addresses matching a target, the certs and
/// configs of matching nodes, everything those depend on (for creates and updates) and
/// everything that depends on them (for deletes, as in `terraform destroy -target`).
pub(super) fn scope(
    input: &PlanInput<'_>,
    changes: &BTreeMap<Address, ResourceChange>,
) -> Option<BTreeSet<Address>> {
    let targets = &input.options.targets;
    if targets.is_empty() {
        return None;
    }
    let state = input.state.map(|s| &s.resources);
    let universe: BTreeSet<&Address> = input
        .graph
        .addresses()
        .chain(state.into_iter().flat_map(|r| r.keys()))
        .chain(changes.keys())
        .collect();
    let roots: BTreeSet<&Address> = universe
        .iter()
        .copied()
        .filter(|a| targets.iter().any(|t| t.matches(a)))
        .collect();
    let mut stack: Vec<Address> = universe
        .iter()
        .filter(|a| {
            roots.contains(*a)
                || a.owning_node()
                    .is_some_and(|n| roots.contains(&n) && n.kind() == ResourceKind::Node)
        })
        .map(|a| (*a).clone())
        .collect();
    let mut dependents: BTreeMap<&Address, Vec<&Address>> = BTreeMap::new();
    for (a, r) in state.into_iter().flatten() {
        for d in &r.dependencies {
            dependents.entry(d).or_default().push(a);
        }
    }
    let mut seen = BTreeSet::new();
    while let Some(a) = stack.pop() {
        if seen.contains(&a) {
            continue;
        }
        if changes.get(&a).is_some_and(|c| c.action == Action::Delete) {
            stack.extend(dependents.get(&a).into_iter().flatten().map(|d| (*d).clone()));
            // A node going takes its certs and configs with it.
            if a.kind() == ResourceKind::Node {
                stack.extend(
                    universe
                        .iter()
                        .filter(|o| o.owning_node().as_ref() == Some(&a))
                        .map(|o| (*o).clone()),
                );
            }
        } else {
            stack.extend(input.graph.dependencies(&a));
        }
        seen.insert(a);
    }
    Some(seen)
}
