//! Deterministic kill points for the crash harness (tests/crash_*.rs): the process
//! SIGKILLs itself right after the N-th journal entry (`TARSFORM_CRASH_AFTER_ENTRY=N`) or
//! the N-th state save (`TARSFORM_CRASH_AFTER_SAVE=N`, between a step's save and its
//! journal record). Unset, they cost one environment read per process.
//! `TARSFORM_FAIL_STATE_WRITES=N` or `N-M` makes the N-th (to M-th) write of a local state
//! file fail with ENOSPC instead, as a full disk does.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Called with the journal's entry count after each synced append.
pub fn after_journal_entry(entries: usize) {
    static AT: OnceLock<Option<usize>> = OnceLock::new();
    kill_if(at(&AT, "TARSFORM_CRASH_AFTER_ENTRY") == Some(entries));
}

/// Called after each successful state save.
pub fn after_state_save() {
    static AT: OnceLock<Option<usize>> = OnceLock::new();
    static SAVES: AtomicUsize = AtomicUsize::new(0);
    let at = at(&AT, "TARSFORM_CRASH_AFTER_SAVE");
    kill_if(at.is_some() && at == Some(SAVES.fetch_add(1, Ordering::SeqCst) + 1));
}

/// Called before each write of a local state file: the error a full disk would give, if
/// this write is one `TARSFORM_FAIL_STATE_WRITES` names.
pub fn refused_state_write() -> Option<std::io::Error> {
    static WINDOW: OnceLock<Option<(usize, usize)>> = OnceLock::new();
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let (first, last) = (*WINDOW.get_or_init(|| {
        let text = std::env::var("TARSFORM_FAIL_STATE_WRITES").ok()?;
        let (first, last) = text.split_once('-').unwrap_or((&text, &text));
        Some((first.trim().parse().ok()?, last.trim().parse().ok()?))
    }))?;
    let write = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    (first..=last)
        .contains(&write)
        .then(|| std::io::Error::from_raw_os_error(libc::ENOSPC))
}

fn at(cell: &OnceLock<Option<usize>>, variable: &str) -> Option<usize> {
    *cell.get_or_init(|| std::env::var(variable).ok().and_then(|v| v.parse().ok()))
}

fn kill_if(now: bool) {
    if now {
        #[cfg(unix)]
        // SAFETY: raising a signal on our own process has no memory-safety preconditions.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
        std::process::abort();
    }
}
