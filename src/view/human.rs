//! The terminal view of a plan, shaped like Terraform's.

use std::fmt::Write;

use super::diff::unified;
use super::grouping::{Shown, THRESHOLD, fold, more_line, thousands};
use super::style::Style;
use super::values::{AttrView, attributes};
use crate::plan::{Action, Plan, ResourceChange};

/// The plan as text for a terminal; ANSI colours only when `color`. The same change on
/// more than 20 hosts of one server is shown once with a line for the rest
/// ([`super::grouping`]); [`human_full`] shows each.
pub fn human(plan: &Plan, color: bool) -> String {
    whole(plan, color, false)
}

/// The plan with every change in full, however large.
pub fn human_full(plan: &Plan, color: bool) -> String {
    whole(plan, color, true)
}

/// As [`human`] (or [`human_full`] with `full`), handed to `emit` a piece at a time:
/// the header, each change, the rest. A plan of any size is written without being held
/// whole; pieces end at line ends.
pub fn write_human(
    plan: &Plan,
    color: bool,
    full: bool,
    emit: &mut dyn FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    render(plan, color, full, emit)
}

fn whole(plan: &Plan, color: bool, full: bool) -> String {
    let mut text = String::new();
    let mut append = |piece: &str| {
        text.push_str(piece);
        Ok(())
    };
    render(plan, color, full, &mut append).expect("appending to a string never fails");
    text
}

/// Said of a plan made without reading Tars: what it compared is the state only.
pub const NOT_READ: &str = "Planned from the state only: Tars was not read (`--refresh=false`).\n\n";

/// After "No changes.": what was compared, Tars only when it was read.
pub fn no_changes_tail(plan: &Plan) -> &'static str {
    match plan.refreshed {
        true => " Your infrastructure matches the configuration.\n",
        false => " The configuration matches the state; Tars was not read (`--refresh=false`).\n",
    }
}

fn render(
    plan: &Plan,
    color: bool,
    full: bool,
    emit: &mut dyn FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let style = Style { color };
    let mut out = String::new();
    if !plan.has_changes() {
        out.push_str(&style.bold("No changes."));
        out.push_str(no_changes_tail(plan));
        push_notes(&mut out, plan);
        return emit(&out);
    }
    if !plan.refreshed {
        out.push_str(NOT_READ);
    }
    if !plan.drift.is_empty() {
        out.push_str(&style.bold("Objects have changed outside tarsform"));
        out.push_str(
            "\n\ntarsform detected the following changes made outside tarsform; this plan undoes them:\n",
        );
        for line in &plan.drift {
            let _ = writeln!(out, "  - {line}");
        }
        out.push('\n');
    }
    out.push_str("Resource actions are indicated with the following symbols:\n");
    for action in [
        Action::Create,
        Action::Update,
        Action::Replace,
        Action::Delete,
        Action::Read,
        Action::Import,
    ] {
        if plan.changes.iter().any(|c| c.action == action) {
            let label = match action {
                Action::Create => "create",
                Action::Update => "update in-place",
                Action::Replace => "destroy and then create replacement",
                Action::Delete => "destroy",
                Action::Read => "read (precondition)",
                _ => "import an existing resource into the state",
            };
            let symbol = format!("{:>3}", action.symbol());
            let _ = writeln!(out, "{} {label}", style.action(action, &symbol));
        }
    }
    if let Some(banner) = destroy_banner(plan) {
        let _ = writeln!(out, "\n{}", style.bold(&banner));
    }
    out.push_str("\ntarsform will perform the following actions:\n");
    for (i, how) in fold(plan, full).iter().enumerate() {
        let change = &plan.changes[i];
        if change.action == Action::NoOp || matches!(how, Shown::Folded) {
            continue;
        }
        out.push('\n');
        push_change(&mut out, change, style);
        if let Shown::FirstOf { others } = how {
            let line = more_line(plan, i, others);
            let _ = writeln!(out, "\n  {}", style.action(change.action, &line));
        }
        emit(&out)?;
        out.clear();
    }
    push_preconditions(&mut out, plan, full);
    push_notes(&mut out, plan);
    out.push('\n');
    out.push_str(&style.bold(&summary_line(plan)));
    out.push('\n');
    emit(&out)
}

/// `Plan: X to add, Y to change, Z to destroy.` (imports first when there are any).
pub(crate) fn summary_line(plan: &Plan) -> String {
    let s = plan.summary();
    let import = if s.import > 0 {
        format!("{} to import, ", s.import)
    } else {
        String::new()
    };
    let restarts = if plan.touches_nodes() {
        format!(" Restarts: {} node(s).", s.restart)
    } else {
        String::new()
    };
    format!(
        "Plan: {import}{} to add, {} to change, {} to destroy.{restarts}",
        s.add, s.change, s.destroy
    )
}

