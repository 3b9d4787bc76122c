//! `tarsform status`: a live view of the servers and nodes from Tars, compared with the
//! state, as a table or as a stable JSON document (`--json`). Read only: no lock.

use super::inputs;
use super::tars_client::observe_blocking;
use super::{Outcome, StatusArgs};
use crate::apply::refresh::status::{self, NodeStatus, StatusReport};

pub fn run(args: StatusArgs) -> anyhow::Result<Outcome> {
    let topology = inputs::load_topology(&args.config.config)?;
    let location = super::backend::location(args.state.state.as_deref(), &args.config.config, &topology)?;
    let state = inputs::read_checked_state(&location, Some(&topology.chain.chain_id))?;
    let observed = observe_blocking(&topology, state.as_ref())?;
    let report = status::build(&topology, state.as_ref(), &observed);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    let down: Vec<String> = report
        .servers
        .iter()
        .flat_map(|s| s.nodes.iter().map(move |n| (s, n)))
        .filter(|(_, n)| n.managed && !n.is_active() && !n.stopped_by_config)
        .map(|(s, n)| format!("node[\"{}\"][\"{}\"]", s.server, n.ip))
        .collect();
    if !down.is_empty() {
        anyhow::bail!(
            "{} managed node(s) not active: {}\nhint: `tarsform plan` shows them under \"Objects have changed outside tarsform\" and plans the start",
            down.len(),
            down.join(", ")
        );
    }
    Ok(Outcome::Success)
}

const HEADER: [&str; 9] = [
    "SERVER", "NODE", "SETTING", "PRESENT", "PATCH", "PORT", "CONFIG", "TARSNODE", "NOTE",
];

fn table(report: &StatusReport) -> String {
    let mut rows: Vec<[String; 9]> = vec![HEADER.map(String::from)];
    for server in &report.servers {
        for node in &server.nodes {
            rows.push(row(&server.server, node));
        }
    }
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push('\n');
    for server in &report.servers {
        out.push_str(&format!(
            "{}: {}/{} nodes active\n",
            server.server, server.active, server.total
        ));
    }
    let alive = report.tarsnodes.iter().filter(|t| t.alive).count();
    out.push_str(&format!("tarsnodes: {alive}/{} alive", report.tarsnodes.len()));
    let down: Vec<&str> = report
        .tarsnodes
        .iter()
        .filter(|t| !t.alive)
        .map(|t| t.ip.as_str())
        .collect();
    if !down.is_empty() {
        out.push_str(&format!(" (down: {})", down.join(", ")));
    }
    out.push('\n');
    out.push_str(GLOSSARY_HINT);
    out
}

/// Where the table's Tars words (SETTING, PRESENT, PATCH, tarsnode) are explained.
const GLOSSARY_HINT: &str =
    "SETTING = state asked for, PRESENT = state Tars sees; more words in docs/glossary.md\n";

fn row(server: &str, node: &NodeStatus) -> [String; 9] {
    let text = |v: &Option<String>| match v.as_deref() {
        None | Some("") => "-".to_string(),
        Some(s) => s.to_string(),
    };
    let mut notes = Vec::new();
    if !node.in_tars {
        notes.push("not in Tars");
    }
    if node.in_tars && !node.managed {
        notes.push(if node.declared {
            "not in state: run `tarsform import`"
        } else {
            "not managed"
        });
    }
    if node.stopped_by_config {
        notes.push("stopped (state = \"stopped\")");
    }
    if node.managed && !node.declared {
        notes.push("not in the topology");
    }
    [
        server.to_string(),
        node.ip.clone(),
        text(&node.setting_state),
        text(&node.present_state),
        text(&node.patch_version),
        node.adapter_port.map_or("-".into(), |p| p.to_string()),
        node.config.as_str().to_string(),
        match node.tarsnode_alive {
            Some(true) => "alive".into(),
            Some(false) => "down".into(),
            None => "unknown".into(),
        },
        notes.join("; "),
    ]
    // Values come from TarsWeb: one cell never spans lines or restyles the terminal.
    .map(|cell| crate::tars::escape_unsafe(&cell))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::refresh::status::ConfigHealth;

    #[test]
    fn a_forged_state_from_tars_stays_in_its_cell() {
        let node = NodeStatus {
            ip: "172.25.0.5".into(),
            declared: true,
            managed: true,
            in_tars: true,
            server_id: Some(1),
            setting_state: Some("active".into()),
            present_state: Some("active\nagencyX  172.25.0.9  active\u{1b}[2J".into()),
            patch_version: Some("12\u{202e}".into()),
            adapter_port: None,
            stopped_by_config: false,
            tarsnode_alive: Some(true),
            config: ConfigHealth::Ok,
            configs: Default::default(),
        };
        let cells = row("agencyABcosRpcService", &node);
        assert_eq!(cells[3], "active\\nagencyX  172.25.0.9  active\\u{1b}[2J");
        assert_eq!(cells[4], "12\\u{202e}");
    }
}
