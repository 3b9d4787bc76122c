//! What `apply PLANFILE` prints before it runs: the saved plan was already shown by
//! `plan` and reviewed, so only its summary, its warnings and its path.

use crate::plan::Plan;

/// `Applying the saved plan PATH` and the plan's summary, destroy warning and restarts.
pub fn saved_plan(plan: &Plan, path: &str) -> String {
    let mut out = format!(
        "Applying the saved plan {path} (chain {}; `tarsform show {path}` prints it in full).\n",
        plan.chain_id
    );
    if let Some(banner) = super::human::destroy_banner(plan) {
        out.push_str(&format!("{banner}\n"));
    }
    let restarts = super::human::restart_lines(plan);
    if !restarts.is_empty() {
        out.push_str("Restarts:\n");
        for r in restarts {
            out.push_str(&format!("  {r}\n"));
        }
    }
    out.push_str(&super::human::summary_line(plan));
    out.push('\n');
    out
}
