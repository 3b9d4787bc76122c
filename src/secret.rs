//! A string that must never be printed: the Tars token, private keys.
//!
//! `Secret` has no `Display`; its `Debug` prints `(sensitive)`. Call
//! [`Secret::expose`] only where the value leaves the process (an HTTP query, a key file).

use serde::{Deserialize, Serialize};

/// The text shown wherever a secret would have been.
pub const REDACTED: &str = "(sensitive)";

/// Tokens shorter than this are refused: they cannot be told apart from other text.
pub const MIN_TOKEN_CHARS: usize = 8;

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value. Use it only to send or store the secret where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// Whether this secret is long enough to be told apart from other text.
    pub fn is_too_short(&self) -> bool {
        !self.is_empty() && self.0.chars().count() < MIN_TOKEN_CHARS
    }

    /// Replaces every occurrence of this secret in `text` with `(sensitive)`. A secret
    /// shorter than [`MIN_TOKEN_CHARS`] is replaced only where it stands alone (not
    /// inside a longer word), so redaction never garbles other text.
    pub fn redact_in(&self, text: &str) -> String {
        if self.is_empty() {
            text.to_string()
        } else if self.is_too_short() {
            replace_standalone(text, &self.0)
        } else {
            text.replace(self.0.as_str(), REDACTED)
        }
    }
}

/// Replaces each `needle` in `text` that no letter or digit touches on either side.
fn replace_standalone(text: &str, needle: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(at) = rest.find(needle) {
        let prev = if at == 0 {
            before
        } else {
            rest[..at].chars().next_back()
        };
        let after = rest[at + needle.len()..].chars().next();
        let end = at + needle.len();
        if word(prev) || word(after) {
            out.push_str(&rest[..end]);
        } else {
            out.push_str(&rest[..at]);
            out.push_str(REDACTED);
        }
        before = rest[..end].chars().next_back();
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("eyJhbGciOi.token");
        assert_eq!(format!("{s:?}"), "(sensitive)");
        assert_eq!(
            s.redact_in("url?ticket=eyJhbGciOi.token&x=1"),
            "url?ticket=(sensitive)&x=1"
        );
    }

    #[test]
    fn a_short_secret_never_garbles_other_text() {
        let t = Secret::new("t");
        assert!(t.is_too_short());
        assert_eq!(
            t.redact_in("Plan: 7 to add, 0 to change. ticket=t&x"),
            "Plan: 7 to add, 0 to change. ticket=(sensitive)&x"
        );
        assert_eq!(t.redact_in("t t"), "(sensitive) (sensitive)");
        assert!(!Secret::new("12345678").is_too_short());
    }
}
