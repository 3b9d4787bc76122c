//! A plan as DOT: clusters per agency, inside them one per host; each server and node
//! coloured by its action, with short labels (a node's certificates and config files are
//! counted in its label, not drawn). With `order`, edges show what apply does first.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::addr::{Address, ResourceKind};
use crate::config::ServiceKind;
use crate::plan::{Action, Plan, ResourceChange};

/// The drawn box a change belongs to: a node's files fold into the node.
fn drawn(address: &Address) -> Address {
    address.owning_node().unwrap_or_else(|| address.clone())
}

/// `agencyA` and `rpc` for `agencyABcosRpcService`.
fn agency_and_kind(server: &str) -> (&str, &str) {
    ServiceKind::ALL
        .into_iter()
        .find_map(|kind| {
            server
                .strip_suffix(kind.binary_name())
                .map(|agency| (agency, kind.as_str()))
        })
        .unwrap_or((server, "server"))
}

fn color(action: Action) -> &'static str {
    match action {
        Action::Create => "#c8f7c5",
        Action::Update => "#ffe4a8",
        Action::Replace | Action::Delete => "#f7c5c5",
        Action::Read | Action::Import => "#c5dcf7",
        Action::NoOp => "#eeeeee",
    }
}

/// The strongest action among a box's changes (a node created with its files: create).
fn rank(action: Action) -> u8 {
    match action {
        Action::NoOp => 0,
        Action::Read => 1,
        Action::Import => 2,
        Action::Update => 3,
        Action::Create => 4,
        Action::Replace => 5,
        Action::Delete => 6,
    }
}

struct Drawn<'a> {
    action: Action,
    files: usize,
    changes: Vec<&'a ResourceChange>,
}

/// An agency's servers, and its nodes by host.
type Agency<'a> = (Vec<&'a Address>, BTreeMap<&'a str, Vec<&'a Address>>);

pub fn plan_dot(plan: &Plan, order: bool) -> String {
    let mut boxes: BTreeMap<Address, Drawn<'_>> = BTreeMap::new();
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        let b = boxes.entry(drawn(&c.address)).or_insert(Drawn {
            action: Action::NoOp,
            files: 0,
            changes: Vec::new(),
        });
        if c.address.owning_node().is_some() {
            b.files += 1;
        }
        b.changes.push(c);
    }
    // A box shows its own change's action, or the strongest of its files' (a node whose
    // config changes is updated).
    for (a, b) in boxes.iter_mut() {
        let own = b.changes.iter().find(|c| &c.address == a).map(|c| c.action);
        b.action = own.unwrap_or_else(|| {
            b.changes
                .iter()
                .map(|c| c.action)
                .max_by_key(|x| rank(*x))
                .unwrap_or(Action::NoOp)
        });
    }
    let ids: BTreeMap<&Address, String> = boxes
        .keys()
        .enumerate()
        .map(|(i, a)| (a, format!("r{i}")))
        .collect();
    // agency → host → boxes; servers sit in their agency, the rest outside.
    let mut agencies: BTreeMap<&str, Agency<'_>> = BTreeMap::new();
    let mut loose: Vec<&Address> = Vec::new();
    for a in boxes.keys() {
        match (a.kind(), a.server_name(), a.ip()) {
            (ResourceKind::Node, Some(server), Some(ip)) => {
                let (agency, _) = agency_and_kind(server);
                agencies
                    .entry(agency)
                    .or_default()
                    .1
                    .entry(ip)
                    .or_default()
                    .push(a);
            }
            (ResourceKind::Server, Some(server), _) => {
                agencies.entry(agency_and_kind(server).0).or_default().0.push(a);
            }
            _ => loose.push(a),
        }
    }
    let mut out = String::from(
        "digraph plan {\n  rankdir = \"LR\";\n  compound = true;\n  node [shape = box, style = \"rounded,filled\", fontname = \"Helvetica\"];\n",
    );
    let node_line = |out: &mut String, indent: &str, a: &Address| {
        let b = &boxes[a];
        let _ = writeln!(
            out,
            "{indent}{} [label = \"{}\", fillcolor = \"{}\", tooltip = \"{}\"];",
            ids[a],
            escape(&label(a, b)),
            color(b.action),
            escape(&a.to_string())
        );
    };
    for (ci, (agency, (servers, hosts))) in agencies.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_a{ci} {{\n    label = \"{}\";",
            escape(agency)
        );
        for a in servers {
            node_line(&mut out, "    ", a);
        }
        for (hi, (ip, nodes)) in hosts.iter().enumerate() {
            let _ = writeln!(
                out,
                "    subgraph cluster_a{ci}_h{hi} {{\n      label = \"{}\";",
                escape(ip)
            );
            for a in nodes {
                node_line(&mut out, "      ", a);
            }
            out.push_str("    }\n");
        }
        out.push_str("  }\n");
    }
    for a in &loose {
        node_line(&mut out, "  ", a);
    }
    if order {
        let mut edges: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (a, b) in &boxes {
            for c in &b.changes {
                for dep in &c.depends_on {
                    let Some(from) = ids.get(&drawn(dep)) else {
                        continue;
                    };
                    let to = &ids[a];
                    if from != to {
                        edges.insert((from.as_str(), to.as_str()));
                    }
                }
            }
        }
        for (from, to) in edges {
            let _ = writeln!(out, "  {from} -> {to};");
        }
    }
    out.push_str("}\n");
    out
}

/// `rpc 172.25.0.5\n+ create (5 files)`, `tarsnode 172.25.0.5\n<= read`.
fn label(a: &Address, b: &Drawn<'_>) -> String {
    let what = match (a.kind(), a.server_name(), a.ip()) {
        (ResourceKind::Node, Some(server), Some(ip)) => format!("{} {ip}", agency_and_kind(server).1),
        (ResourceKind::Server, Some(server), _) => format!("{} server", agency_and_kind(server).1),
        _ => a.to_string().replace('"', ""),
    };
    let verb = match b.action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Read => "read",
        Action::Import => "import",
        Action::NoOp => "no-op",
    };
    let files = match b.files {
        0 => String::new(),
        n => format!(" ({n} files)"),
    };
    format!("{what}\n{} {verb}{files}", b.action.symbol())
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
