//! A plan as JSON in Terraform's JSON output format (`terraform show -json`), so
//! policies and comment tools written for Terraform plans read it.
//!
//! Terraform's fields: `format_version` "1.0", `applyable`, `complete`, `errored`,
//! `planned_values`, `prior_state` (when there was a state), `configuration`,
//! `resource_changes[]` (`address`, `mode`, `type`, `name`, `index`, `provider_name`,
//! `change` with `actions`, `before`, `after`, `after_unknown`, `before_sensitive`,
//! `after_sensitive`, `importing`, and Terraform's `action_reason` values). tarsform's
//! own facts sit in extra fields Terraform tools ignore: `reason`, `depends_on`,
//! `summary`, `restarts`, `warnings`, `notes`, `drift`, digests.
//!
//! Address mapping: `type` is the resource kind (`node`), `name` its first key (the
//! server, CA kind or tarsnode IP) and `index` the other keys joined with `/`
//! (`"172.25.0.5"`, `"172.25.0.5/ssl"`); `address` stays tarsform's own, as `--target`
//! takes it. Sensitive values are left out.

use serde_json::{Map, Value, json};

use super::values::is_sensitive;
use crate::addr::Address;
use crate::plan::{Action, Attrs, Plan, ResourceChange};
use crate::state::State;

/// Version of Terraform's JSON output format this follows.
pub const JSON_FORMAT_VERSION: &str = "1.0";

/// `provider_name` of every resource: tarsform is the one provider.
pub const PROVIDER_NAME: &str = "tarsform/tars";

/// The plan without its prior state's unchanged resources (they are not in the plan).
pub fn json(plan: &Plan) -> String {
    json_with_state(plan, None)
}

