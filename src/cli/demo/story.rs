//! The lines of a command's output that tell the demo's story: warnings, the `Plan:` line,
//! the steps done (counted by kind), the call count and the verdict.

use std::collections::BTreeMap;
use std::path::Path;

/// Lines kept as they are.
const KEPT: [&str; 9] = [
    "Applying the saved plan",
    "Warning:",
    "Plan:",
    "Tars calls:",
    "Apply complete!",
    "Destroy complete!",
    "No changes.",
    "Error",
    "Rollback",
];

/// The story lines of `output`, with `  steps done: register 2, start 2, …` in place of the
/// progress lines (every step is kept when a step failed: the reader needs them then).
pub fn condense(output: &str) -> String {
    let failed = output.lines().any(|l| l.contains(": failed"));
    let mut done: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = String::new();
    for line in output.lines() {
        let trimmed = line.trim_start();
        if let Some(kind) = step_done(trimmed) {
            *done.entry(kind).or_default() += 1;
        }
        if KEPT.iter().any(|k| trimmed.starts_with(k)) || (failed && trimmed.contains(": failed")) {
            if trimmed.starts_with("Tars calls:") || trimmed.ends_with("complete!") {
                push_steps(&mut out, &done);
                done.clear();
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    push_steps(&mut out, &done);
    out
}

/// `register` for `register node["s"]["1.2.3.4"]: done [0.1s]`.
fn step_done(line: &str) -> Option<&str> {
    let (head, tail) = line.rsplit_once(": ")?;
    tail.starts_with("done").then(|| head.split(' ').next()).flatten()
}

fn push_steps(out: &mut String, done: &BTreeMap<&str, usize>) {
    if done.is_empty() {
        return;
    }
    let counts: Vec<String> = done.iter().map(|(k, n)| format!("{k} {n}")).collect();
    out.push_str(&format!("Steps done: {}\n", counts.join(", ")));
}

/// The lines of the new node's `config.ini` that differ from the running node's, e.g.
/// `-listen_port = 20200` / `+listen_port = 10200`: what the expansion changes.
pub fn config_delta(workspace: &Path, old_path: &Path, new_text: &str) -> anyhow::Result<Vec<String>> {
    let old_text = std::fs::read_to_string(workspace.join(old_path))
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", old_path.display()))?;
    let diff = similar::TextDiff::from_lines(&old_text, new_text);
    Ok(diff
        .iter_all_changes()
        .filter_map(|c| {
            let sign = match c.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => return None,
            };
            Some(format!("{sign}{}", c.value().trim_end()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_becomes_counts_and_the_verdict_stays() {
        let out = "Applying the saved plan p (chain c).\nPlan: 0 to add.\n  preflight: started\n  preflight: done [0.0s]\n  register node[\"s\"][\"1\"]: done [0.1s]\n  register node[\"s\"][\"2\"]: done [0.1s]\nTars calls: 9\n\nApply complete! Resources: 2 added.\n";
        assert_eq!(
            condense(out),
            "Applying the saved plan p (chain c).\nPlan: 0 to add.\nSteps done: preflight 1, register 2\nTars calls: 9\nApply complete! Resources: 2 added.\n"
        );
    }

    #[test]
    fn a_failed_step_is_kept_in_full() {
        let out = "  start node[\"s\"][\"1\"]: failed: boom\nError: start failed:\n";
        assert_eq!(condense(out), out);
    }
}
