//! `-c` given more than once: every command reads the files merged into one topology
//! (`config::merge`). clap keeps the first `-c` as the command's `config`; the later
//! ones are taken off the command line here, before parsing, and remembered for
//! [`files_for`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The first `-c` file and the ones after it, for this process.
static FILES: OnceLock<(PathBuf, Vec<PathBuf>)> = OnceLock::new();

/// Removes every `-c`/`--config` after the first from `args` (stopping at `--`) and
/// remembers them.
pub fn take_repeated(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut first: Option<PathBuf> = None;
    let mut extra = Vec::new();
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy().into_owned();
        if text == "--" {
            out.push(arg);
            out.extend(iter.by_ref());
            break;
        }
        let value: Option<(Vec<OsString>, PathBuf)> = if text == "-c" || text == "--config" {
            iter.next()
                .map(|v| (vec![arg.clone(), v.clone()], PathBuf::from(v)))
        } else if let Some(v) = text.strip_prefix("--config=") {
            Some((vec![arg.clone()], PathBuf::from(v)))
        } else {
            text.strip_prefix("-c")
                .filter(|v| !v.is_empty() && !text.starts_with("--"))
                .map(|v| (vec![arg.clone()], PathBuf::from(v)))
        };
        match value {
            Some((raw, path)) if first.is_none() => {
                first = Some(path);
                out.extend(raw);
            }
            Some((_, path)) => extra.push(path),
            None => out.push(arg),
        }
    }
    if let Some(first) = first
        && !extra.is_empty()
    {
        let _ = FILES.set((first, extra));
    }
    out
}

/// Every topology file to read for `path`: the later `-c` files when `path` is the first.
pub fn files_for(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    if let Some((first, extra)) = FILES.get()
        && first == path
    {
        files.extend(extra.iter().cloned());
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn later_config_flags_are_taken_off_in_every_spelling() {
        let out = take_repeated(os(&[
            "tarsform",
            "plan",
            "-c",
            "a.toml",
            "--config",
            "b.toml",
            "--config=c.toml",
            "-cd.toml",
            "--format",
            "json",
        ]));
        assert_eq!(out, os(&["tarsform", "plan", "-c", "a.toml", "--format", "json"]));
        assert_eq!(
            files_for(Path::new("a.toml")),
            vec![
                PathBuf::from("a.toml"),
                PathBuf::from("b.toml"),
                PathBuf::from("c.toml"),
                PathBuf::from("d.toml")
            ]
        );
        assert_eq!(files_for(Path::new("x.toml")), vec![PathBuf::from("x.toml")]);
    }
}