/// The plan; `prior` is the state it was made against, used for `prior_state` and for
/// the unchanged resources of `planned_values`. A state of another lineage or serial
/// than the plan's is ignored.
pub fn json_with_state(plan: &Plan, prior: Option<&State>) -> String {
    let prior = prior.filter(|s| {
        plan.prior
            .as_ref()
            .is_some_and(|p| p.lineage == s.lineage && p.serial == s.serial)
    });
    let summary = plan.summary();
    let doc = json!({
        "format_version": JSON_FORMAT_VERSION,
        "tool_version": plan.tool_version,
        "applyable": plan.has_changes(),
        "complete": true,
        "errored": false,
        "chain_id": plan.chain_id,
        "application": plan.application,
        "prior_state": prior_state(plan, prior),
        "planned_values": { "root_module": { "resources": planned_resources(plan, prior) } },
        "configuration": configuration(plan, prior),
        "refreshed": plan.refreshed,
        "destroy": plan.destroy,
        "topology_digest": plan.topology_digest,
        "inputs_digest": plan.inputs_digest,
        "resource_changes": plan.changes.iter().map(|c| resource_change(plan, c)).collect::<Vec<_>>(),
        "preconditions": plan.preconditions,
        "notes": plan.notes,
        "drift": plan.drift,
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

/// `mode`, `type`, `name`, `index` (when there is one) and `provider_name` of `address`.
fn identity(address: &Address) -> Map<String, Value> {
    let keys = address.keys();
    let mut out = Map::new();
    out.insert("address".into(), address.to_string().into());
    out.insert("mode".into(), "managed".into());
    out.insert("type".into(), address.kind().as_str().into());
    out.insert("name".into(), keys.first().cloned().unwrap_or_default().into());
    if keys.len() > 1 {
        out.insert("index".into(), keys[1..].join("/").into());
    }
    out.insert("provider_name".into(), PROVIDER_NAME.into());
    out
}

/// Terraform's `action_reason` for the few cases it names; `None` for the rest.
fn terraform_reason(plan: &Plan, c: &ResourceChange) -> Option<&'static str> {
    match c.action {
        Action::Replace => Some("replace_because_cannot_update"),
        Action::Delete if !plan.destroy => Some("delete_because_no_resource_config"),
        _ => None,
    }
}

/// `change.actions`: an import is Terraform's `no-op` (or `update` when it also
/// changes the resource) with `change.importing` set.
fn actions(c: &ResourceChange) -> Value {
    match c.action {
        Action::Import if import_changes(c) => json!(["update"]),
        Action::Import => json!(["no-op"]),
        other => json!(other.json_actions()),
    }
}

fn import_changes(c: &ResourceChange) -> bool {
    c.attr("restart_reason").is_some()
        || c.before
            .as_ref()
            .zip(c.after.as_ref())
            .is_some_and(|(b, a)| b != a)
}

fn resource_change(plan: &Plan, c: &ResourceChange) -> Value {
    let sensitive_names: std::collections::BTreeSet<&String> = c
        .before
        .iter()
        .chain(c.after.iter())
        .flat_map(|a| a.keys())
        .chain(c.sensitive.iter())
        .filter(|n| is_sensitive(c, n))
        .collect();
    let flags = |present: bool| -> Value {
        if !present {
            return Value::Bool(false);
        }
        Value::Object(
            sensitive_names
                .iter()
                .map(|n| ((*n).clone(), Value::Bool(true)))
                .collect(),
        )
    };
    let mut change = json!({
        "actions": actions(c),
        "before": c.before.as_ref().map(|a| redacted(c, a)),
        "after": c.after.as_ref().map(|a| redacted(c, a)),
        "after_unknown": Value::Object(c.after_unknown.iter().map(|n| (n.clone(), Value::Bool(true))).collect()),
        "before_sensitive": flags(c.before.is_some()),
        "after_sensitive": flags(c.after.is_some()),
    });
    if c.action == Action::Import {
        let id = c
            .attr_str("server_id")
            .map_or_else(|| c.address.to_string(), str::to_string);
        change["importing"] = json!({ "id": id });
    }
    let mut out = identity(&c.address);
    out.insert("change".into(), change);
    if let Some(reason) = terraform_reason(plan, c) {
        out.insert("action_reason".into(), reason.into());
    }
    out.insert("reason".into(), c.reason.clone().into());
    out.insert(
        "depends_on".into(),
        c.depends_on.iter().map(|a| a.to_string()).collect(),
    );
    Value::Object(out)
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

/// A resource in `planned_values` or `prior_state`.
fn resource_value(address: &Address, values: Value) -> Value {
    let mut out = identity(address);
    out.insert("schema_version".into(), 0.into());
    out.insert("values".into(), values);
    out.insert("sensitive_values".into(), json!({}));
    Value::Object(out)
}

fn state_values(state: &State, address: &Address) -> Value {
    let attrs = state
        .get(address)
        .map(|r| {
            r.attributes
                .iter()
                .filter(|(k, _)| !is_secret_name(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<_, _>>()
        })
        .unwrap_or_default();
    Value::Object(attrs)
}

fn is_secret_name(name: &str) -> bool {
    crate::state::model::SECRET_ATTRIBUTE_NAMES.contains(&name) || name.contains("token")
}

/// The state the plan was made against: every resource when the state is at hand,
/// else the `before` of each change. Absent when the plan started from no state.
fn prior_state(plan: &Plan, prior: Option<&State>) -> Value {
    let Some(p) = &plan.prior else {
        return Value::Null;
    };
    let resources: Vec<Value> = match prior {
        Some(state) => state
            .resources
            .keys()
            .map(|a| resource_value(a, state_values(state, a)))
            .collect(),
        None => plan
            .changes
            .iter()
            .filter_map(|c| {
                c.before
                    .as_ref()
                    .map(|b| resource_value(&c.address, redacted(c, b)))
            })
            .collect(),
    };
    json!({
        "format_version": JSON_FORMAT_VERSION,
        "lineage": p.lineage,
        "serial": p.serial,
        "complete": prior.is_some(),
        "values": { "root_module": { "resources": resources } },
    })
}

/// Every resource as it will be after apply, sorted by address: the changes' `after`
/// and, when the prior state is at hand, its resources the plan leaves alone.
fn planned_resources(plan: &Plan, prior: Option<&State>) -> Vec<Value> {
    let mut out: std::collections::BTreeMap<&Address, Value> = Default::default();
    if let Some(state) = prior {
        for address in state.resources.keys() {
            out.insert(address, resource_value(address, state_values(state, address)));
        }
    }
    for c in &plan.changes {
        match &c.after {
            Some(after) => {
                out.insert(&c.address, resource_value(&c.address, redacted(c, after)));
            }
            None => {
                out.remove(&c.address);
            }
        }
    }
    out.into_values().collect()
}

/// Terraform's `configuration`: the one provider and one resource block per
/// `type` and `name` (the topology's servers, CAs and tarsnodes).
fn configuration(plan: &Plan, prior: Option<&State>) -> Value {
    let mut blocks: std::collections::BTreeMap<(String, String), Value> = Default::default();
    for resource in planned_resources(plan, prior) {
        let kind = resource["type"].as_str().unwrap_or_default().to_string();
        let name = resource["name"].as_str().unwrap_or_default().to_string();
        blocks.entry((kind.clone(), name.clone())).or_insert_with(|| {
            json!({
                "address": format!("{kind}[{name:?}]"),
                "mode": "managed",
                "type": kind,
                "name": name,
                "provider_config_key": "tars",
                "expressions": {},
                "schema_version": 0,
            })
        });
    }
    json!({
        "provider_config": { "tars": { "name": "tars", "full_name": PROVIDER_NAME } },
        "root_module": { "resources": blocks.into_values().collect::<Vec<_>>() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Preconditions, PriorState};

    fn change(
        address: Address,
        action: Action,
        before: Option<Attrs>,
        after: Option<Attrs>,
    ) -> ResourceChange {
        ResourceChange {
            address,
            action,
            reason: "because".into(),
            before,
            after,
            after_unknown: Default::default(),
            sensitive: Default::default(),
            depends_on: Default::default(),
        }
    }

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        Plan {
            format_version: 1,
            tool_version: "0.1.0".into(),
            chain_id: "chain0".into(),
            application: "chain0".into(),
            tars_url: "http://127.0.0.1:3000/".into(),
            generated_root: "generated".into(),
            prior: Some(PriorState {
                lineage: "L".into(),
                serial: 3,
            }),
            topology_digest: String::new(),
            inputs_digest: String::new(),
            observed_digest: None,
            refreshed: true,
            destroy: false,
            changes,
            preconditions: Preconditions::default(),
            notes: vec![],
            drift: vec![],
        }
    }

    fn doc(plan: &Plan, state: Option<&State>) -> Value {
        serde_json::from_str(&json_with_state(plan, state)).unwrap()
    }

    #[test]
    fn an_import_is_a_no_op_with_importing_set_or_an_update_when_it_restarts() {
        let node = Address::node("agencyABcosRpcService", "172.25.0.3");
        let same = attrs(&[("server_id", json!("7"))]);
        let as_is = change(
            node.clone(),
            Action::Import,
            Some(same.clone()),
            Some(same.clone()),
        );
        let restart = change(
            node,
            Action::Import,
            Some(same.clone()),
            Some(attrs(&[
                ("server_id", json!("7")),
                ("restart_reason", json!("config.ini")),
            ])),
        );
        for (c, expected) in [(as_is, "no-op"), (restart, "update")] {
            let d = doc(&plan(vec![c]), None);
            let rc = &d["resource_changes"][0];
            assert_eq!(rc["change"]["actions"], json!([expected]));
            assert_eq!(rc["change"]["importing"], json!({"id": "7"}));
            assert_eq!(rc["mode"], "managed");
            assert_eq!(rc["type"], "node");
            assert_eq!(rc["name"], "agencyABcosRpcService");
            assert_eq!(rc["index"], "172.25.0.3");
            assert_eq!(rc["provider_name"], PROVIDER_NAME);
            assert!(rc.get("action_reason").is_none());
            assert_eq!(rc["reason"], "because");
        }
    }

    #[test]
    fn deletes_and_replaces_carry_terraform_reasons() {
        let cert = Address::cert("s", "172.25.0.6", "ssl");
        let gone = change(cert.clone(), Action::Delete, Some(Attrs::new()), None);
        let replaced = change(
            Address::ca(crate::config::ServiceKind::Rpc),
            Action::Replace,
            Some(Attrs::new()),
            Some(Attrs::new()),
        );
        let d = doc(&plan(vec![replaced, gone.clone()]), None);
        assert_eq!(
            d["resource_changes"][0]["action_reason"],
            "replace_because_cannot_update"
        );
        assert_eq!(
            d["resource_changes"][1]["action_reason"],
            "delete_because_no_resource_config"
        );
        assert_eq!(d["resource_changes"][1]["index"], "172.25.0.6/ssl");
        let mut destroy = plan(vec![gone]);
        destroy.destroy = true;
        assert!(
            doc(&destroy, None)["resource_changes"][0]
                .get("action_reason")
                .is_none()
        );
    }

    #[test]
    fn planned_values_keep_unchanged_state_resources_and_drop_deleted_ones() {
        let kept = Address::tarsnode("172.25.0.3");
        let gone = Address::tarsnode("172.25.0.6");
        let mut state = State::new("chain0", "L");
        state.serial = 3;
        for a in [&kept, &gone] {
            state.resources.insert(
                a.clone(),
                crate::state::ResourceState::new(a.kind())
                    .with_attribute("private_key", "x")
                    .with_attribute("ip", a.ip().unwrap()),
            );
        }
        let p = plan(vec![change(
            gone.clone(),
            Action::Delete,
            Some(Attrs::new()),
            None,
        )]);
        let d = doc(&p, Some(&state));
        let planned = d["planned_values"]["root_module"]["resources"]
            .as_array()
            .unwrap();
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0]["address"], kept.to_string());
        assert_eq!(planned[0]["values"], json!({"ip": "172.25.0.3"}));
        assert_eq!(
            d["prior_state"]["values"]["root_module"]["resources"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(d["prior_state"]["complete"], true);
        assert_eq!(
            d["configuration"]["root_module"]["resources"][0]["type"],
            "tarsnode"
        );
        // A state of another serial is not the plan's prior state.
        state.serial = 4;
        assert_eq!(doc(&p, Some(&state))["prior_state"]["complete"], false);
    }
}
