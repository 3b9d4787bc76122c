//! `plan --policy DIR`: read the Rego files under DIR and check the plan's JSON.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::policy::{Policies, Verdict};

/// Every `*.rego` under `dir` (recursively, sorted), except OPA tests (`*_test.rego`).
fn rego_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("reading the policy directory {}", d.display()))?;
        for entry in entries {
            let path = entry.with_context(|| format!("reading {}", d.display()))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                pending.push(path);
            } else if name.ends_with(".rego") && !name.ends_with("_test.rego") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Loads the policies of `dir` and evaluates them against `plan_json`.
pub fn check(dir: &Path, plan_json: &str) -> anyhow::Result<Verdict> {
    let mut sources = Vec::new();
    for path in rego_files(dir)? {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        sources.push((path.display().to_string(), text));
    }
    let mut policies = Policies::load(&sources).with_context(|| format!("--policy {}", dir.display()))?;
    Ok(policies.evaluate(plan_json)?)
}

/// `Policy warning (rule): message` lines, for stderr.
pub fn warnings(verdict: &Verdict) -> String {
    verdict
        .warnings
        .iter()
        .map(|w| format!("Policy warning ({}): {}\n", w.rule, w.message))
        .collect()
}

/// The error of a denied plan: every denial with its rule, and what was not done.
pub fn denial(verdict: &Verdict, dir: &Path, out_given: bool) -> String {
    let mut text = format!(
        "the plan is denied by the policies in {} ({} denial(s)):",
        dir.display(),
        verdict.denied.len()
    );
    for d in &verdict.denied {
        text.push_str(&format!("\n  - {} ({})", d.message, d.rule));
    }
    if out_given {
        text.push_str("\nThe plan file was not written.");
    }
    text.push_str("\nhint: change the topology, or the policy through its own review");
    text
}
