//! `tarsform show [PLANFILE] [--json]`: a saved plan, or the state; `--apply-result
//! EVENTS` renders an `apply --json` stream as a pull-request comment.

use anyhow::Context;

use super::inputs;
use super::{Outcome, ShowArgs};
use crate::plan::saved;
use crate::state::StateLocation;
use crate::view;

pub fn run(args: ShowArgs) -> anyhow::Result<Outcome> {
    if let Some(path) = &args.apply_result {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading the apply events from stdin")?
        } else {
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the apply events {}", path.display()))?
        };
        print!("{}", view::markdown_apply(&text));
        return Ok(Outcome::Success);
    }
    if let Some(path) = &args.planfile {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the plan {}", path.display()))?;
        let plan = saved::from_file_text(&text).with_context(|| format!("{}", path.display()))?;
        let out = if args.json {
            let state_path = inputs::state_path(args.state.state.as_deref(), &plan.chain_id);
            // The plan's prior state fills `prior_state` and the unchanged resources;
            // without it the JSON still lists every change.
            let prior = inputs::read_checked_state(&StateLocation::Local(state_path), Some(&plan.chain_id))
                .unwrap_or_else(|e| {
                    eprintln!("warning: {e:#}; prior_state lists only the changed resources");
                    None
                });
            view::json_with_state(&plan, prior.as_ref())
        } else if args.full {
            view::human_full(&plan, inputs::stdout_color())
        } else {
            view::human(&plan, inputs::stdout_color())
        };
        print!("{out}");
        return Ok(Outcome::Success);
    }
    let (location, chain_id) = match &args.state.state {
        Some(p) => (StateLocation::Local(p.clone()), None),
        None => {
            let topology = inputs::load_topology(&args.config.config).context(
                "finding the state file from the topology's chain id\nhint: pass --state PATH to show a state file directly",
            )?;
            let location = super::backend::location(None, &args.config.config, &topology)?;
            (location, Some(topology.chain.chain_id))
        }
    };
    let state = inputs::read_checked_state(&location, chain_id.as_deref())?;
    super::backend::warn_on_journal(&location);
    match state {
        Some(s) if args.json => print!("{}", view::state::json(&s)),
        Some(s) => print!("{}", view::state::human(&s)),
        None => eprintln!("No state at {location}: nothing has been applied yet."),
    }
    Ok(Outcome::Success)
}
