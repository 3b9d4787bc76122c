//! Runs a command with its stdout and stderr sent to a file, so the demo can show the
//! lines that tell the story and leave the rest to `--verbose`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;

use anyhow::Context;

/// Calls `f` with file descriptors 1 and 2 pointing at a temporary file; returns its
/// result and everything it printed, in order.
pub fn captured<T>(f: impl FnOnce() -> T) -> anyhow::Result<(T, String)> {
    let mut file = tempfile::tempfile().context("creating a file for the command's output")?;
    flush();
    let saved = [dup(1)?, dup(2)?];
    redirect(file.as_raw_fd(), 1)?;
    redirect(file.as_raw_fd(), 2)?;
    let result = f();
    flush();
    redirect(saved[0], 1)?;
    redirect(saved[1], 2)?;
    // SAFETY: both descriptors came from `dup` above and are closed once.
    unsafe {
        libc::close(saved[0]);
        libc::close(saved[1]);
    }
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))
        .context("rewinding the captured output")?;
    file.read_to_string(&mut text)
        .context("reading the captured output")?;
    Ok((result, text))
}

fn flush() {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
}

fn dup(fd: i32) -> anyhow::Result<i32> {
    // SAFETY: dup has no memory effects; a negative result is an error.
    let copy = unsafe { libc::dup(fd) };
    if copy < 0 {
        return Err(std::io::Error::last_os_error()).context(format!("duplicating descriptor {fd}"));
    }
    Ok(copy)
}

fn redirect(from: i32, to: i32) -> anyhow::Result<()> {
    // SAFETY: dup2 has no memory effects; a negative result is an error.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(std::io::Error::last_os_error()).context(format!("redirecting descriptor {to}"));
    }
    Ok(())
}