/// `Warning: this plan destroys N node(s): …` when it undeploys any node.
pub(crate) fn destroy_banner(plan: &Plan) -> Option<String> {
    let nodes = plan.nodes_destroyed();
    if nodes.is_empty() {
        return None;
    }
    let names: Vec<String> = nodes.iter().map(|c| c.address.to_string()).collect();
    Some(format!(
        "Warning: this plan destroys {} node(s): {}",
        nodes.len(),
        names.join(", ")
    ))
}

/// Each node that restarts, with why; `None` when none does.
pub(crate) fn restart_lines(plan: &Plan) -> Vec<String> {
    plan.restarts()
        .iter()
        .map(|c| {
            let why = c.attr_str("restart_reason").unwrap_or(c.reason.as_str());
            format!("{}: {why}", c.address)
        })
        .collect()
}

fn push_change(out: &mut String, change: &ResourceChange, style: Style) {
    let action = change.action;
    let _ = writeln!(
        out,
        "  {}",
        style.bold(&format!("# {} {}", change.address, action.verb()))
    );
    let _ = writeln!(out, "  {}", style.dim(&format!("# ({})", change.reason)));
    let symbol = format!("{:>3}", action.symbol());
    let _ = writeln!(out, "{} {} {{", style.action(action, &symbol), change.address);
    let attrs = attributes(change);
    let visible: Vec<&AttrView> = attrs.iter().filter(|a| show_all(change) || a.changed()).collect();
    let width = visible.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for attr in &visible {
        push_attr(out, change, attr, width, style);
    }
    let hidden = attrs.len() - visible.len();
    if hidden > 0 {
        let _ = writeln!(
            out,
            "        {}",
            style.dim(&format!("# ({hidden} unchanged attributes hidden)"))
        );
    }
    out.push_str("    }\n");
}

/// Creates, deletes, reads and fresh imports list every attribute.
fn show_all(change: &ResourceChange) -> bool {
    match change.action {
        Action::Create | Action::Delete | Action::Read => true,
        Action::Import => change.before.is_none(),
        _ => false,
    }
}

fn push_attr(out: &mut String, change: &ResourceChange, a: &AttrView, width: usize, style: Style) {
    let (sym, act) = match change.action {
        Action::Create | Action::Read => ("+", Action::Create),
        Action::Delete => ("-", Action::Delete),
        Action::Import if change.before.is_none() => (" ", Action::NoOp),
        _ if a.before.is_none() => ("+", Action::Create),
        _ if a.after.is_none() => ("-", Action::Delete),
        _ if a.changed() => ("~", Action::Update),
        _ => (" ", Action::NoOp),
    };
    let lead = format!("      {} {:<width$} = ", style.action(act, sym), a.name);
    // Multi-line text: a heredoc of the content, or a diff when both sides exist.
    if let (Some(old), Some(new)) = (&a.text_before, &a.text_after) {
        let _ = writeln!(out, "{lead}<<-EOT");
        for line in unified(old, new).lines() {
            let painted = match line.chars().next() {
                Some('+') => style.added(line),
                Some('-') => style.removed(line),
                _ => line.to_string(),
            };
            let _ = writeln!(out, "            {painted}");
        }
        out.push_str("        EOT\n");
        return;
    }
    let text = match act {
        Action::Delete => a.text_before.as_ref(),
        _ => a
            .text_after
            .as_ref()
            .or(a.text_before.as_ref().filter(|_| a.after.is_none())),
    };
    if let Some(text) = text {
        let _ = writeln!(out, "{lead}<<-EOT");
        for line in text.lines() {
            let _ = writeln!(out, "            {line}");
        }
        let tail = if act == Action::Delete { " -> null" } else { "" };
        let _ = writeln!(out, "        EOT{tail}");
        return;
    }
    let value = match (act, &a.before, &a.after) {
        (Action::Delete, Some(b), _) => format!("{b} -> null"),
        (Action::Update, Some(b), Some(n)) => format!("{b} -> {n}"),
        (_, _, Some(n)) => n.clone(),
        (_, Some(b), None) => format!("{b} -> null"),
        (_, None, None) => "null".into(),
    };
    let _ = writeln!(out, "{lead}{value}");
}

