//! How attribute values print, and which are hidden.

use serde_json::Value;

use super::{KNOWN_AFTER_APPLY, SENSITIVE};
use crate::plan::{Attrs, ResourceChange};

/// Attribute names that always print as `(sensitive)`, whatever the plan says.
const ALWAYS_SENSITIVE: [&str; 4] = ["token", "tars_token", "key_pem", "private_key"];

/// One attribute as shown: its old and new text (`None` when absent on that side).
pub(crate) struct AttrView {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// Multi-line text on both sides (or one side): shown as a diff.
    pub text_before: Option<String>,
    pub text_after: Option<String>,
}

impl AttrView {
    pub fn changed(&self) -> bool {
        self.before != self.after || self.text_before != self.text_after
    }
}

pub(crate) fn is_sensitive(change: &ResourceChange, name: &str) -> bool {
    change.sensitive.contains(name) || ALWAYS_SENSITIVE.contains(&name)
}

/// A scalar as Terraform prints it: strings quoted, objects as compact JSON.
pub(crate) fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A certificate or key as its fingerprint (see [`super::pem`]); `None` for other values.
pub(crate) fn pem_summary(value: &Value) -> Option<String> {
    value.as_str().and_then(super::pem::summary)
}

/// A planned adapter repair (`adapter_fix`) as a sentence: "adapter S: endpoint A → B
/// (will be set back)", or "adapter S: missing → B (will be added back)".
fn adapter_fix_text(fix: &Value) -> Option<String> {
    let text = |key: &str| {
        fix.get(key)
            .and_then(Value::as_str)
            .map(|s| s.escape_debug().to_string())
    };
    let (servant, endpoint) = (text("servant")?, text("endpoint")?);
    Some(
        match (fix.get("id").is_some_and(|v| !v.is_null()), text("found")) {
            (true, Some(found)) => {
                format!("adapter {servant}: endpoint {found} → {endpoint} (will be set back)")
            }
            (true, None) => format!("adapter {servant}: endpoint → {endpoint} (will be set back)"),
            (false, _) => format!("adapter {servant}: missing → {endpoint} (will be added back)"),
        },
    )
}

/// Multi-line or long text shown as a heredoc or a diff; certificates and keys never are.
fn multiline(value: Option<&Value>) -> Option<String> {
    value
        .filter(|v| pem_summary(v).is_none())
        .and_then(Value::as_str)
        // A long single word (a path, a digest) stays on its line.
        .filter(|s| s.contains('\n') || (s.len() > 80 && s.contains(char::is_whitespace)))
        .map(str::to_string)
}

/// Every attribute of a change, sorted by name, with secrets and unknowns replaced.
pub(crate) fn attributes(change: &ResourceChange) -> Vec<AttrView> {
    let empty = Attrs::new();
    let before = change.before.as_ref().unwrap_or(&empty);
    let after = change.after.as_ref().unwrap_or(&empty);
    let mut names: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .chain(change.after_unknown.iter())
        .chain(change.sensitive.iter())
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let b = before.get(name);
            let a = after.get(name);
            let sensitive = is_sensitive(change, name);
            let unknown = change.after_unknown.contains(name);
            let show = |v: Option<&Value>| {
                v.map(|v| {
                    pem_summary(v)
                        .or_else(|| (name == "adapter_fix").then(|| adapter_fix_text(v)).flatten())
                        .unwrap_or_else(|| scalar(v))
                })
            };
            let after_text = if sensitive && change.after.is_some() {
                Some(SENSITIVE.to_string())
            } else if unknown {
                Some(KNOWN_AFTER_APPLY.to_string())
            } else {
                show(a)
            };
            let before_text = if sensitive && (b.is_some() || change.after.is_none()) {
                (change.before.is_some()).then(|| SENSITIVE.to_string())
            } else {
                show(b)
            };
            let (text_before, text_after) = if sensitive {
                (None, None)
            } else {
                (multiline(b), if unknown { None } else { multiline(a) })
            };
            AttrView {
                name: name.clone(),
                before: before_text,
                after: after_text,
                text_before,
                text_after,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_adapter_fix_reads_as_a_sentence() {
        let servant = "chain0.agencyABcosRpcService.RpcServiceObj";
        let set_back = json!({
            "id": 7,
            "servant": servant,
            "found": "tcp -h 172.25.0.9 -t 60000 -p 20999 -e 0",
            "endpoint": "tcp -h 172.25.0.5 -t 60000 -p 20200 -e 0",
        });
        assert_eq!(
            adapter_fix_text(&set_back).unwrap(),
            format!(
                "adapter {servant}: endpoint tcp -h 172.25.0.9 -t 60000 -p 20999 -e 0 → tcp -h 172.25.0.5 -t 60000 -p 20200 -e 0 (will be set back)"
            )
        );
        let add_back = json!({ "servant": servant, "endpoint": "tcp -h 172.25.0.5 -p 20200" });
        assert_eq!(
            adapter_fix_text(&add_back).unwrap(),
            format!("adapter {servant}: missing → tcp -h 172.25.0.5 -p 20200 (will be added back)")
        );
        assert_eq!(adapter_fix_text(&json!({ "servant": servant })), None);
    }
}
