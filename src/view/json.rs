//! A plan as JSON, shaped like `terraform show -json`.

use serde_json::{Map, Value, json};

use super::values::is_sensitive;
use crate::plan::{Attrs, Plan, ResourceChange};

/// `format_version`, `resource_changes[]` (`address`, `type`, `change.actions`,
/// `before`, `after`, `after_unknown`, `after_sensitive`), plus tarsform's plan facts.
/// Sensitive values are left out.
pub fn json(plan: &Plan) -> String {
    let summary = plan.summary();
    let doc = json!({
        "format_version": "1.0",
        "tool_version": plan.tool_version,
        "chain_id": plan.chain_id,
        "application": plan.application,
        "prior_state": plan.prior,
        "refreshed": plan.refreshed,
        "destroy": plan.destroy,
        "topology_digest": plan.topology_digest,
        "inputs_digest": plan.inputs_digest,
        "resource_changes": plan.changes.iter().map(resource_change).collect::<Vec<_>>(),
        "preconditions": plan.preconditions,
        "notes": plan.notes,
        "summary": {
            "import": summary.import,
            "add": summary.add,
            "change": summary.change,
            "destroy": summary.destroy,
            "restart": summary.restart,
            "nodes_destroyed": summary.nodes_destroyed,
        },
        "restarts": plan.restarts().iter().map(|c| json!({
            "address": c.address.to_string(),
            "reason": c.attr_str("restart_reason").unwrap_or(c.reason.as_str()),
        })).collect::<Vec<_>>(),
        "warnings": super::human::destroy_banner(plan).into_iter().collect::<Vec<_>>(),
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("plan JSON serializes");
    text.push('\n');
    text
}

fn resource_change(c: &ResourceChange) -> Value {
    let flags = |names: &mut dyn Iterator<Item = &String>| -> Value {
        Value::Object(
            names
                .map(|n| (n.clone(), Value::Bool(true)))
                .collect::<Map<_, _>>(),
        )
    };
    let sensitive_names: std::collections::BTreeSet<&String> = c
        .before
        .iter()
        .chain(c.after.iter())
        .flat_map(|a| a.keys())
        .chain(c.sensitive.iter())
        .filter(|n| is_sensitive(c, n))
        .collect();
    json!({
        "address": c.address.to_string(),
        "type": c.address.kind().as_str(),
        "action_reason": c.reason,
        "depends_on": c.depends_on.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "change": {
            "actions": c.action.json_actions(),
            "before": c.before.as_ref().map(|a| redacted(c, a)),
            "after": c.after.as_ref().map(|a| redacted(c, a)),
            "after_unknown": flags(&mut c.after_unknown.iter()),
            "before_sensitive": flags(&mut sensitive_names.iter().copied().filter(|_| c.before.is_some())),
            "after_sensitive": flags(&mut sensitive_names.iter().copied().filter(|_| c.after.is_some())),
        },
    })
}

fn redacted(c: &ResourceChange, attrs: &Attrs) -> Value {
    Value::Object(
        attrs
            .iter()
            .filter(|(k, _)| !is_sensitive(c, k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}
