//! The apply result as a pull-request comment, read from `apply --json`'s event stream:
//! a status line, GitHub alerts for a failure and an incomplete rollback, steps done by
//! kind, and every event message collapsed.
//!
//! The stream is untrusted input (it is carried between CI jobs): lines that are not JSON
//! objects are counted and named, never trusted.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use super::markdown::cell;

pub fn markdown_apply(events: &str) -> String {
    let mut summary = None;
    let mut failed = Vec::new();
    let mut undo_failed = Vec::new();
    let mut undone = 0usize;
    let mut diagnostics = Vec::new();
    let mut done: BTreeMap<String, usize> = BTreeMap::new();
    let mut messages = Vec::new();
    let mut unreadable = 0usize;
    for line in events.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(Value::Object(event)) = serde_json::from_str::<Value>(line) else {
            unreadable += 1;
            continue;
        };
        let text = |key: &str| {
            event
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let message = text("@message");
        let hook = event.get("hook");
        let hook_text = |key: &str| {
            hook.and_then(|h| h.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match text("type").as_str() {
            "change_summary" => summary = Some(message.clone()),
            "apply_complete" => *done.entry(hook_text("action")).or_default() += 1,
            "apply_errored" => failed.push(message.clone()),
            "rollback_complete" => undone += 1,
            "rollback_errored" => undo_failed.push(message.clone()),
            "diagnostic" => diagnostics.push(message.clone()),
            _ => {}
        }
        if !message.is_empty() {
            messages.push(message);
        }
    }
    let status = if !undo_failed.is_empty() {
        "❌ FAILED, rollback INCOMPLETE"
    } else if !failed.is_empty() || !diagnostics.is_empty() {
        "❌ Failed (rolled back)"
    } else if summary.is_some() {
        "✅ Applied"
    } else {
        "❓ No result (the run ended before its summary)"
    };
    let mut out = format!("### tarsform apply: {status}\n\n");
    if let Some(s) = &summary {
        let _ = writeln!(out, "**{}**\n", cell(s));
    }
    if !failed.is_empty() || !diagnostics.is_empty() {
        out.push_str("> [!WARNING]\n> The apply failed:\n");
        for m in failed.iter().chain(&diagnostics) {
            let _ = writeln!(out, "> - {}", cell(m));
        }
        if undo_failed.is_empty() && undone > 0 {
            let _ = writeln!(out, ">\n> {undone} completed step(s) were undone.");
        }
        out.push('\n');
    }
    if !undo_failed.is_empty() {
        out.push_str(
            "> [!CAUTION]\n> The rollback did not finish; run `tarsform rollback` where the state lives:\n",
        );
        for m in &undo_failed {
            let _ = writeln!(out, "> - {}", cell(m));
        }
        out.push('\n');
    }
    if !done.is_empty() {
        out.push_str("| Step | Done |\n|:--|--:|\n");
        for (kind, n) in &done {
            let _ = writeln!(out, "| {} | {n} |", cell(kind));
        }
        out.push('\n');
    }
    if unreadable > 0 {
        let _ = writeln!(
            out,
            "> [!NOTE]\n> {unreadable} line(s) of the event stream were not JSON objects and were skipped.\n"
        );
    }
    let _ = writeln!(
        out,
        "<details><summary>Every event ({})</summary>\n\n```text",
        messages.len()
    );
    for m in &messages {
        let _ = writeln!(out, "{}", m.replace("```", "'''"));
    }
    out.push_str("```\n\n</details>\n");
    out
}
