//! A plan as a pull-request comment, at the level of tfcmt/Atlantis: a status line, counts
//! by action, GitHub alerts for destroys and drift, the restarts, the changed lines of
//! updated files in plain sight, a Mermaid picture of servers and hosts by action, and
//! the full list of changes collapsed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::diff::unified;
use super::human::summary_line;
use super::values::attributes;
use crate::plan::{Action, Plan, ResourceChange};

/// How many destroyed addresses the warning names.
const MAX_LISTED: usize = 8;
/// Above this many servers and hosts the picture is left out (it would not be read).
const MAX_PICTURED: usize = 40;

pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.has_changes() {
        let _ = writeln!(out, "### tarsform plan for `{}`: ✅ no changes\n", plan.chain_id);
        out.push_str(super::human::no_changes_tail(plan).trim_start());
        push_notes(&mut out, plan);
        return out;
    }
    let destroyed: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .collect();
    let status = match destroyed.len() {
        0 => "📝 changes".to_string(),
        n => format!("⚠️ changes, {n} destroyed"),
    };
    let _ = writeln!(out, "### tarsform plan for `{}`: {status}\n", plan.chain_id);
    let _ = writeln!(out, "**{}**\n", summary_line(plan));
    push_counts(&mut out, plan);
    if !destroyed.is_empty() {
        let names: Vec<String> = destroyed
            .iter()
            .take(MAX_LISTED)
            .map(|c| format!("`{}`", cell(&c.address.to_string())))
            .collect();
        let more = match destroyed.len() {
            n if n > MAX_LISTED => format!(" and {} more", n - MAX_LISTED),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "> [!WARNING]\n> This plan destroys {} resource(s): {}{more}",
            destroyed.len(),
            names.join(", ")
        );
        if let Some(banner) = super::human::destroy_banner(plan) {
            let _ = writeln!(out, ">\n> **{}**", cell(&banner));
        }
        out.push('\n');
    }
    if !plan.drift.is_empty() {
        out.push_str("> [!CAUTION]\n> Objects have changed outside tarsform; this plan undoes them:\n");
        for line in &plan.drift {
            let _ = writeln!(out, "> - {}", cell(line));
        }
        out.push('\n');
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
        out.push_str("> [!NOTE]\n> Planned from the state only: Tars was not read (`--refresh=false`).\n\n");
    }
    push_changed_lines(&mut out, plan);
    push_picture(&mut out, plan);
    push_full(&mut out, plan);
    push_notes(&mut out, plan);
    out
}

/// `| create | 14 |` per action present.
fn push_counts(out: &mut String, plan: &Plan) {
    let mut counts: BTreeMap<Action, usize> = BTreeMap::new();
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        *counts.entry(c.action).or_default() += 1;
    }
    out.push_str("| Action | Resources |\n|:--|--:|\n");
    for (action, n) in counts {
        let _ = writeln!(out, "| `{}`&nbsp;{} | {n} |", action.symbol(), name(action));
    }
    out.push('\n');
}

fn name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Read => "read",
        Action::Import => "import",
        Action::NoOp => "no-op",
    }
}

/// The changed lines of each updated file (no context), where a reviewer sees them first:
/// a port change is on the page, not inside a collapsed block.
fn push_changed_lines(out: &mut String, plan: &Plan) {
    let mut any = false;
    for c in plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Update | Action::Replace))
    {
        for a in attributes(c) {
            let (Some(old), Some(new)) = (&a.text_before, &a.text_after) else {
                if a.changed() && a.before.is_some() && a.after.is_some() && !is_bookkeeping(&a.name) {
                    any |= header(out, any);
                    let (b, n) = (
                        a.before.as_deref().unwrap_or(""),
                        a.after.as_deref().unwrap_or(""),
                    );
                    let _ = writeln!(
                        out,
                        "`{}` {}: `{}` → `{}`\n",
                        cell(&c.address.to_string()),
                        a.name,
                        cell(b),
                        cell(n)
                    );
                }
                continue;
            };
            let diff = unified(old, new);
            let lines: Vec<&str> = diff
                .lines()
                .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("@@"))
                .collect();
            if lines.is_empty() {
                continue;
            }
            any |= header(out, any);
            let _ = writeln!(out, "`{}` {}:\n\n```diff", cell(&c.address.to_string()), a.name);
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
            out.push_str("```\n\n");
        }
    }
}

/// Digests and Tars ids change with what they describe; the reader wants the thing itself.
fn is_bookkeeping(name: &str) -> bool {
    name.ends_with("sha256") || name.ends_with("_id")
}

fn header(out: &mut String, already: bool) -> bool {
    if !already {
        out.push_str("**Changed lines:**\n\n");
    }
    true
}

/// A Mermaid flowchart: each server linked to the hosts its nodes change on, coloured by
/// the node's action.
fn push_picture(out: &mut String, plan: &Plan) {
    let nodes: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp && c.address.kind() == crate::addr::ResourceKind::Node)
        .collect();
    let servers: BTreeSet<&str> = nodes.iter().filter_map(|c| c.address.server_name()).collect();
    let hosts: BTreeSet<&str> = nodes.iter().filter_map(|c| c.address.ip()).collect();
    if nodes.is_empty() || servers.len() + hosts.len() > MAX_PICTURED {
        return;
    }
    let sid = |s: &str| format!("s{}", servers.iter().position(|x| *x == s).unwrap_or(0));
    let hid = |h: &str| format!("h{}", hosts.iter().position(|x| *x == h).unwrap_or(0));
    out.push_str("```mermaid\nflowchart LR\n");
    for s in &servers {
        let _ = writeln!(out, "  {}[\"{}\"]", sid(s), mermaid_text(s));
    }
    for h in &hosts {
        let _ = writeln!(out, "  {}((\"{}\"))", hid(h), mermaid_text(h));
    }
    for (i, c) in nodes.iter().enumerate() {
        let (Some(s), Some(h)) = (c.address.server_name(), c.address.ip()) else {
            continue;
        };
        let _ = writeln!(out, "  {} -->|{}| {}", sid(s), name(c.action), hid(h));
        let color = match c.action {
            Action::Create => "green",
            Action::Update | Action::Import => "orange",
            Action::Replace | Action::Delete => "red",
            _ => "gray",
        };
        let _ = writeln!(out, "  linkStyle {i} stroke:{color},stroke-width:2px");
    }
    out.push_str("```\n\n");
}

fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;")
}

/// Every change and every file diff, collapsed.
fn push_full(out: &mut String, plan: &Plan) {
    let shown: Vec<&ResourceChange> = plan.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    let _ = writeln!(
        out,
        "<details><summary>Full plan: {} change(s)</summary>\n\n| Action | Address | Reason |\n|:--|:--|:--|",
        shown.len()
    );
    for c in &shown {
        let _ = writeln!(
            out,
            "| `{}`&nbsp;{} | `{}` | {} |",
            c.action.symbol(),
            name(c.action),
            cell(&c.address.to_string()),
            cell(&c.reason)
        );
    }
    for c in shown.iter().filter(|c| c.action != Action::Delete) {
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
                "\n<code>{}</code> {}\n\n```diff\n{diff}```\n",
                html(&c.address.to_string()),
                a.name
            );
        }
    }
    out.push_str("\n</details>\n");
}

fn push_notes(out: &mut String, plan: &Plan) {
    if !plan.notes.is_empty() {
        out.push_str("\n> [!NOTE]\n");
        for note in &plan.notes {
            let _ = writeln!(out, "> - {}", cell(note));
        }
    }
}

pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
