//! Transport for the Tars client: one TarsWeb call with ticket, locale, timeout,
//! retries and redaction.
//!
//! Every call carries `ticket=<token>` and `__locale=en`. GET-like reads are retried
//! with exponential backoff on transport errors, timeouts and gateway errors (502,
//! 503, 504); calls that change state are retried only when the connection could not
//! be made, since then nothing reached TarsWeb. An HTTP 429 (TarsWeb's rate limit) is
//! retried after the server's `Retry-After`, for every call: it was not handled. Every
//! attempt first takes its place in the request budget (`--max-rps`). Every error is built from redacted
//! text: the token is replaced by `(sensitive)` in URLs, messages and bodies.
//!
//! TarsWeb is not trusted: redirects are followed only within `tars_url`'s origin and
//! never for POST, bodies are read up to [`MAX_BODY_BYTES`] within the per-call limit,
//! what it sends back is shown only through [`Redactor::shown`], and an optional
//! whole-run deadline bounds every call and retry.

use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::budget::{Budget, RateBudget};
use super::envelope::{self, Verdict};
use super::error::{BODY_EXCERPT_CHARS, CallFailure, TarsError};
use super::untrusted::{MESSAGE_MAX_CHARS, Redactor};
use crate::secret::{MIN_TOKEN_CHARS, REDACTED, Secret};

/// A pooled connection idle this long is not reused: TarsWeb (Node.js) closes keep-alive
/// connections after 5 s idle, and a request sent on one it is closing fails with
/// "connection closed before message completed" — for a write, with an unknown outcome.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest response body read; TarsWeb's real answers are far smaller.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Redirects followed within one origin before giving up.
const MAX_REDIRECTS: usize = 5;

/// Settings of [`super::HttpTarsClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TarsWeb's address, e.g. `http://127.0.0.1:3000` (BcosBuilder's `tars_url`).
    pub base_url: String,
    pub token: Secret,
    /// Limit for one attempt of one call.
    pub timeout: Duration,
    /// Extra attempts for retryable failures.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
    /// Limit for one package upload.
    pub upload_timeout: Duration,
    /// The request budget (`--max-rps`, see [`super::budget`]); `None`: no limit.
    pub max_rps: Option<RateBudget>,
}

impl ClientConfig {
    /// Defaults: 30 s per call, 3 retries from 500 ms, 10 min per upload, 6.5 requests/s.
    pub fn new(base_url: impl Into<String>, token: Secret) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            token,
            timeout: Duration::from_secs(30),
            retries: 3,
            retry_backoff: Duration::from_millis(500),
            upload_timeout: Duration::from_secs(600),
            max_rps: RateBudget::max_rps(super::budget::DEFAULT_MAX_RPS),
        }
    }
}

/// The body of a request.
pub(crate) enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, String)>),
    /// Text fields plus one file in the field `suse`.
    Multipart {
        fields: Vec<(&'static str, String)>,
        file_name: String,
        bytes: Vec<u8>,
    },
}

/// One call to make.
pub(crate) struct Call {
    pub method: Method,
    /// Relative to the base URL, e.g. `api/server_list`.
    pub path: &'static str,
    pub query: Vec<(&'static str, String)>,
    pub body: Body,
    /// Safe to repeat after a timeout (reads).
    pub idempotent: bool,
    /// Overrides the per-call timeout.
    pub timeout: Option<Duration>,
    /// What an `AlreadyExists` refers to.
    pub subject: String,
}

impl Call {
    pub fn get(path: &'static str, query: Vec<(&'static str, String)>) -> Self {
        Call {
            method: Method::GET,
            path,
            query,
            body: Body::None,
            idempotent: true,
            timeout: None,
            subject: String::new(),
        }
    }

    pub fn post(path: &'static str, body: Body) -> Self {
        Call {
            method: Method::POST,
            path,
            query: Vec::new(),
            body,
            idempotent: false,
            timeout: None,
            subject: String::new(),
        }
    }

