//! Large plans made readable: changes that are the same but for the host they run on are
//! shown once, with one line for the rest.
//!
//! Two changes are "the same" when they share the action, the resource kind, the file or
//! purpose, the server, and every attribute and reason once the host's IP is blanked
//! out. That is checked, not assumed: a change that differs in any other way is shown in
//! full. Groups of at most [`THRESHOLD`] changes are shown in full too.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::Value;

use crate::plan::{Action, Plan, ResourceChange};

/// Groups larger than this are folded.
pub(crate) const THRESHOLD: usize = 20;

/// What the human view does with one change.
pub(crate) enum Shown {
    /// Printed in full.
    Full,
    /// Printed in full, then a line for the `others` that are the same change.
    FirstOf { others: Vec<usize> },
    /// Counted in a group's line.
    Folded,
}

/// For each change of `plan.changes` (by index), how it is shown. With `full`, all are.
pub(crate) fn fold(plan: &Plan, full: bool) -> Vec<Shown> {
    let mut groups: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    if !full {
        for (i, c) in plan.changes.iter().enumerate() {
            if c.action != Action::NoOp && c.address.ip().is_some() {
                groups.entry((scope(c), shape(c))).or_default().push(i);
            }
        }
    }
    let mut shown: Vec<Shown> = plan.changes.iter().map(|_| Shown::Full).collect();
    for members in groups.into_values().filter(|m| m.len() > THRESHOLD) {
        for &i in &members[1..] {
            shown[i] = Shown::Folded;
        }
        shown[members[0]] = Shown::FirstOf {
            others: members[1..].to_vec(),
        };
    }
    shown
}

/// `+ 49 more like config["s"]["1.2.3.4"]["config.ini"], the same change on 1.2.3.5 … 1.2.3.53`.
pub(crate) fn more_line(plan: &Plan, first: usize, others: &[usize]) -> String {
    let c = &plan.changes[first];
    let ip = |i: usize| plan.changes[i].address.ip().unwrap_or("?").to_string();
    let hosts = match others {
        [only] => ip(*only),
        [a, .., z] => format!("{} … {}", ip(*a), ip(*z)),
        [] => String::new(),
    };
    format!(
        "{} {} more like {}: the same change on {hosts} (`--full` lists each)",
        c.action.symbol(),
        thousands(others.len()),
        c.address
    )
}

/// `9,998`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Action, kind, file or purpose, and server.
fn scope(c: &ResourceChange) -> u64 {
    let mut h = DefaultHasher::new();
    c.action.hash(&mut h);
    c.address.kind().hash(&mut h);
    c.address.leaf_name().hash(&mut h);
    c.address.server_name().hash(&mut h);
    h.finish()
}

/// Everything shown of the change, with the host's IP blanked out of its reason and
/// one-line values (paths, `node`, `ip`). File contents count as they are: a file that
/// names its own host differs from host to host.
fn shape(c: &ResourceChange) -> u64 {
    let ip = c.address.ip().unwrap_or_default();
    let mut h = DefaultHasher::new();
    let blank = |text: &str, h: &mut DefaultHasher| {
        // Most values do not name the host: one quick search, not a split, for those.
        if !ip.is_empty() && !text.contains(ip) {
            return text.hash(h);
        }
        for part in text.split(ip) {
            part.hash(h);
        }
    };
    blank(&c.reason, &mut h);
    for side in [&c.before, &c.after] {
        side.is_some().hash(&mut h);
        for (name, value) in side.iter().flatten() {
            name.hash(&mut h);
            match value {
                Value::String(s) if s.contains('\n') || s.len() > 80 => s.hash(&mut h),
                Value::String(s) => blank(s, &mut h),
                other => blank(&other.to_string(), &mut h),
            }
        }
    }
    c.after_unknown.hash(&mut h);
    c.sensitive.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::addr::Address;
    use crate::view::fixtures::{attrs, change, plan};

    fn config(ip: &str, port: u16) -> ResourceChange {
        let content = format!("[rpc]\nlisten_port = {port}\n");
        let path = format!("generated/s/{ip}/config.ini");
        change(
            Address::config("s", ip, "config.ini"),
            Action::Create,
            None,
            Some(attrs(&[
                ("content", json!(content)),
                ("node", json!(ip)),
                ("local_path", json!(path)),
            ])),
        )
    }

    #[test]
    fn the_same_change_on_many_hosts_folds_and_a_different_one_does_not() {
        let mut changes: Vec<ResourceChange> =
            (1..=30).map(|i| config(&format!("10.0.0.{i}"), 20200)).collect();
        changes.push(config("10.0.1.1", 20201));
        let p = plan(changes);
        let shown = fold(&p, false);
        let Shown::FirstOf { others } = &shown[0] else {
            panic!("the first of 30 is shown with a group line")
        };
        assert_eq!(others.len(), 29);
        assert!(shown[1..30].iter().all(|s| matches!(s, Shown::Folded)));
        assert!(matches!(shown[30], Shown::Full), "another port is another change");
        assert_eq!(
            more_line(&p, 0, others),
            "+ 29 more like config[\"s\"][\"10.0.0.1\"][\"config.ini\"]: the same change on 10.0.0.2 … 10.0.0.30 (`--full` lists each)"
        );
        assert!(fold(&p, true).iter().all(|s| matches!(s, Shown::Full)));
    }

    #[test]
    fn a_file_naming_every_host_is_the_same_on_each() {
        let ips: Vec<String> = (1..=25).map(|i| format!("10.0.0.{i}")).collect();
        let nodes_json = format!("{{\"nodes\": {:?}}}", ips);
        let changes = ips
            .iter()
            .map(|ip| {
                change(
                    Address::config("s", ip, "nodes.json"),
                    Action::Create,
                    None,
                    Some(attrs(&[("content", json!(nodes_json)), ("node", json!(ip))])),
                )
            })
            .collect();
        let shown = fold(&plan(changes), false);
        assert!(matches!(&shown[0], Shown::FirstOf { others } if others.len() == 24));
    }

    #[test]
    fn twenty_alike_are_all_shown() {
        let p = plan(
            (1..=THRESHOLD)
                .map(|i| config(&format!("10.0.0.{i}"), 1))
                .collect(),
        );
        assert!(fold(&p, false).iter().all(|s| matches!(s, Shown::Full)));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(9998), "9,998");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
