//! `tarsform restart [--target ADDR]`: a plan that restarts every started node in scope,
//! one at a time per server (rolling), applied like any plan, with the health gate.
//! It refuses to run while the topology has other pending changes.

use anyhow::bail;
use clap::Args;

use super::apply::{Request, execute};
use super::{ConfigArg, Outcome, RunTimeoutArg, StateArg, health};
use crate::addr::ResourceKind;
use crate::plan::{Action, Plan, RESTART_REQUESTED};

#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
    /// Restart only the nodes under these addresses (a server or a node).
    #[arg(long = "target", value_name = "ADDR")]
    pub target: Vec<String>,
    /// Do not ask for confirmation.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    #[command(flatten)]
    pub health: health::HealthArgs,
    #[command(flatten)]
    pub run_timeout: RunTimeoutArg,
}

pub fn run(args: RestartArgs) -> anyhow::Result<Outcome> {
    let targets = node_targets(&args.target);
    execute(Request {
        config: &args.config.config,
        state: args.state.state.as_deref(),
        targets: &targets,
        destroy: false,
        auto_approve: args.auto_approve,
        parallelism: 10,
        rollback: true,
        planfile: None,
        timing: args.health.timing(),
        run_timeout: args.run_timeout.timeout,
        switch_crypto: false,
        restart: true,
        json: false,
    })
}

/// The targets, plus `node["S"]` for each `server["S"]`: restarting a server restarts
/// its nodes.
fn node_targets(targets: &[String]) -> Vec<String> {
    let mut out = targets.to_vec();
    out.extend(
        targets
            .iter()
            .filter_map(|t| t.trim().strip_prefix("server["))
            .map(|keys| format!("node[{keys}")),
    );
    out
}

/// A restart plan holds requested restarts only: anything else pending (drift, a
/// topology change) goes through `plan` and `apply` first, so a restart never carries it.
pub(super) fn check_only_restarts(plan: &Plan) -> anyhow::Result<()> {
    let other: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| !matches!(c.action, Action::NoOp | Action::Read))
        .filter(|c| {
            !(c.address.kind() == ResourceKind::Node
                && c.action == Action::Update
                && c.attr_str("restart_reason") == Some(RESTART_REQUESTED))
        })
        .map(|c| format!("{} {}: {}", c.address, c.action.verb(), c.reason))
        .collect();
    if !other.is_empty() {
        bail!(
            "the topology has {} pending change(s), so a restart would carry them out:\n  - {}\nhint: run `tarsform plan` and `tarsform apply` first, or restart only what is settled with --target",
            other.len(),
            other.join("\n  - ")
        );
    }
    if plan.restarts().is_empty() {
        bail!(
            "no started node in scope to restart\nhint: check --target; nodes with state = \"stopped\" are not restarted"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_target_restarts_its_nodes() {
        let t = node_targets(&[
            r#"server["agencyABcosRpcService"]"#.into(),
            r#"node["x"]["10.0.0.1"]"#.into(),
        ]);
        assert_eq!(
            t,
            [
                r#"server["agencyABcosRpcService"]"#,
                r#"node["x"]["10.0.0.1"]"#,
                r#"node["agencyABcosRpcService"]"#
            ]
        );
    }
}
