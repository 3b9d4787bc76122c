//! `apply --json`: one JSON object per line, shaped like `terraform apply -json`'s
//! machine-readable UI (`@level`, `@message`, `@module`, `@timestamp`, `type`).
//!
//! Types: `version` first, one `planned_change` per change, `apply_start`,
//! `apply_complete` and `apply_errored` per step (with `hook.resource`, `hook.action`
//! and `elapsed_seconds`), `rollback_start`, `rollback_complete`, `rollback_errored`
//! and `apply_skipped` for tarsform's rollback, `change_summary` at the end, and
//! `diagnostic` for an error. Pure: the caller passes the clock.

use serde_json::{Map, Value, json};

use crate::addr::Address;
use crate::plan::{Plan, ResourceChange};

/// Version of this message stream (Terraform's `ui` field).
pub const UI_VERSION: &str = "1.0";

/// What happened to a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEvent<'a> {
    Started,
    Completed,
    Failed(&'a str),
    Skipped,
    UndoStarted,
    Undone,
    UndoFailed(&'a str),
}

fn line(level: &str, message: String, kind: &str, timestamp: &str, extra: Map<String, Value>) -> String {
    let mut doc = Map::new();
    doc.insert("@level".into(), level.into());
    doc.insert("@message".into(), message.into());
    doc.insert("@module".into(), "tarsform.ui".into());
    doc.insert("@timestamp".into(), timestamp.into());
    doc.insert("type".into(), kind.into());
    doc.extend(extra);
    let mut text = serde_json::to_string(&Value::Object(doc)).expect("UI message serializes");
    text.push('\n');
    text
}

/// Terraform's `resource` object of a hook or change.
fn resource(address: &Address) -> Value {
    let keys = address.keys();
    json!({
        "addr": address.to_string(),
        "module": "",
        "resource": address.to_string(),
        "implied_provider": "tars",
        "resource_type": address.kind().as_str(),
        "resource_name": keys.first().cloned().unwrap_or_default(),
        "resource_key": (keys.len() > 1).then(|| keys[1..].join("/")),
    })
}

fn extra(pairs: Value) -> Map<String, Value> {
    match pairs {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn version(timestamp: &str) -> String {
    let tool = env!("CARGO_PKG_VERSION");
    line(
        "info",
        format!("tarsform {tool}"),
        "version",
        timestamp,
        extra(json!({ "tarsform": tool, "ui": UI_VERSION })),
    )
}

pub fn planned_change(c: &ResourceChange, timestamp: &str) -> String {
    let action = c.action.json_actions().join("-");
    line(
        "info",
        format!("{}: Plan to {action}", c.address),
        "planned_change",
        timestamp,
        extra(json!({
            "change": { "resource": resource(&c.address), "action": action, "reason": c.reason },
        })),
    )
}

/// A step event; `step` is `"<op> <address>"` (or just `<op>`).
pub fn step(step: &str, event: StepEvent<'_>, elapsed_seconds: Option<f64>, timestamp: &str) -> String {
    let (op, address) = match step.split_once(' ') {
        Some((op, addr)) => (op, addr.parse::<Address>().ok()),
        None => (step, None),
    };
    let (level, kind, said) = match event {
        StepEvent::Started => ("info", "apply_start", format!("{step}: started")),
        StepEvent::Completed => ("info", "apply_complete", format!("{step}: done")),
        StepEvent::Failed(e) => ("error", "apply_errored", format!("{step}: FAILED: {e}")),
        StepEvent::Skipped => ("info", "apply_skipped", format!("{step}: not started")),
        StepEvent::UndoStarted => ("info", "rollback_start", format!("undo {step}: started")),
        StepEvent::Undone => ("info", "rollback_complete", format!("undo {step}: done")),
        StepEvent::UndoFailed(e) => ("error", "rollback_errored", format!("undo {step}: FAILED: {e}")),
    };
    let mut hook = Map::new();
    hook.insert("step".into(), step.into());
    hook.insert("action".into(), op.into());
    if let Some(a) = &address {
        hook.insert("resource".into(), resource(a));
    }
    if let Some(s) = elapsed_seconds {
        hook.insert("elapsed_seconds".into(), json!((s * 10.0).round() / 10.0));
    }
    if let StepEvent::Failed(e) | StepEvent::UndoFailed(e) = event {
        hook.insert("error".into(), e.into());
    }
    line(level, said, kind, timestamp, extra(json!({ "hook": hook })))
}

/// The closing counts, like Terraform's `change_summary`.
pub fn change_summary(plan: &Plan, operation: &str, timestamp: &str) -> String {
    let s = plan.summary();
    let message = if operation == "destroy" {
        format!("Destroy complete! Resources: {} destroyed.", s.destroy)
    } else {
        format!(
            "Apply complete! Resources: {} imported, {} added, {} changed, {} destroyed.",
            s.import, s.add, s.change, s.destroy
        )
    };
    line(
        "info",
        message,
        "change_summary",
        timestamp,
        extra(json!({
            "changes": {
                "add": s.add, "change": s.change, "import": s.import, "remove": s.destroy,
                "operation": operation,
            },
        })),
    )
}

/// An error as a `diagnostic` message.
pub fn diagnostic(summary: &str, detail: &str, timestamp: &str) -> String {
    line(
        "error",
        format!("Error: {summary}"),
        "diagnostic",
        timestamp,
        extra(json!({ "diagnostic": { "severity": "error", "summary": summary, "detail": detail } })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "one line: {text}"
        );
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_step_names_its_resource_action_and_elapsed_time() {
        let v = parse(&step(
            "deploy node[\"agencyABcosRpcService\"][\"172.25.0.5\"]",
            StepEvent::Completed,
            Some(6.04),
            "2026-01-01T00:00:00Z",
        ));
        assert_eq!(v["type"], "apply_complete");
        assert_eq!(v["@module"], "tarsform.ui");
        assert_eq!(v["hook"]["action"], "deploy");
        assert_eq!(v["hook"]["elapsed_seconds"], 6.0);
        assert_eq!(v["hook"]["resource"]["resource_type"], "node");
        assert_eq!(v["hook"]["resource"]["resource_name"], "agencyABcosRpcService");
        assert_eq!(v["hook"]["resource"]["resource_key"], "172.25.0.5");
    }

    #[test]
    fn a_failure_is_an_error_level_message_with_the_error() {
        let v = parse(&step("barrier", StepEvent::Failed("boom"), None, "t"));
        assert_eq!(v["@level"], "error");
        assert_eq!(v["type"], "apply_errored");
        assert_eq!(v["hook"]["error"], "boom");
        assert!(v["hook"].get("resource").is_none());
        let d = parse(&diagnostic("reading x", "gone", "t"));
        assert_eq!(d["diagnostic"]["summary"], "reading x");
    }
}
