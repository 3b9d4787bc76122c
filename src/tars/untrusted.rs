//! Text that came from TarsWeb (or a proxy in front of it), made safe to show.
//!
//! A hostile or broken TarsWeb can echo the request back (with a private key in it),
//! send ANSI escapes, bidi overrides and newlines that forge output lines, or a
//! megabyte of message. [`Redactor::shown`] removes every secret this run holds or
//! sent (the token, PEM private-key blocks, sensitive file contents), escapes control
//! and bidi characters, and bounds the length.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::secret::{REDACTED, Secret};

/// The longest message (e.g. `err_msg`) kept in an error, in characters.
pub const MESSAGE_MAX_CHARS: usize = 2048;

/// Only this much of a text is searched for secrets before the final cut.
const WINDOW_CHARS: usize = 64 * 1024;

/// Lines of a sensitive file shorter than this are not redacted on their own.
const MIN_LINE_CHARS: usize = 16;

/// What marks a PEM private-key block (`-----BEGIN [EC |RSA ]PRIVATE KEY-----`).
const PRIVATE_KEY_MARKER: &str = "PRIVATE KEY";

/// Removes the secrets of one run from text that is about to be shown.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    token: Secret,
    /// Secrets known up front besides the token (cipher keys).
    secrets: Arc<Mutex<Vec<Secret>>>,
    /// Private keys the run sent: whole texts, JSON-escaped forms and long lines.
    patterns: Arc<Mutex<BTreeSet<String>>>,
}

impl Redactor {
    pub fn new(token: Secret) -> Self {
        Redactor {
            token,
            secrets: Arc::default(),
            patterns: Arc::default(),
        }
    }

    /// Adds a secret known before any call (e.g. a `cipher_data_key`).
    pub fn add_secret(&self, secret: &Secret) {
        if !secret.is_empty() {
            self.secrets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(secret.clone());
        }
    }

    /// Remembers every string in an outgoing body that holds a private key: its whole
    /// text, its JSON-escaped form, and each of its longer lines.
    pub fn remember_sent(&self, value: &Value) {
        match value {
            Value::String(text) => self.remember_text(text),
            Value::Array(items) => items.iter().for_each(|v| self.remember_sent(v)),
            Value::Object(map) => map.values().for_each(|v| self.remember_sent(v)),
            _ => {}
        }
    }

    pub fn remember_text(&self, text: &str) {
        if !text.contains(PRIVATE_KEY_MARKER) {
            return;
        }
        let mut patterns = self.lock();
        patterns.insert(text.to_string());
        let escaped = Value::from(text).to_string();
        patterns.insert(escaped[1..escaped.len() - 1].to_string());
        for line in text.lines().map(str::trim) {
            if line.chars().count() >= MIN_LINE_CHARS && !line.starts_with("-----") {
                patterns.insert(line.to_string());
            }
        }
    }

    /// `text` with secrets redacted, control and bidi characters escaped, cut to
    /// `max_chars` characters.
    pub fn shown(&self, text: &str, max_chars: usize) -> String {
        let window = cut_chars(text, WINDOW_CHARS);
        let redacted = self.redact(window);
        cut(&escape_unsafe(&redacted), max_chars)
    }

    /// `text` with the token, known secrets and PEM private-key blocks replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = redact_private_keys(text);
        // Longest first, so a whole file is replaced before its lines.
        let mut patterns: Vec<String> = self.lock().iter().cloned().collect();
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for pattern in patterns {
            if out.contains(pattern.as_str()) {
                out = out.replace(pattern.as_str(), REDACTED);
            }
        }
        let secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for secret in secrets.iter().chain([&self.token]) {
            out = secret.redact_in(&out);
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.patterns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Replaces each PEM private-key block, from `-----BEGIN` to its `-----END …-----`
/// (or to the end of the text when the block was cut), with `(sensitive)`.
pub fn redact_private_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN") {
        let header_end = rest[begin + 10..]
            .find("-----")
            .map(|i| begin + 10 + i + 5)
            .unwrap_or(rest.len());
        let header = &rest[begin..header_end];
        // A header that runs into the next line was cut or forged: judge its first line.
        if !header.lines().next().unwrap_or("").contains(PRIVATE_KEY_MARKER) {
            out.push_str(&rest[..header_end]);
            rest = &rest[header_end..];
            continue;
        }
        out.push_str(&rest[..begin]);
        out.push_str(REDACTED);
        rest = match rest[header_end..].find("-----END") {
            Some(i) => {
                let end = header_end + i + 8;
                match rest[end..].find("-----") {
                    Some(j) => &rest[end + j + 5..],
                    None => "",
                }
            }
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Escapes control characters (newlines and ANSI escapes included), bidi controls and
/// invisible format characters as `\n`, `\u{1b}`, `\u{202e}`, so one message stays
/// one line and cannot restyle or reorder the terminal.
pub fn escape_unsafe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Control characters, bidi controls and zero-width format characters.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `text` cut to `max` characters, saying how much was left out.
pub fn cut(text: &str, max: usize) -> String {
    let kept = cut_chars(text, max);
    if kept.len() == text.len() {
        return text.to_string();
    }
    let left = text[kept.len()..].chars().count();
    format!("{kept}… ({left} more characters)")
}

fn cut_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";

    #[test]
    fn pem_private_key_blocks_are_replaced_whole_or_cut() {
        let text = format!("before {KEY} after");
        assert_eq!(redact_private_keys(&text), "before (sensitive)\n after");
        let cut_block = "x -----BEGIN EC PRIVATE KEY-----\nMIIEvQIBADAN";
        assert_eq!(redact_private_keys(cut_block), "x (sensitive)");
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert_eq!(redact_private_keys(cert), cert);
    }

    #[test]
    fn sent_key_files_are_redacted_raw_escaped_and_by_line() {
        let r = Redactor::new(Secret::new("token-123456"));
        r.remember_sent(&json!({"filename": "ssl.key", "config": KEY}));
        let echoed = json!({"config": KEY}).to_string();
        let shown = r.shown(&echoed, 4096);
        assert!(!shown.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "{shown}");
        // A proxy that kept only the key's middle line.
        let shown = r.shown("bad body: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", 4096);
        assert_eq!(shown, "bad body: (sensitive)");
        assert_eq!(r.shown("ticket=token-123456", 100), "ticket=(sensitive)");
    }

    #[test]
    fn control_bidi_and_ansi_are_escaped_and_length_bounded() {
        let r = Redactor::default();
        let shown = r.shown("a\nerror: forged\u{1b}[31mred\u{202e}txt", 4096);
        assert_eq!(shown, "a\\nerror: forged\\u{1b}[31mred\\u{202e}txt");
        let long = "x".repeat(MESSAGE_MAX_CHARS * 10);
        let shown = r.shown(&long, MESSAGE_MAX_CHARS);
        assert!(shown.chars().count() < MESSAGE_MAX_CHARS + 40, "{}", shown.len());
        assert!(shown.ends_with("more characters)"));
    }
}
