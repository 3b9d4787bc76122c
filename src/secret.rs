//! A string that must never be printed: the Tars token, private keys.
//!
//! `Secret` has no `Display`; its `Debug` prints `(sensitive)`. Call
//! [`Secret::expose`] only where the value leaves the process (an HTTP query, a key file).

use serde::{Deserialize, Serialize};

/// The text shown wherever a secret would have been.
pub const REDACTED: &str = "(sensitive)";

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

    /// Replaces every occurrence of this secret in `text` with `(sensitive)`.
    pub fn redact_in(&self, text: &str) -> String {
        if self.is_empty() {
            text.to_string()
        } else {
            text.replace(self.0.as_str(), REDACTED)
        }
    }
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
}
