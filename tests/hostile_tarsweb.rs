//! A hostile TarsWeb (or proxy) on 127.0.0.1: redirects to another origin, bodies that
//! echo the request (with a private key in it), ANSI/bidi/newline `err_msg`, 10 MB
//! bodies, a slow drip, garbage JSON. The client never panics, never follows the
//! data elsewhere, never shows a secret, and every call ends within its time limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use tarsform::secret::Secret;
use tarsform::tars::{ClientConfig, HttpTarsClient, MAX_BODY_BYTES, TarsApi, TarsError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "hostile-test-token-7f3a9c";

const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n\
MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n\
-----END PRIVATE KEY-----\n";

/// Lines of [`KEY_PEM`] that must never be shown.
const KEY_LINES: [&str; 2] = [
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
];

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn config(base: &str, timeout: Duration) -> ClientConfig {
    ClientConfig {
        base_url: base.to_string(),
        token: Secret::new(TOKEN),
        timeout,
        retries: 1,
        retry_backoff: Duration::from_millis(10),
        upload_timeout: timeout,
        max_rps: None,
    }
}

fn client(base: &str) -> HttpTarsClient {
    HttpTarsClient::new(config(base, Duration::from_secs(5))).unwrap()
}

fn envelope(err_msg: &str, data: &str) -> impl IntoResponse + use<> {
    let body = format!(
        r#"{{"data":{data},"ret_code":500,"err_msg":{}}}"#,
        serde_json::Value::from(err_msg)
    );
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// No secret, no raw control or bidi character, bounded length.
fn assert_safe(text: &str) {
    assert!(!text.contains(TOKEN), "token shown: {text}");
    for line in KEY_LINES {
        assert!(!text.contains(line), "key shown: {text}");
    }
    assert!(!text.contains("PRIVATE KEY-----\n"), "{text}");
    assert!(
        !text
            .chars()
            .any(|c| c == '\u{1b}' || c == '\u{202e}' || c == '\r'),
        "raw escape in: {text:?}"
    );
    assert!(text.len() < 16 * 1024, "{} bytes of error", text.len());
}

/// A second origin that counts every request it gets.
async fn witness() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let base = serve(Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { envelope("", "[]") }
    }))
    .await;
    (base, hits)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_origin_is_not_followed_and_the_data_stays_here() {
    let (elsewhere, hits) = witness().await;
    let target = format!("{elsewhere}/steal?ticket={TOKEN}");
    let base = serve(Router::new().fallback(move || {
        let target = target.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]) }
    }))
    .await;
    let api = client(&base);

    let err = api.server_list("chain0", None).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("redirected to http://127.0.0.1:"), "{text}");
    assert!(text.contains("only within tars_url's origin"), "{text}");
    assert_safe(&text);

    let err = api
        .add_config_file("chain0", "agencyABcosRpcService", "ssl.key", KEY_PEM)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("never follows a redirect of a call that sends data"),
        "{text}"
    );
    assert_safe(&text);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the other origin");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_is_never_redirected_even_within_the_origin_but_a_get_is() {
    let posts = Arc::new(AtomicUsize::new(0));
    let counter = posts.clone();
    let router = Router::new()
        .route(
            "/api/server_list",
            get(|RawQuery(q): RawQuery| async move {
                let to = format!("/moved/api/server_list?{}", q.unwrap_or_default());
                (StatusCode::FOUND, [(header::LOCATION, to)])
            }),
        )
        .route(
            "/moved/api/server_list",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"data":[],"ret_code":200,"err_msg":""}"#,
                )
            }),
        )
        .route(
            "/api/add_config_file",
            post(|| async {
                (
                    StatusCode::PERMANENT_REDIRECT,
                    [(header::LOCATION, "/moved/api/add_config_file")],
                )
            }),
        )
        .route(
            "/moved/api/add_config_file",
            any(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { envelope("", "{}") }
            }),
        );
    let api = client(&serve(router).await);
    assert_eq!(api.server_list("chain0", None).await.unwrap(), Vec::new());
    let err = api
        .add_config_file("chain0", "S", "ssl.key", KEY_PEM)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(308), "{err}");
    assert_eq!(posts.load(Ordering::SeqCst), 0, "the body was not re-sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echo_of_the_request_never_shows_the_key_or_the_token() {
    let router = Router::new()
        // A proxy that quotes only a line of what it was sent, without the PEM header.
        .route(
            "/api/config_file",
            get(|| async { envelope(&format!("stale: {}", KEY_LINES[1]), "null") }),
        )
        .fallback(|RawQuery(q): RawQuery, body: String| async move {
            // A proxy that quotes the whole request back, in the message and in `data`.
            let echo = format!("bad request {} {body}", q.unwrap_or_default());
            envelope(&echo, &serde_json::Value::from(echo.clone()).to_string())
        });
    let api = client(&serve(router).await);
    let err = api
        .add_config_file("chain0", "agencyABcosRpcService", "ssl.key", KEY_PEM)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("(sensitive)"), "{text}");
    assert_safe(&text);
    let err = api.update_config_file(7, KEY_PEM, "rotate").await.unwrap_err();
    assert_safe(&err.to_string());
    // Later errors of the run redact what it sent earlier.
    let err = api.config_file(7).await.unwrap_err();
    assert!(err.to_string().contains("stale: (sensitive)"), "{err}");
    assert_safe(&err.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn ansi_bidi_and_newlines_in_err_msg_are_escaped_and_cut() {
    let forged = "boom\nerror: all nodes deleted\u{1b}[2J\u{1b}[31mRED\u{202e}txet\r";
    let long = format!("{forged}{}", "x".repeat(1024 * 1024));
    let api = client(
        &serve(Router::new().fallback(move || {
            let long = long.clone();
            async move { envelope(&long, "null") }
        }))
        .await,
    );
    let err = api.server_list("chain0", None).await.unwrap_err();
    let call = err.call().expect("a call failure");
    assert!(!call.message.contains('\n'), "{:?}", call.message);
    assert!(
        call.message
            .starts_with("boom\\nerror: all nodes deleted\\u{1b}[2J"),
        "{}",
        call.message
    );
    assert!(call.message.contains("\\u{202e}"), "{}", call.message);
    assert!(
        call.message.ends_with("more characters)"),
        "cut: {} chars",
        call.message.len()
    );
    assert_safe(&err.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ten_megabyte_body_is_refused_without_reading_it_all() {
    let big = "[".to_string() + &"0,".repeat(5 * 1024 * 1024) + "0]";
    assert!(big.len() > MAX_BODY_BYTES);
    let api = client(
        &serve(Router::new().fallback(move || {
            let big = big.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], big) }
        }))
        .await,
    );
    let err = api.server_list("chain0", None).await.unwrap_err();
    assert!(matches!(err, TarsError::Protocol(_)), "{err}");
    assert!(err.to_string().contains("larger than 8 MiB"), "{err}");
    assert_safe(&err.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_json_is_a_protocol_error() {
    for garbage in [
        "{\"data\": [",
        "\u{0}\u{1b}[31m not json",
        "{\"ret_code\": 200}",
        "[1,2,3]",
    ] {
        let api = client(
            &serve(
                Router::new()
                    .fallback(move || async move { ([(header::CONTENT_TYPE, "application/json")], garbage) }),
            )
            .await,
        );
        let err = api.server_list("chain0", None).await.unwrap_err();
        assert!(matches!(err, TarsError::Protocol(_)), "{garbage:?}: {err}");
        assert_safe(&err.to_string());
    }
}

/// A raw server that sends headers at once, then one body byte every `every`.
async fn slow_drip(every: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let body = r#"{"data":[],"ret_code":200,"err_msg":""}"#.repeat(100);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for byte in body.bytes() {
                    tokio::time::sleep(every).await;
                    if socket.write_all(&[byte]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_drip_is_cut_by_the_per_call_limit() {
    let base = slow_drip(Duration::from_millis(50)).await;
    let mut cfg = config(&base, Duration::from_millis(800));
    cfg.retries = 0;
    let api = HttpTarsClient::new(cfg).unwrap();
    let started = Instant::now();
    let err = api.task("t-1").await.unwrap_err();
    assert!(matches!(err, TarsError::Timeout { .. }), "{err}");
    // A hang guard, not a benchmark: the drip alone would take over three minutes.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_run_deadline_stops_every_later_call() {
    let base = slow_drip(Duration::from_millis(50)).await;
    let api = HttpTarsClient::new(config(&base, Duration::from_secs(30)))
        .unwrap()
        .with_run_limit(Duration::from_millis(700));
    let err = api.task("t-1").await.unwrap_err();
    assert!(matches!(err, TarsError::RunDeadline { .. }), "{err}");
    assert!(err.to_string().contains("--timeout"), "{err}");
    let started = Instant::now();
    let err = api.server_list("chain0", None).await.unwrap_err();
    assert!(matches!(err, TarsError::RunDeadline { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "refused at once");
}

#[test]
fn short_tokens_and_credentials_in_the_url_are_refused_unshown() {
    let mut cfg = config("http://127.0.0.1:9", Duration::from_secs(1));
    cfg.token = Secret::new("t");
    let err = HttpTarsClient::new(cfg).unwrap_err().to_string();
    assert!(err.contains("shorter than 8"), "{err}");
    let cfg = config("http://admin:hunter22@127.0.0.1:9", Duration::from_secs(1));
    let err = HttpTarsClient::new(cfg).unwrap_err().to_string();
    assert!(
        err.contains("user name or password") && !err.contains("hunter22"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_prints_a_forged_err_msg_on_one_escaped_line() {
    let forged = "no\n\u{1b}[32mApply complete!\u{1b}[0m Resources: 0 added\u{202e}";
    let base = serve(Router::new().fallback(move || async move { envelope(forged, "null") })).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[tars]\ntars_url = \"{base}\"\ntars_token = \"\"\n\n[[agency]]\nname = \"agencyA\"\n    [agency.rpc]\n    deploy_ip = [\"172.25.0.5\"]\n"
    );
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tarsform"))
            .args(["plan", "-c", "config.toml"])
            .current_dir(path)
            .env("TARSFORM_TARS_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no\\n\\u{1b}[32mApply complete!"), "{stderr}");
    assert!(
        !stderr
            .lines()
            .any(|l| l.trim_start().starts_with("Apply complete!")),
        "{stderr}"
    );
    assert_safe(&stderr);
    assert_safe(&String::from_utf8_lossy(&out.stdout));
}
