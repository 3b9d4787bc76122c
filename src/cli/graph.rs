//! `tarsform graph`: the desired resource graph as DOT or Mermaid.

use anyhow::Context;

use super::inputs;
use super::{GraphArgs, GraphFormat, Outcome};
use crate::graph;
use crate::view;

pub fn run(args: GraphArgs) -> anyhow::Result<Outcome> {
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
