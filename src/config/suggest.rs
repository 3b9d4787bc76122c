//! "Did you mean …?" for misspelt keys: the closest known key by edit distance. Pure.

/// The known key closest to `unknown`, if it is close enough to be a likely typo.
pub fn closest<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    let unknown_lower = unknown.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (levenshtein(&unknown_lower, k), *k))
        .filter(|(d, k)| *d <= (k.chars().count() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The classic edit distance (insertions, deletions, substitutions), by characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur.push(substitute.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("listen_port", "listen_port"), 0);
    }

    #[test]
    fn suggests_only_close_keys() {
        let known = ["listen_ip", "listen_port", "deploy_ip"];
        assert_eq!(closest("listen_prot", &known), Some("listen_port"));
        assert_eq!(closest("Deploy_IP", &known), Some("deploy_ip"));
        assert_eq!(closest("colour", &known), None);
    }
}