    /// Marks a call that changes state although it is a GET (e.g. `delete_config_file`).
    pub fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }

    /// Marks a POST that only reads (e.g. `expand_server_preview`).
    pub fn read_only(mut self) -> Self {
        self.idempotent = true;
        self
    }

    pub fn about(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A successful call's `data`, with what is needed to report a decoding error.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub data: Value,
    /// The call, without the body's excerpt (made from `text` only for an error).
    failure: CallFailure,
    text: std::sync::Arc<str>,
    /// A decoding error quotes the values it rejects: shown only through this.
    redactor: Redactor,
}

impl Reply {
    /// Decodes `data` into `T`; a mismatch is a `Protocol` error naming the call.
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, TarsError> {
        let Reply {
            data,
            failure,
            text,
            redactor,
        } = self;
        serde_json::from_value(data).map_err(|e| {
            TarsError::Protocol(Box::new(CallFailure {
                message: redactor.shown(&format!("cannot decode `data`: {e}"), MESSAGE_MAX_CHARS),
                body: redactor.shown(&text, BODY_EXCERPT_CHARS),
                ..failure
            }))
        })
    }

    /// This reply's call, described by `message`.
    pub fn failure_with(&self, message: impl Into<String>) -> Box<CallFailure> {
        Box::new(CallFailure {
            message: self.redactor.shown(&message.into(), MESSAGE_MAX_CHARS),
            body: self.redactor.shown(&self.text, BODY_EXCERPT_CHARS),
            ..self.failure.clone()
        })
    }

    /// A `Protocol` error about this reply.
    pub fn unexpected(&self, message: impl Into<String>) -> TarsError {
        TarsError::Protocol(self.failure_with(message))
    }
}

/// The HTTP side of the client.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    /// Follows redirects within `base`'s origin (for GET).
    http: reqwest::Client,
    /// Follows no redirect at all (for POST: the body is never re-sent).
    http_no_redirect: reqwest::Client,
    base: Url,
    pub config: ClientConfig,
    pub redactor: Redactor,
    /// When the whole run must end, and the limit it came from (`--timeout`).
    run_deadline: Option<(Instant, Duration)>,
    /// Requests sent (every attempt), shared by clones.
    calls: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The request budget, shared by clones.
    budget: Option<std::sync::Arc<Budget>>,
}

/// TarsWeb's koa-limit answers 429 when an address exceeds its budget (5000 requests per
/// 10 minutes upstream); the request was not handled, so any call may be repeated.
const TOO_MANY_REQUESTS: u16 = 429;
/// Attempts after a 429, apart from the transport retries.
const RATE_LIMIT_RETRIES: u32 = 5;
/// The longest `Retry-After` honoured; a longer one fails the call at once.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Stands in for the ticket in the URL shown to people.
const TICKET_PLACEHOLDER: &str = "TARSFORM-TICKET-PLACEHOLDER";

/// How one attempt failed, and whether another may be tried.
struct AttemptError {
    error: TarsError,
    retryable: bool,
    /// The server's back-off (HTTP 429 `Retry-After`).
    retry_after: Option<Duration>,
}

/// The wait a 429 asks for: `Retry-After` seconds (koa-limit sends them), else 1 s.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
}

