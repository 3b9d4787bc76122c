//! Commands whose implementation has not landed yet (scaffolding; removed as they land).

use super::{Command, Outcome};

pub fn run(command: Command) -> anyhow::Result<Outcome> {
    anyhow::bail!("this command is not available in this build yet: {command:?}")
}
