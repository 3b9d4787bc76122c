//! An error as JSON diagnostics, shaped like `terraform validate -json`, for commands
//! whose stdout is JSON (`plan --format json`, `show --json`, `status --json`): a
//! pipeline that parses stdout reads the failure instead of choking on nothing.

use serde_json::json;

use super::{Command, PlanFormat};

/// How a command's errors go to stdout besides the message on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonErrors {
    /// Plain text on stderr only.
    None,
    /// One diagnostics document (stdout is one JSON document).
    Document,
    /// One `diagnostic` line (stdout is a stream of JSON lines: `apply --json`).
    Stream,
}

pub fn wanted(command: &Command) -> JsonErrors {
    match command {
        Command::Plan(a) if a.format == PlanFormat::Json => JsonErrors::Document,
        Command::Show(a) if a.json => JsonErrors::Document,
        Command::Status(a) if a.json => JsonErrors::Document,
        Command::Apply(a) if a.json => JsonErrors::Stream,
        Command::Destroy(a) if a.json => JsonErrors::Stream,
        _ => JsonErrors::None,
    }
}

/// What to print on stdout for `err` (empty for [`JsonErrors::None`]).
pub fn render(mode: JsonErrors, err: &anyhow::Error) -> String {
    match mode {
        JsonErrors::None => String::new(),
        JsonErrors::Document => json(err),
        JsonErrors::Stream => {
            let (summary, detail) = split(err);
            crate::view::events::diagnostic(&summary, &detail, &crate::state::store::now_rfc3339())
        }
    }
}

fn split(err: &anyhow::Error) -> (String, String) {
    let mut chain = err.chain().map(|e| e.to_string());
    let summary = chain.next().unwrap_or_default();
    (summary, chain.collect::<Vec<_>>().join(": "))
}

/// `{"format_version":"1.0","valid":false,"error_count":1,"diagnostics":[…]}`: the
/// summary is the outermost context, the detail the causes under it and any `hint:`.
pub fn json(err: &anyhow::Error) -> String {
    let (summary, detail) = split(err);
    let doc = json!({
        "format_version": crate::view::JSON_FORMAT_VERSION,
        "valid": false,
        "error_count": 1,
        "warning_count": 0,
        "diagnostics": [{
            "severity": "error",
            "summary": summary,
            "detail": detail,
        }],
    });
    let mut text = serde_json::to_string(&doc).expect("diagnostics serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    #[test]
    fn the_outer_context_is_the_summary_and_the_causes_the_detail() {
        let err = Err::<(), _>(anyhow::anyhow!("no such file\nhint: check -c"))
            .context("reading config.toml")
            .unwrap_err();
        let doc: serde_json::Value = serde_json::from_str(&super::json(&err)).unwrap();
        assert_eq!(doc["format_version"], "1.0");
        assert_eq!(doc["valid"], false);
        assert_eq!(doc["diagnostics"][0]["severity"], "error");
        assert_eq!(doc["diagnostics"][0]["summary"], "reading config.toml");
        assert_eq!(doc["diagnostics"][0]["detail"], "no such file\nhint: check -c");
    }
}
