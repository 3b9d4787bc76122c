//! `tarsform validate -c FILE`: check a topology file and summarise it.

use super::{Outcome, ValidateArgs};
use crate::config;

/// Prints the summary on success; every error (exit 1) otherwise.
pub fn run(args: ValidateArgs) -> anyhow::Result<Outcome> {
    let topology = super::inputs::load_topology(&args.config.config)?;
    println!("{}", config::summary(&topology));
    for warning in config::peer_warnings(&topology) {
        eprintln!("warning: {warning}");
    }
    Ok(Outcome::Success)
}
