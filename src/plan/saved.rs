//! Saved plan files (`plan --out`) and the check that a saved plan still applies.
//!
//! Pure: the CLI reads and writes the files; this module turns plans into text and back
//! and decides whether a plan is stale. A saved plan carries the sha256 of its own
//! content (`plan_sha256`), so a truncated, damaged or hand-edited file is refused
//! instead of being applied. It detects accidents; it is not a signature.

use serde::Serialize;

use super::digest::json_sha256;
use super::{Plan, State};

/// The key of the plan's own checksum in a saved-plan file.
pub const CHECKSUM_KEY: &str = "plan_sha256";

/// Why a saved plan can no longer be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the saved plan is stale: {}\nhint: run `tarsform plan` again and apply the new plan", .reasons.join("; "))]
pub struct StalePlan {
    pub reasons: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error(
        "not a tarsform plan file: {0}\nhint: the file is damaged; make the plan again with `tarsform plan --out`"
    )]
    Syntax(#[from] serde_json::Error),
    #[error(
        "plan file format {found} is not supported by this build (expects {expected})\nhint: make the plan again with this tarsform"
    )]
    Version { found: u64, expected: u32 },
    #[error(
        "the plan file has no `{CHECKSUM_KEY}`, or it does not match its content: the file was damaged or edited after `tarsform plan --out` wrote it\nhint: make the plan again with `tarsform plan --out`"
    )]
    Checksum,
}

/// The file layout: the plan's fields, then its checksum.
#[derive(Serialize)]
struct PlanFile<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    plan_sha256: String,
}

/// The saved-plan file text: the plan as pretty JSON, ending with a newline.
pub fn to_file_text(plan: &Plan) -> String {
    let file = PlanFile {
        plan,
        plan_sha256: json_sha256(plan),
    };
    let mut text = serde_json::to_string_pretty(&file).expect("plans serialize");
    text.push('\n');
    text
}

/// Reads a saved plan; refuses other format versions and content that does not match
/// its checksum.
pub fn from_file_text(text: &str) -> Result<Plan, PlanFileError> {
    let mut value: serde_json::Value = serde_json::from_str(text)?;
    let found = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if found != u64::from(super::PLAN_FORMAT_VERSION) {
        return Err(PlanFileError::Version {
            found,
            expected: super::PLAN_FORMAT_VERSION,
        });
    }
    let recorded = value.as_object_mut().and_then(|o| o.remove(CHECKSUM_KEY));
    let plan: Plan = serde_json::from_value(value)?;
    match recorded {
        Some(serde_json::Value::String(sum)) if sum == json_sha256(&plan) => Ok(plan),
        _ => Err(PlanFileError::Checksum),
    }
}

/// Refuses a plan made against another state, topology or local inputs than now.
pub fn check_fresh(
    plan: &Plan,
    current_state: Option<&State>,
    topology_digest: &str,
    inputs_digest: &str,
) -> Result<(), StalePlan> {
    let mut reasons = Vec::new();
    match (&plan.prior, current_state) {
        (None, Some(s)) => reasons.push(format!(
            "it was made with no state, but a state now exists (lineage {}, serial {})",
            s.lineage, s.serial
        )),
        (Some(p), None) => reasons.push(format!(
            "it was made against state lineage {} serial {}, but no state exists now",
            p.lineage, p.serial
        )),
        (Some(p), Some(s)) => {
            if p.lineage != s.lineage {
                reasons.push(format!(
                    "the state lineage changed ({} → {}): it belongs to another state",
                    p.lineage, s.lineage
                ));
            } else if p.serial != s.serial {
                reasons.push(format!("the state moved on (serial {} → {})", p.serial, s.serial));
            }
        }
        (None, None) => {}
    }
    if plan.topology_digest != topology_digest {
        reasons.push("the topology file changed".into());
    }
    if plan.inputs_digest != inputs_digest {
        reasons.push("local inputs changed (CA, certificates, keys, config copies or packages)".into());
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(StalePlan { reasons })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Preconditions;

    fn plan() -> Plan {
        Plan {
            format_version: crate::plan::PLAN_FORMAT_VERSION,
            tool_version: "0.1.0".into(),
            chain_id: "chain0".into(),
            application: "chain0".into(),
            tars_url: "http://127.0.0.1:3000/".into(),
            generated_root: "generated".into(),
            prior: None,
            topology_digest: "t".into(),
            inputs_digest: "i".into(),
            observed_digest: None,
            refreshed: false,
            destroy: false,
            changes: Vec::new(),
            preconditions: Preconditions::default(),
            notes: vec!["kept the CA".into()],
            drift: vec![],
        }
    }

    #[test]
    fn the_file_ends_with_its_checksum_and_round_trips() {
        let text = to_file_text(&plan());
        assert!(text.starts_with("{\n  \"format_version\": 1,"), "{text}");
        assert!(text.contains(&format!("\"{CHECKSUM_KEY}\": \"{}\"", json_sha256(&plan()))));
        assert_eq!(from_file_text(&text).unwrap(), plan());
    }

    #[test]
    fn an_edited_or_unsummed_plan_is_refused() {
        let text = to_file_text(&plan());
        let edited = text.replace("kept the CA", "kept the CB");
        assert!(matches!(from_file_text(&edited), Err(PlanFileError::Checksum)));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut unsummed = value.clone();
        unsummed.as_object_mut().unwrap().remove(CHECKSUM_KEY);
        let err = from_file_text(&unsummed.to_string()).unwrap_err();
        assert!(err.to_string().contains("hint: make the plan again"), "{err}");
        // Layout and unknown keys do not matter; content does.
        let mut extra = value;
        extra["comment"] = "reviewed".into();
        assert_eq!(from_file_text(&extra.to_string()).unwrap(), plan());
    }

    #[test]
    fn a_huge_format_version_is_not_truncated_into_a_supported_one() {
        let text =
            to_file_text(&plan()).replacen("\"format_version\": 1", "\"format_version\": 4294967297", 1);
        let err = from_file_text(&text).unwrap_err();
        assert!(err.to_string().contains("4294967297"), "{err}");
    }
}
