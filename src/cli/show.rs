//! `tarsform show [PLANFILE] [--json]`: a saved plan, or the state.

use anyhow::Context;

use super::inputs;
use super::{Outcome, ShowArgs};
use crate::plan::saved;
use crate::view;

pub fn run(args: ShowArgs) -> anyhow::Result<Outcome> {
    if let Some(path) = &args.planfile {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the plan {}", path.display()))?;
        let plan = saved::from_file_text(&text).with_context(|| format!("{}", path.display()))?;
        let out = if args.json {
            let state_path = inputs::state_path(args.state.state.as_deref(), &plan.chain_id);
            // The plan's prior state fills `prior_state` and the unchanged resources;
            // without it the JSON still lists every change.
            let prior = inputs::read_checked_state(&state_path, Some(&plan.chain_id)).unwrap_or_else(|e| {
                eprintln!("warning: {e:#}; prior_state lists only the changed resources");
                None
            });
            view::json_with_state(&plan, prior.as_ref())
        } else {
            view::human(&plan, inputs::stdout_color())
        };
        print!("{out}");
        return Ok(Outcome::Success);
    }
    let (state_path, chain_id) = match &args.state.state {
        Some(p) => (p.clone(), None),
        None => {
            let topology = inputs::load_topology(&args.config.config).context(
                "finding the state file from the topology's chain id\nhint: pass --state PATH to show a state file directly",
            )?;
            let chain_id = topology.chain.chain_id;
            (inputs::state_path(None, &chain_id), Some(chain_id))
        }
    };
    let state = inputs::read_checked_state(&state_path, chain_id.as_deref())?;
    inputs::warn_on_journal(&state_path);
    match state {
        Some(s) if args.json => print!("{}", view::state::json(&s)),
        Some(s) => print!("{}", view::state::human(&s)),
        None => eprintln!(
            "No state at {}: nothing has been applied yet.",
            state_path.display()
        ),
    }
    Ok(Outcome::Success)
}
