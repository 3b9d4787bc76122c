//! Errors of the Tars client: what was called, what came back, and what to do.
//!
//! Every HTTP-level error carries a [`CallFailure`]: method, URL with the ticket
//! replaced by `(sensitive)`, HTTP status, `ret_code`, message and a truncated body.
//! The token never reaches this module unredacted.

use std::fmt;
use std::time::Duration;

use super::task::TaskState;

/// The longest body excerpt kept in an error, in characters.
pub const BODY_EXCERPT_CHARS: usize = 512;

/// Hint shown when TarsWeb rejects the token.
pub const TOKEN_HINT: &str =
    "get a token from Tars web → admin → user center → token management and set TARSFORM_TARS_TOKEN";

/// One failed HTTP call, safe to print: `message` and `body` come from TarsWeb only
/// through the transport's redaction and escaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// `GET` or `POST`.
    pub method: String,
    /// The URL with the ticket value redacted.
    pub url: String,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The envelope's `ret_code`, when the body was a TarsWeb envelope.
    pub ret_code: Option<i64>,
    /// `err_msg`, or what went wrong (transport error, decoding error).
    pub message: String,
    /// The start of the response body, redacted.
    pub body: String,
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        if let Some(status) = self.status {
            write!(f, " → HTTP {status}")?;
        }
        if let Some(code) = self.ret_code {
            write!(f, ", ret_code {code}")?;
        }
        write!(f, ": {}", self.message)?;
        if !self.body.is_empty() {
            write!(f, " (body: {})", self.body)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TarsError {
    #[error("cannot reach TarsWeb: {0}\nhint: check `tars_url` in [tars] and that TarsWeb is running")]
    Connect(Box<CallFailure>),

    #[error("TarsWeb did not answer within {timeout:?}: {call}")]
    Timeout {
        call: Box<CallFailure>,
        timeout: Duration,
    },

    #[error(
        "the run's time limit of {limit:?} (--timeout) has passed: {call}\nhint: what this run changed is in its journal; run `tarsform rollback` or `tarsform apply`, with a larger --timeout if Tars is slow"
    )]
    RunDeadline { call: Box<CallFailure>, limit: Duration },

    #[error("TarsWeb rejected the token: {0}\nhint: {TOKEN_HINT}")]
    Unauthorized(Box<CallFailure>),

    #[error(
        "the token's user may not do this: {0}\nhint: use a token of a user with the admin or operator role"
    )]
    Forbidden(Box<CallFailure>),

    #[error("{what} already exists in Tars: {call}")]
    AlreadyExists { what: String, call: Box<CallFailure> },

    #[error("TarsWeb reported an error: {0}")]
    Api(Box<CallFailure>),

    #[error("TarsWeb answered with an HTTP error: {0}")]
    Http(Box<CallFailure>),

    #[error("TarsWeb sent an unexpected response: {0}")]
    Protocol(Box<CallFailure>),

    #[error("task {task_no}: `{command}` on node {node} ended {status}: {execute_info}")]
    TaskFailed {
        task_no: String,
        command: String,
        node: String,
        status: TaskState,
        execute_info: String,
    },

    #[error(
        "task {task_no} (`{command}`) did not finish within {waited:?}; last state: {last}\nhint: look at the task in Tars web; it may still complete"
    )]
    TaskTimeout {
        task_no: String,
        command: String,
        waited: Duration,
        last: String,
    },

    #[error("invalid Tars client setting: {0}")]
    Config(String),
}

impl TarsError {
    /// The failed call, for errors that come from one.
    pub fn call(&self) -> Option<&CallFailure> {
        match self {
            TarsError::Connect(c)
            | TarsError::Unauthorized(c)
            | TarsError::Forbidden(c)
            | TarsError::Api(c)
            | TarsError::Http(c)
            | TarsError::Protocol(c) => Some(c),
            TarsError::Timeout { call, .. }
            | TarsError::RunDeadline { call, .. }
            | TarsError::AlreadyExists { call, .. } => Some(call),
            _ => None,
        }
    }

    /// The envelope's `ret_code`, when there was one.
    pub fn ret_code(&self) -> Option<i64> {
        self.call().and_then(|c| c.ret_code)
    }

    /// The HTTP status, when a response arrived.
    pub fn http_status(&self) -> Option<u16> {
        self.call().and_then(|c| c.status)
    }

    /// True when the route does not exist on this TarsWeb (HTTP 404).
    pub fn is_not_found_route(&self) -> bool {
        self.http_status() == Some(404)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_method_url_status_and_code() {
        let err = TarsError::Api(Box::new(CallFailure {
            method: "GET".into(),
            url: "http://h/api/server_list?ticket=(sensitive)".into(),
            status: Some(200),
            ret_code: Some(500),
            message: "系统内部错误".into(),
            body: "{}".into(),
        }));
        let text = err.to_string();
        for part in [
            "GET",
            "ticket=(sensitive)",
            "HTTP 200",
            "ret_code 500",
            "系统内部错误",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert_eq!(err.ret_code(), Some(500));
    }
}
