//! Saved plan files (`plan --out`) and the check that a saved plan still applies.
//!
//! Pure: the CLI reads and writes the files; this module turns plans into text and back
//! and decides whether a plan is stale.

use super::{Plan, State};

/// Why a saved plan can no longer be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the saved plan is stale: {}\nhint: run `tarsform plan` again and apply the new plan", .reasons.join("; "))]
pub struct StalePlan {
    pub reasons: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("not a tarsform plan file: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error(
        "plan file format {found} is not supported by this build (expects {expected})\nhint: make the plan again with this tarsform"
    )]
    Version { found: u32, expected: u32 },
}

/// The saved-plan file text: the plan as pretty JSON, ending with a newline.
pub fn to_file_text(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(plan).expect("plans serialize");
    text.push('\n');
    text
}

pub fn from_file_text(text: &str) -> Result<Plan, PlanFileError> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let found = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as u32;
    if found != super::PLAN_FORMAT_VERSION {
        return Err(PlanFileError::Version {
            found,
            expected: super::PLAN_FORMAT_VERSION,
        });
    }
    Ok(serde_json::from_value(value)?)
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
            if p.lineage != s.lineage.to_string() {
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
