//! The state for `show` (without a plan file) and `state list`.

use std::fmt::Write;

use serde_json::{Value, json};

use super::SENSITIVE;
use super::values::scalar;
use crate::state::State;

/// One address per line.
pub fn list(state: &State) -> String {
    let mut out = String::new();
    for a in state.resources.keys() {
        let _ = writeln!(out, "{a}");
    }
    out
}

/// Every resource with its attributes; multi-line contents are summarised.
pub fn human(state: &State) -> String {
    let mut out = format!(
        "# state of chain {} (lineage {}, serial {}, {} resources)\n",
        state.chain_id,
        state.lineage,
        state.serial,
        state.resources.len()
    );
    for (address, r) in &state.resources {
        let _ = writeln!(out, "\n# {address} ({})", r.status.as_str());
        let _ = writeln!(out, "{address} {{");
        let width = r.attributes.keys().map(String::len).max().unwrap_or(0);
        for (name, value) in &r.attributes {
            let shown = match value {
                _ if is_secret_name(name) => SENSITIVE.to_string(),
                Value::String(s) if s.contains('\n') => super::values::pem_summary(value)
                    .unwrap_or_else(|| format!("({} lines, {} bytes)", s.lines().count(), s.len())),
                v => scalar(v),
            };
            let _ = writeln!(out, "    {name:<width$} = {shown}");
        }
        out.push_str("}\n");
    }
    out
}

/// The state as JSON, like `terraform show -json` without a plan.
pub fn json(state: &State) -> String {
    let resources: Vec<Value> = state
        .resources
        .iter()
        .map(|(a, r)| {
            let values: serde_json::Map<String, Value> = r
                .attributes
                .iter()
                .filter(|(k, _)| !is_secret_name(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            json!({
                "address": a.to_string(),
                "type": a.kind().as_str(),
                "status": r.status.as_str(),
                "values": values,
                "depends_on": r.dependencies.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({
        "format_version": "1.0",
        "chain_id": state.chain_id,
        "lineage": state.lineage,
        "serial": state.serial,
        "tool_version": state.tool_version,
        "values": { "resources": resources },
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("state JSON serializes");
    text.push('\n');
    text
}

fn is_secret_name(name: &str) -> bool {
    crate::state::model::SECRET_ATTRIBUTE_NAMES.contains(&name) || name.contains("token")
}
