use std::process::ExitCode;

/// Plans of thousands of nodes are made of many small strings and maps: mimalloc
/// allocates and frees them much faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    restore_default_sigpipe();
    tarsform::cli::main()
}

/// Rust ignores SIGPIPE, so `tarsform plan | head` would panic on the closed pipe.
/// Restore the default: the process ends quietly when its reader goes away.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a
    // valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
