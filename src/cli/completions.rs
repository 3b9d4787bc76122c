//! `tarsform completions SHELL`: the shell completion script, generated from the clap
//! definitions so it always matches the commands and flags of this build.

use clap::CommandFactory;

use super::{Cli, CompletionsArgs, Outcome};

/// Writes the script for `args.shell` to stdout.
pub fn run(args: CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    let name = command.get_name().to_string();
    clap_complete::generate(args.shell, &mut command, name, &mut std::io::stdout());
    Ok(Outcome::Success)
}
