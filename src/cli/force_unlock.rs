//! `tarsform force-unlock LOCK_ID`: clears the lock record a killed run left behind.
//!
//! Refused when the id differs or a live process still holds the lock (the OS file
//! lock, or the database session lock).

use super::state::state_location;
use super::{ForceUnlockArgs, Outcome};

pub fn run(args: ForceUnlockArgs) -> anyhow::Result<Outcome> {
    let location = state_location(&args.state, &args.config)?;
    let info = location.open()?.force_unlock(&args.lock_id)?;
    println!(
        "Lock {} on `{location}` removed (it was taken by {} for `{}`, pid {}, at {}).",
        info.id, info.who, info.operation, info.pid, info.created
    );
    Ok(Outcome::Success)
}
