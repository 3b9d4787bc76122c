//! Terraform spells long flags with one dash (`-detailed-exitcode`, `-out=FILE`); clap
//! would read them as bundles of short flags and fail with a puzzling message. Before
//! parsing, a single-dash word is rewritten to its double-dash form, so a flag tarsform
//! has works and one it lacks fails naming `--flag`.

use std::ffi::OsString;

/// Flags Terraform users type that begin with a letter tarsform uses as a short flag
/// (`-c`, `-o`); other single-dash words need no list.
const TERRAFORM_FLAGS_ON_SHORT_LETTERS: &[&str] = &["out", "chdir", "compact-warnings"];

/// Our short flags: `-cFILE` and `-oDIR` keep their meaning.
const SHORT_FLAGS: &[char] = &['c', 'o'];

/// Rewrites `-name` and `-name=value` to `--name…` up to a bare `--`.
pub fn to_double_dash(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    if let Some(program) = iter.next() {
        out.push(program);
    }
    for arg in iter.by_ref() {
        if arg == "--" {
            out.push(arg);
            break;
        }
        match arg.to_str().and_then(rewrite) {
            Some(long) => out.push(long.into()),
            None => out.push(arg),
        }
    }
    out.extend(iter);
    out
}

fn rewrite(arg: &str) -> Option<String> {
    let word = arg.strip_prefix('-').filter(|w| !w.starts_with('-'))?;
    let name = word.split_once('=').map_or(word, |(name, _)| name);
    let mut chars = name.chars();
    let first = chars.next()?;
    let is_word = first.is_ascii_lowercase()
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !is_word {
        return None;
    }
    if SHORT_FLAGS.contains(&first) && !TERRAFORM_FLAGS_ON_SHORT_LETTERS.contains(&name) {
        return None;
    }
    Some(format!("-{arg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Vec<String> {
        to_double_dash(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn terraform_spellings_become_double_dash() {
        assert_eq!(
            run(&[
                "tf",
                "plan",
                "-detailed-exitcode",
                "-out=p.json",
                "-target=ca[\"rpc\"]"
            ]),
            [
                "tf",
                "plan",
                "--detailed-exitcode",
                "--out=p.json",
                "--target=ca[\"rpc\"]"
            ]
        );
        assert_eq!(
            run(&["tf", "apply", "-auto-approve"]),
            ["tf", "apply", "--auto-approve"]
        );
        assert_eq!(
            run(&["tf", "plan", "-refresh=false"]),
            ["tf", "plan", "--refresh=false"]
        );
    }

    #[test]
    fn short_flags_with_attached_values_keep_their_meaning() {
        assert_eq!(run(&["tf", "plan", "-cconf.toml"]), ["tf", "plan", "-cconf.toml"]);
        assert_eq!(run(&["tf", "plan", "-cconf"]), ["tf", "plan", "-cconf"]);
        assert_eq!(run(&["tf", "render", "-ogen"]), ["tf", "render", "-ogen"]);
        assert_eq!(
            run(&["tf", "plan", "-c", "x.toml"]),
            ["tf", "plan", "-c", "x.toml"]
        );
    }

    #[test]
    fn nothing_after_a_bare_double_dash_changes() {
        assert_eq!(
            run(&["tf", "import", "--", "-out"]),
            ["tf", "import", "--", "-out"]
        );
    }
}
