//! A plan as a pull-request comment.

use std::fmt::Write;

use super::diff::unified;
use super::human::summary_line;
use super::values::attributes;
use crate::plan::{Action, Plan};

/// How many destroyed addresses the warning banner names.
const MAX_LISTED: usize = 8;

pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### tarsform plan for `{}`\n", plan.chain_id);
    if !plan.has_changes() {
        out.push_str("**No changes.** Your infrastructure matches the configuration.\n");
        push_notes(&mut out, plan);
        return out;
    }
    let _ = writeln!(out, "**{}**\n", summary_line(plan));
    let destroyed: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .map(|c| format!("`{}`", c.address))
        .collect();
    if !destroyed.is_empty() {
        let more = match destroyed.len() {
            n if n > MAX_LISTED => format!(" and {} more", n - MAX_LISTED),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "> **Warning**\n> This plan destroys {} resource(s): {}{more}\n",
            destroyed.len(),
            destroyed[..destroyed.len().min(MAX_LISTED)].join(", ")
        );
    }
    if let Some(banner) = super::human::destroy_banner(plan) {
        let _ = writeln!(out, "> **{banner}**\n");
    }
    let restarts = super::human::restart_lines(plan);
    if !restarts.is_empty() {
        let _ = writeln!(out, "**Restarts ({}):**\n", restarts.len());
        for line in &restarts {
            let _ = writeln!(out, "- {}", cell(line));
        }
        out.push('\n');
    }
    if !plan.refreshed {
        out.push_str("_Planned from the state only: Tars was not read (`--refresh=false`)._\n\n");
    }
    out.push_str("| Action | Address | Reason |\n|---|---|---|\n");
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        let name = match c.action {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Read => "read",
            Action::Import => "import",
            Action::NoOp => "no-op",
        };
        let _ = writeln!(
            out,
            "| `{}` {name} | `{}` | {} |",
            c.action.symbol(),
            cell(&c.address.to_string()),
            cell(&c.reason)
        );
    }
    for c in plan.changes.iter().filter(|c| c.action != Action::Delete) {
        for a in attributes(c) {
            let (old, new) = match (&a.text_before, &a.text_after) {
                (None, None) => continue,
                (old, new) => (old.as_deref().unwrap_or(""), new.as_deref().unwrap_or("")),
            };
            let diff = unified(old, new);
            if diff.is_empty() {
                continue;
            }
            let _ = write!(
                out,
                "\n<details><summary><code>{}</code> {}</summary>\n\n```diff\n{diff}```\n\n</details>\n",
                html(&c.address.to_string()),
                a.name
            );
        }
    }
    push_notes(&mut out, plan);
    out
}

fn push_notes(out: &mut String, plan: &Plan) {
    if !plan.notes.is_empty() {
        out.push('\n');
        for note in &plan.notes {
            let _ = writeln!(out, "> **Note**: {}", cell(note));
        }
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
