//! A plan in one line per change: the short view the demo tells its story with.

use std::fmt::Write;

use super::human::{NOT_READ, destroy_banner, no_changes_tail, restart_lines, summary_line};
use super::style::Style;
use crate::plan::{Action, Plan, ResourceChange};

/// `  + node["s"]["1.2.3.4"]  (new node: …)` for each change, then warnings, restarts and
/// the `Plan:` line; `No changes.` when there are none. A node's certs or configs with the
/// same action share a line: `+ config["s"]["1.2.3.4"]: ca.crt, config.ini`.
pub fn outline(plan: &Plan, color: bool) -> String {
    let style = Style { color };
    if !plan.has_changes() {
        return format!("No changes.{}", no_changes_tail(plan));
    }
    let mut out = String::new();
    if !plan.refreshed {
        out.push_str(NOT_READ);
    }
    let shown: Vec<&ResourceChange> = plan.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    for run in shown.chunk_by(|a, b| same_node_group(a, b)) {
        let first = run[0];
        let symbol = style.action(first.action, &format!("{:>6}", first.action.symbol()));
        match (run.len(), first.address.owning_node()) {
            (2.., Some(node)) => {
                let leaves: Vec<&str> = run.iter().filter_map(|c| c.address.leaf_name()).collect();
                let keys = node.to_string();
                let keys = keys.strip_prefix("node").unwrap_or(&keys);
                let _ = writeln!(
                    out,
                    "{symbol} {}{keys}: {}",
                    first.address.kind(),
                    leaves.join(", ")
                );
            }
            _ => {
                let reason = style.dim(&format!("({})", first.reason));
                let _ = writeln!(out, "{symbol} {}  {reason}", first.address);
            }
        }
    }
    if let Some(banner) = destroy_banner(plan) {
        let _ = writeln!(out, "{}", style.bold(&banner));
    }
    for line in restart_lines(plan) {
        let _ = writeln!(out, "Restart: {line}");
    }
    let _ = writeln!(out, "{}", style.bold(&summary_line(plan)));
    out
}

/// Certs or configs of one node with the same action.
fn same_node_group(a: &ResourceChange, b: &ResourceChange) -> bool {
    a.action == b.action
        && a.address.kind() == b.address.kind()
        && a.address.owning_node().is_some()
        && a.address.owning_node() == b.address.owning_node()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::addr::Address;
    use crate::view::fixtures::{attrs, change, plan};

    #[test]
    fn one_line_per_change_then_the_summary() {
        let node = Address::node("agencyABcosRpcService", "172.25.0.5");
        let mut c = change(
            node,
            Action::Create,
            None,
            Some(attrs(&[("ip", json!("172.25.0.5"))])),
        );
        c.reason = "new node: expand from 172.25.0.3".into();
        let text = outline(&plan(vec![c]), false);
        assert_eq!(
            text,
            "     + node[\"agencyABcosRpcService\"][\"172.25.0.5\"]  (new node: expand from 172.25.0.3)\n\
             Plan: 1 to add, 0 to change, 0 to destroy. Restarts: 0 node(s).\n"
        );
        let configs = ["ca.crt", "config.ini"].map(|f| {
            change(
                Address::config("s", "1.2.3.4", f),
                Action::Create,
                None,
                Some(attrs(&[])),
            )
        });
        let text = outline(&plan(configs.to_vec()), false);
        assert!(
            text.starts_with("     + config[\"s\"][\"1.2.3.4\"]: ca.crt, config.ini\n"),
            "{text}"
        );
        assert_eq!(
            outline(&plan(vec![]), false),
            "No changes. Your infrastructure matches the configuration.\n"
        );
    }
}
