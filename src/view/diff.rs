//! Unified diffs of config file contents (crate `similar`).

use similar::TextDiff;

/// A unified diff of `old` → `new` with three lines of context, without file headers.
/// Every line ends with a newline; a missing final newline is marked like `diff` does.
pub(crate) fn unified(old: &str, new: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        out.push_str(&format!("{}\n", hunk.header()));
        for change in hunk.iter_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => ' ',
            };
            out.push(sign);
            out.push_str(change.value());
            if change.missing_newline() {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_only_the_changed_line_with_context() {
        let old = "a\nb\nlisten_port = 10200\nc\n";
        let new = "a\nb\nlisten_port = 10201\nc\n";
        assert_eq!(
            unified(old, new),
            "@@ -1,4 +1,4 @@\n a\n b\n-listen_port = 10200\n+listen_port = 10201\n c\n"
        );
        assert_eq!(unified("x", "x"), "");
        assert!(unified("{}", "{\"a\":1}").contains("\\ No newline at end of file"));
    }
}