fn push_preconditions(out: &mut String, plan: &Plan, full: bool) {
    let pre = &plan.preconditions;
    if pre.tarsnodes_alive.is_empty() && pre.ca.is_empty() {
        return;
    }
    out.push_str("\nChecked again before the first step of apply:\n");
    let tarsnodes = &pre.tarsnodes_alive;
    match (tarsnodes.first(), tarsnodes.last()) {
        (Some(first), Some(last)) if !full && tarsnodes.len() > THRESHOLD => {
            let n = thousands(tarsnodes.len());
            let _ = writeln!(
                out,
                "  - {n} tarsnodes ({first} … {last}) are registered and alive"
            );
        }
        _ => {
            for ip in tarsnodes {
                let _ = writeln!(out, "  - tarsnode {ip} is registered and alive");
            }
        }
    }
    for (kind, ca) in &pre.ca {
        let which = match &ca.cert_sha256 {
            Some(d) => format!("ca.crt sha256 {}", short(d)),
            None => "generated by this plan".into(),
        };
        let tars = match ca.matches_tars {
            Some(true) => ", the same CA Tars serves to existing nodes",
            Some(false) => ", which differs from the CA Tars serves",
            None => "",
        };
        let _ = writeln!(out, "  - {kind} CA at {} ({which}){tars}", ca.dir);
    }
}

fn push_notes(out: &mut String, plan: &Plan) {
    if plan.notes.is_empty() {
        return;
    }
    out.push('\n');
    for note in &plan.notes {
        let _ = writeln!(out, "Note: {note}");
    }
}

pub(crate) fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::addr::Address;
    use crate::config::ServiceKind;
    use crate::view::fixtures::{attrs, cert_pem, change, plan};

    #[test]
    fn a_certificate_change_shows_old_and_new_fingerprints_not_pem() {
        let (old, new) = (cert_pem("FISCO-BCOS"), cert_pem("FISCO-BCOS"));
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let ca = change(
            Address::ca(ServiceKind::Rpc),
            Action::Update,
            Some(attrs(&[("cert_pem", json!(old)), ("key_text", json!(key))])),
            Some(attrs(&[("cert_pem", json!(new)), ("key_text", json!(key))])),
        );
        let text = human(&plan(vec![ca]), false);
        let digest = |pem: &str| crate::plan::pem_sha256(pem)[..16].to_string();
        assert!(
            text.contains(&format!(
                "~ cert_pem = sha256:{}… (CN=FISCO-BCOS, not after 2126-11-05) -> sha256:{}… (CN=FISCO-BCOS, not after 2126-11-05)",
                digest(&old),
                digest(&new)
            )),
            "{text}"
        );
        assert!(!text.contains("BEGIN"), "{text}");
    }

    #[test]
    fn a_plan_made_without_reading_tars_never_says_the_infrastructure_matches() {
        let mut unread = plan(vec![]);
        unread.refreshed = false;
        for text in [
            human(&unread, false),
            crate::view::outline::outline(&unread, false),
            crate::view::markdown::markdown(&unread),
        ] {
            assert!(!text.contains("infrastructure matches"), "{text}");
            assert!(text.contains("Tars was not read (`--refresh=false`)"), "{text}");
        }
        let node = change(
            Address::node("s", "127.1.0.1"),
            Action::Create,
            None,
            Some(attrs(&[])),
        );
        let mut changes = plan(vec![node]);
        changes.refreshed = false;
        let text = human(&changes, false);
        assert!(text.starts_with(NOT_READ), "{text}");
        assert!(human(&plan(vec![]), false).contains("Your infrastructure matches the configuration."));
    }
}

#[cfg(test)]
mod scale_tests {
    use serde_json::json;

    use super::*;
    use crate::addr::Address;
    use crate::view::fixtures::{attrs, change, plan};

    #[test]
    fn thirty_alike_nodes_print_once_unless_full() {
        let nodes = (1..=30)
            .map(|i| {
                let ip = format!("127.1.0.{i}");
                change(
                    Address::node("s", &ip),
                    Action::Create,
                    None,
                    Some(attrs(&[("ip", json!(ip)), ("obj_name", json!("RpcServiceObj"))])),
                )
            })
            .collect();
        let p = plan(nodes);
        let short = human(&p, false);
        assert!(
            short.contains(
                "+ 29 more like node[\"s\"][\"127.1.0.1\"]: the same change on 127.1.0.2 … 127.1.0.30"
            ),
            "{short}"
        );
        assert!(!short.contains("node[\"s\"][\"127.1.0.2\"] {"), "{short}");
        assert!(short.contains("Plan: 30 to add"), "{short}");
        let full = human_full(&p, false);
        assert!((1..=30).all(|i| full.contains(&format!("+ node[\"s\"][\"127.1.0.{i}\"] {{"))));
        assert!(!full.contains("more like"));
    }
}
