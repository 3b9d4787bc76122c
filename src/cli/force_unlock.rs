//! `tarsform force-unlock LOCK_ID`: clears the lock record a killed run left behind.
//!
//! Refused when the id differs or a live process still holds the OS lock.

use super::state::state_path;
use super::{ForceUnlockArgs, Outcome};
use crate::state::force_unlock;

pub fn run(args: ForceUnlockArgs) -> anyhow::Result<Outcome> {
    let path = state_path(&args.state, &args.config)?;
    let info = force_unlock(&path, &args.lock_id)?;
    println!(
        "Lock {} on `{}` removed (it was taken by {} for `{}`, pid {}, at {}).",
        info.id,
        path.display(),
        info.who,
        info.operation,
        info.pid,
        info.created
    );
    Ok(Outcome::Success)
}