impl Transport {
    pub fn new(config: ClientConfig) -> Result<Self, TarsError> {
        let mut text = config.base_url.trim().to_string();
        if !text.ends_with('/') {
            text.push('/');
        }
        let base = Url::parse(&text).map_err(|e| {
            // Never echo what could be a password.
            let shown = if config.base_url.contains('@') {
                "(sensitive)".to_string()
            } else {
                config.token.redact_in(&config.base_url)
            };
            TarsError::Config(format!(
                "tars_url `{shown}` is not a URL ({e})\nhint: write it like http://127.0.0.1:3000"
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(TarsError::Config(format!(
                "tars_url `{}` must start with http:// or https://",
                origin(&base)
            )));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(TarsError::Config(format!(
                "tars_url `{}` carries a user name or password\nhint: remove `user:password@`; TarsWeb is reached with the token only",
                origin(&base)
            )));
        }
        if config.token.is_too_short() {
            return Err(TarsError::Config(format!(
                "the Tars token is shorter than {MIN_TOKEN_CHARS} characters\nhint: use a token from Tars web → admin → user center → token management"
            )));
        }
        let builder = |policy| {
            reqwest::Client::builder()
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .timeout(config.timeout)
                .connect_timeout(config.timeout.min(Duration::from_secs(10)))
                .redirect(policy)
                .build()
                .map_err(|e| TarsError::Config(format!("cannot build the HTTP client: {e}")))
        };
        let http = builder(same_origin_redirects())?;
        let http_no_redirect = builder(reqwest::redirect::Policy::none())?;
        let budget = config.max_rps.and_then(Budget::new).map(std::sync::Arc::new);
        Ok(Transport {
            budget,
            http,
            http_no_redirect,
            base,
            redactor: Redactor::new(config.token.clone()),
            config,
            run_deadline: None,
            calls: Default::default(),
        })
    }

    /// How many requests this client (and its clones) sent.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every later call fails once `limit` has passed from now.
    pub fn set_run_limit(&mut self, limit: Duration) {
        self.run_deadline = Some((Instant::now() + limit, limit));
    }

    /// Time left for one attempt of `call`: its own limit, cut to the run's deadline.
    fn attempt_limit(&self, call: &Call, failure: &CallFailure) -> Result<Duration, TarsError> {
        let limit = call.timeout.unwrap_or(self.config.timeout);
        let Some((deadline, run_limit)) = self.run_deadline else {
            return Ok(limit);
        };
        match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(limit.min(left)),
            _ => Err(TarsError::RunDeadline {
                call: Box::new(failure.clone()),
                limit: run_limit,
            }),
        }
    }

    /// The run's deadline has passed.
    fn past_deadline(&self) -> bool {
        self.run_deadline.is_some_and(|(d, _)| Instant::now() >= d)
    }

    /// Makes `call`, retrying as the module doc says; `Ok` only for a successful envelope.
    pub async fn call(&self, call: &Call) -> Result<Reply, TarsError> {
        self.remember_sensitive(&call.body);
        let mut attempt = 0;
        let mut limited = 0;
        loop {
            if let Some(budget) = &self.budget {
                let wait = budget.reserve(Instant::now());
                if !wait.is_zero() {
                    tracing::debug!(
                        path = call.path,
                        wait_ms = wait.as_millis() as u64,
                        "request budget (--max-rps)"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
            match self.attempt(call).await {
                Ok(reply) => return Ok(reply),
                Err(AttemptError {
                    retry_after: Some(wait),
                    error,
                    ..
                }) => {
                    if limited >= RATE_LIMIT_RETRIES || wait > MAX_RETRY_AFTER || self.past_deadline() {
                        return Err(error);
                    }
                    limited += 1;
                    tracing::debug!(
                        path = call.path,
                        wait_s = wait.as_secs(),
                        "HTTP 429: waiting as Retry-After asks"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(AttemptError { error, retryable, .. }) => {
                    let error = match error {
                        TarsError::Timeout { call: failed, .. } if self.past_deadline() => {
                            TarsError::RunDeadline {
                                call: failed,
                                limit: self.run_deadline.map(|(_, l)| l).unwrap_or_default(),
                            }
                        }
                        other => other,
                    };
                    if !retryable || attempt >= self.config.retries || self.past_deadline() {
                        return Err(error);
                    }
                    let factor = 2u32.saturating_pow(attempt);
                    tokio::time::sleep(self.config.retry_backoff.saturating_mul(factor)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Private keys this call sends are redacted from every later error.
    fn remember_sensitive(&self, body: &Body) {
        match body {
            Body::None => {}
            Body::Json(value) => self.redactor.remember_sent(value),
            Body::Form(fields) | Body::Multipart { fields, .. } => {
                fields.iter().for_each(|(_, v)| self.redactor.remember_text(v));
            }
        }
    }

    fn urls(&self, call: &Call) -> Result<(Url, String), TarsError> {
        let mut url = self
            .base
            .join(call.path)
            .map_err(|e| TarsError::Config(format!("cannot form the URL of {}: {e}", call.path)))?;
        let mut shown = url.clone();
        for (target, ticket) in [
            (&mut url, self.config.token.expose()),
            (&mut shown, TICKET_PLACEHOLDER),
        ] {
            let mut pairs = target.query_pairs_mut();
            pairs.append_pair("ticket", ticket).append_pair("__locale", "en");
            for (key, value) in &call.query {
                pairs.append_pair(key, value);
            }
        }
        let shown = self
            .config
            .token
            .redact_in(shown.as_str())
            .replace(TICKET_PLACEHOLDER, REDACTED);
        Ok((url, shown))
    }

    async fn attempt(&self, call: &Call) -> Result<Reply, AttemptError> {
        let fatal = |error| AttemptError {
            error,
            retryable: false,
            retry_after: None,
        };
        let (url, shown) = self.urls(call).map_err(fatal)?;
        let failure = CallFailure {
            method: call.method.to_string(),
            url: shown,
            status: None,
            ret_code: None,
            message: String::new(),
            body: String::new(),
        };
        let timeout = self.attempt_limit(call, &failure).map_err(fatal)?;
        let http = if call.method == Method::GET {
            &self.http
        } else {
            &self.http_no_redirect
        };
        let mut request = http.request(call.method.clone(), url).timeout(timeout);
        request = match &call.body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Form(fields) => request.form(fields),
            Body::Multipart {
                fields,
                file_name,
                bytes,
            } => {
                let mut form = reqwest::multipart::Form::new();
                for (key, value) in fields {
                    form = form.text(*key, value.clone());
                }
                let part = reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(file_name.clone())
                    .mime_str("application/octet-stream")
                    .map_err(|e| fatal(self.transport_error(&failure, e, timeout)))?;
                request.multipart(form.part("suse", part))
            }
        };

        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let sent = Instant::now();
        let response = request.send().await.map_err(|e| {
            self.log(call, "failed", sent);
            AttemptError {
                retryable: e.is_connect() || (call.idempotent && !e.is_builder()),
                error: self.transport_error(&failure, e, timeout),
                retry_after: None,
            }
        })?;
        let status = response.status().as_u16();
        self.log(call, &status.to_string(), sent);
        let retry_after = (status == TOO_MANY_REQUESTS).then(|| retry_after(response.headers()));
        let failure = CallFailure {
            status: Some(status),
            ..failure
        };
        if response.status().is_redirection() {
            return Err(fatal(self.refused_redirect(call, &response, failure)));
        }
        let text = self
            .read_body(response, &failure, timeout, call.idempotent)
            .await?;
        // The body's excerpt (redacted: a scan of up to 64 KiB) only when reporting.
        let with_body = |failure: CallFailure| CallFailure {
            body: self.redactor.shown(&text, BODY_EXCERPT_CHARS),
            ..failure
        };
        if status != 200 {
            return Err(AttemptError {
                retry_after,
                retryable: call.idempotent && matches!(status, 502..=504),
                error: TarsError::Http(Box::new(CallFailure {
                    message: format!("HTTP status {status}, expected 200"),
                    ..with_body(failure)
                })),
            });
        }
        let envelope = envelope::parse(&text).map_err(|why| {
            fatal(TarsError::Protocol(Box::new(CallFailure {
                message: why,
                ..with_body(failure.clone())
            })))
        })?;
        let verdict = envelope::verdict(&envelope);
        let failure = CallFailure {
            ret_code: Some(envelope.ret_code),
            message: self.redactor.shown(&envelope.err_msg, MESSAGE_MAX_CHARS),
            ..failure
        };
        if verdict == Verdict::Success {
            return Ok(Reply {
                data: envelope.data,
                failure,
                text: text.into(),
                redactor: self.redactor.clone(),
            });
        }
        let failure = with_body(failure);
        let boxed = Box::new(failure.clone());
        let error = match verdict {
            Verdict::Unauthorized => TarsError::Unauthorized(boxed),
            Verdict::Forbidden => TarsError::Forbidden(boxed),
            Verdict::Exists => TarsError::AlreadyExists {
                what: if call.subject.is_empty() {
                    "the object".to_string()
                } else {
                    call.subject.clone()
                },
                call: boxed,
            },
            Verdict::Failed | Verdict::Success => TarsError::Api(boxed),
        };
        Err(fatal(error))
    }

    /// `TARSFORM_LOG=debug`: one line per request with its method, path, query (the
    /// ticket is never in it), status and time; never a body.
    fn log(&self, call: &Call, status: &str, sent: Instant) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let query: Vec<String> = call
            .query
            .iter()
            .map(|(k, v)| format!("{k}={}", self.redactor.shown(v, 200)))
            .collect();
        tracing::debug!(
            method = %call.method,
            path = call.path,
            query = %query.join("&"),
            status,
            ms = sent.elapsed().as_millis() as u64,
            "tars call"
        );
    }

    fn transport_error(&self, failure: &CallFailure, e: reqwest::Error, timeout: Duration) -> TarsError {
        let timed_out = e.is_timeout();
        let connect = e.is_connect();
        let e = e.without_url();
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        let call = Box::new(CallFailure {
            message: self.redactor.shown(&message, MESSAGE_MAX_CHARS),
            ..failure.clone()
        });
        if timed_out {
            TarsError::Timeout { call, timeout }
        } else if connect {
            TarsError::Connect(call)
        } else {
            TarsError::Protocol(call)
        }
    }
}

impl Transport {
    /// The body as text, at most [`MAX_BODY_BYTES`]; slow bodies are bounded by the
    /// request's own time limit, which covers reading the body.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        failure: &CallFailure,
        timeout: Duration,
        idempotent: bool,
    ) -> Result<String, AttemptError> {
        let too_big = || AttemptError {
            retryable: false,
            retry_after: None,
            error: TarsError::Protocol(Box::new(CallFailure {
                message: format!(
                    "the response body is larger than {} MiB; TarsWeb never sends that much",
                    MAX_BODY_BYTES / (1024 * 1024)
                ),
                ..failure.clone()
            })),
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(too_big());
        }
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(too_big());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(AttemptError {
                        retryable: idempotent,
                        error: self.transport_error(failure, e, timeout),
                        retry_after: None,
                    });
                }
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The error for a redirect the client would not follow.
    fn refused_redirect(&self, call: &Call, response: &reqwest::Response, failure: CallFailure) -> TarsError {
        let target = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| response.url().join(l).ok())
            .map(|u| origin(&u))
            .unwrap_or_else(|| "an unknown place".to_string());
        let rule = if call.method == Method::GET {
            "tarsform follows redirects only within tars_url's origin"
        } else {
            "tarsform never follows a redirect of a call that sends data"
        };
        TarsError::Http(Box::new(CallFailure {
            status: Some(response.status().as_u16()),
            message: format!(
                "TarsWeb redirected to {}; {rule}\nhint: set tars_url to the address TarsWeb itself answers on",
                self.redactor.shown(&target, 256)
            ),
            ..failure
        }))
    }
}

/// `scheme://host:port` of `url`: never its user, password, path or query.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Follows a redirect only to the origin of the first request, at most [`MAX_REDIRECTS`] times.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}
