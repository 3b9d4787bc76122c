//! The `generated/` directory on disk: the files BcosBuilder would write (configs,
//! certificates, packages) in its layout, written atomically and reported file by file.
//!
//! I/O lives here; contents come from the pure `render` and `pki` modules. Rules: nothing is
//! written when the content on disk is already the same; CA and leaf certificates that exist
//! are kept, never overwritten (an existing CA is imported); private keys are mode 0600.

mod certs;
mod files;
mod generate;
mod guard;
mod layout;

use std::path::PathBuf;

pub use certs::{ensure_ca, ensure_leaf};
pub use files::{write_package, write_text_if_changed};
pub use generate::{PackageOutcome, generate, keys_needed, packages};
pub use guard::{PathError, inside};
pub use layout::Layout;

use crate::pki::PkiError;
use crate::render::package::PackageError;

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Created, or replaced because its content changed.
    Written,
    /// Existed and was left alone on purpose (CA, leaf certificates and keys).
    Kept,
    /// Existed with exactly the content it would have been given.
    Unchanged,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Written => "written",
            Outcome::Kept => "kept",
            Outcome::Unchanged => "unchanged",
        })
    }
}

/// One line of a report: a path and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub outcome: Outcome,
}

impl FileOutcome {
    fn new(path: impl Into<PathBuf>, outcome: Outcome) -> Self {
        FileOutcome {
            path: path.into(),
            outcome,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Pki { path: PathBuf, source: PkiError },
    #[error("{}: {source}", path.display())]
    Package { path: PathBuf, source: PackageError },
    #[error("{}: `{present}` exists but `{missing}` does not\nhint: restore `{missing}`, or remove `{present}` to create a new one (a new CA breaks SSL with nodes signed by the old one)", dir.display())]
    Incomplete {
        dir: PathBuf,
        present: String,
        missing: String,
    },
}
