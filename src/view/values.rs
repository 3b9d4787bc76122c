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

/// Multi-line text shown as a heredoc or a diff; certificates and keys never are.
fn multiline(value: Option<&Value>) -> Option<String> {
    value
        .filter(|v| pem_summary(v).is_none())
        .and_then(Value::as_str)
        .filter(|s| s.contains('\n') || s.len() > 80)
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
            let show = |v: Option<&Value>| v.map(|v| pem_summary(v).unwrap_or_else(|| scalar(v)));
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
