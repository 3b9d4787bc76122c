//! `tarsform graph`: the desired resource graph as DOT or Mermaid, or with `--plan
//! PLANFILE` a saved plan's changes as DOT.

use anyhow::{Context, bail};

use super::inputs;
use super::{GraphArgs, GraphFormat, Outcome};
use crate::graph;
use crate::plan::saved;
use crate::view;

pub fn run(args: GraphArgs) -> anyhow::Result<Outcome> {
    if let Some(path) = &args.plan {
        if args.format != GraphFormat::Dot {
            bail!("graph --plan draws DOT only\nhint: drop `--format` or pass `--format dot`");
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the plan {}", path.display()))?;
        let plan = saved::from_file_text(&text).with_context(|| format!("{}", path.display()))?;
        print!("{}", view::plan_dot(&plan, args.order));
        return Ok(Outcome::Success);
    }
    let topology = inputs::load_topology(&args.config.config)?;
    let g = graph::desired(&topology)
        .with_context(|| format!("building the resource graph of {}", args.config.config.display()))?;
    let text = match args.format {
        GraphFormat::Dot => view::graph::dot(&g),
        GraphFormat::Mermaid => view::graph::mermaid(&g),
    };
    print!("{text}");
    Ok(Outcome::Success)
}
