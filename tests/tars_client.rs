//! The Tars client against servers on 127.0.0.1: misbehaving ones written here with
//! axum (garbage bodies, hangs, refused connections), recorded TarsWeb responses, and
//! scripted task progress in both status numberings.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Multipart, RawQuery};
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use tarsform::secret::Secret;
use tarsform::tars::{
    AppCreated, ClientConfig, DeployRequest, ExpandPreviewRequest, ExpandRequest, HttpTarsClient, Numbering,
    TOKEN_HINT, TarsApi, TarsError, TaskRequest, TaskState, run_task,
};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.secret-token-value.sig";

/// Serves `router` on a random loopback port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

fn config(base: &str) -> ClientConfig {
    ClientConfig {
        base_url: base.to_string(),
        token: Secret::new(TOKEN),
        timeout: Duration::from_secs(5),
        retries: 2,
        retry_backoff: Duration::from_millis(20),
        upload_timeout: Duration::from_secs(5),
        max_rps: None,
    }
}

fn client(base: &str) -> HttpTarsClient {
    HttpTarsClient::new(config(base)).unwrap()
}

type Reply = (StatusCode, [(header::HeaderName, &'static str); 1], String);

fn json_reply(body: &str) -> Reply {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

fn ok(data: &str) -> Reply {
    json_reply(&format!(r#"{{"data":{data},"ret_code":200,"err_msg":""}}"#))
}

fn fail(msg: &str) -> Reply {
    json_reply(&format!(r#"{{"data":{{}},"ret_code":500,"err_msg":"{msg}"}}"#))
}

/// A handler that counts its calls and answers `reply` every time.
fn counted(
    hits: &Arc<AtomicUsize>,
    reply: Reply,
) -> impl Fn() -> std::future::Ready<Reply> + Clone + Send + Sync + 'static {
    let hits = hits.clone();
    move || {
        hits.fetch_add(1, Ordering::SeqCst);
        std::future::ready(reply.clone())
    }
}

fn assert_redacted(err: &TarsError) {
    let shown = format!("{err}");
    let debug = format!("{err:?}");
    assert!(!shown.contains(TOKEN), "token in Display: {shown}");
    assert!(!debug.contains(TOKEN), "token in Debug: {debug}");
    assert!(!shown.contains("secret-token-value"), "{shown}");
}

mod garbage {
    use super::*;

    #[tokio::test]
    async fn html_500_is_an_http_error_with_the_body() {
        let hits = Arc::new(AtomicUsize::new(0));
        let html = (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Internal Server Error</body></html>".to_string(),
        );
        let base = serve(Router::new().route("/api/server_list", get(counted(&hits, html)))).await;
        let err = client(&base).server_list("chain0", None).await.unwrap_err();
        assert!(matches!(err, TarsError::Http(_)), "{err:?}");
        assert_eq!(err.http_status(), Some(500));
        assert!(err.to_string().contains("<html>"), "{err}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "HTTP 500 is not retried");
        assert_redacted(&err);
    }

    #[tokio::test]
    async fn truncated_json_is_a_protocol_error() {
        let hits = Arc::new(AtomicUsize::new(0));
        let cut = json_reply(r#"{"data":[{"id":1,"application":"cha"#);
        let base = serve(Router::new().route("/api/server_list", get(counted(&hits, cut)))).await;
        let err = client(&base).server_list("chain0", None).await.unwrap_err();
        assert!(matches!(err, TarsError::Protocol(_)), "{err:?}");
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[tokio::test]
    async fn json_without_err_msg_is_a_protocol_error() {
        let hits = Arc::new(AtomicUsize::new(0));
        let body = json_reply(r#"{"data":[],"ret_code":200}"#);
        let base = serve(Router::new().route("/api/node_list", get(counted(&hits, body)))).await;
        let err = client(&base).node_list().await.unwrap_err();
        assert!(matches!(err, TarsError::Protocol(_)), "{err:?}");
        assert!(err.to_string().contains("err_msg"), "{err}");
    }

    #[tokio::test]
    async fn ret_code_500_keeps_the_chinese_message() {
        let hits = Arc::new(AtomicUsize::new(0));
        let base =
            serve(Router::new().route("/api/deploy_server", post(counted(&hits, fail("系统内部错误")))))
                .await;
        let req = DeployRequest::bcos("chain0", "S", "172.25.0.5", "RpcServiceObj", 20000);
        let err = client(&base).deploy_server(&req).await.unwrap_err();
        assert!(matches!(err, TarsError::Api(_)), "{err:?}");
        assert_eq!(err.ret_code(), Some(500));
        assert_eq!(err.http_status(), Some(200));
        let text = err.to_string();
        assert!(text.contains("系统内部错误") && text.contains("POST"), "{text}");
        assert!(text.contains("/api/deploy_server"), "{text}");
    }

    #[tokio::test]
    async fn success_code_with_a_message_is_still_an_error() {
        let hits = Arc::new(AtomicUsize::new(0));
        let body = json_reply(r#"{"data":[],"ret_code":200,"err_msg":"odd"}"#);
        let base = serve(Router::new().route("/api/node_list", get(counted(&hits, body)))).await;
        let err = client(&base).node_list().await.unwrap_err();
        assert!(matches!(err, TarsError::Api(_)), "{err:?}");
    }

    #[tokio::test]
    async fn data_of_the_wrong_shape_names_the_call() {
        let hits = Arc::new(AtomicUsize::new(0));
        let base = serve(Router::new().route(
            "/api/server_list",
            get(counted(&hits, ok(r#"[{"application":"chain0"}]"#))),
        ))
        .await;
        let err = client(&base).server_list("chain0", None).await.unwrap_err();
        assert!(matches!(err, TarsError::Protocol(_)), "{err:?}");
        assert!(err.to_string().contains("cannot decode"), "{err}");
        assert!(err.to_string().contains("server_list"), "{err}");
    }

    #[tokio::test]
    async fn a_hang_past_the_timeout_gives_a_timeout_error() {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let hang = move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(30)).await;
                ok("[]")
            }
        };
        let base = serve(
            Router::new()
                .route("/api/server_list", get(hang.clone()))
                .route("/api/add_task", post(hang)),
        )
        .await;
        let cfg = ClientConfig {
            timeout: Duration::from_millis(300),
            retries: 1,
            ..config(&base)
        };
        let api = HttpTarsClient::new(cfg).unwrap();

        let started = Instant::now();
        let err = api.server_list("chain0", None).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "hung");
        assert!(matches!(err, TarsError::Timeout { .. }), "{err:?}");
        assert_eq!(hits.load(Ordering::SeqCst), 2, "a read is retried once");
        assert_redacted(&err);

        hits.store(0, Ordering::SeqCst);
        let err = api.add_task(&TaskRequest::patch(1, 2)).await.unwrap_err();
        assert!(matches!(err, TarsError::Timeout { .. }), "{err:?}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "a POST that reached TarsWeb is not retried"
        );
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let cfg = ClientConfig {
            retries: 3,
            retry_backoff: Duration::from_millis(40),
            ..config(&base)
        };
        let api = HttpTarsClient::new(cfg).unwrap();
        for call in 0..2 {
            let started = Instant::now();
            let err = if call == 0 {
                api.node_list().await.map(|_| ()).unwrap_err()
            } else {
                api.add_task(&TaskRequest::patch(1, 2))
                    .await
                    .map(|_| ())
                    .unwrap_err()
            };
            // 40 + 80 + 160 ms of backoff: three retries happened, for GET and POST.
            assert!(
                started.elapsed() >= Duration::from_millis(280),
                "{:?}",
                started.elapsed()
            );
            assert!(matches!(err, TarsError::Connect(_)), "{err:?}");
            assert!(err.to_string().contains("hint: check `tars_url`"), "{err}");
            assert_redacted(&err);
        }
    }

    /// Answers the first request of every connection with keep-alive, then closes the
    /// connection without an answer when another request comes on it: TarsWeb (Node.js)
    /// closing an idle keep-alive connection as the client reuses it.
    async fn closes_reused_connections() -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    // One request: headers, then Content-Length bytes of body.
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&seen);
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length: usize = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().to_string())
                                })
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(0);
                            if seen.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let body = r#"{"data":{"id":7,"filename":"config.ini","config":"x"},"ret_code":200,"err_msg":""}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                    // The next request on this connection is met with a close.
                    let _ = socket.read(&mut buf).await;
                });
            }
        });
        (base, connections)
    }

    #[tokio::test]
    async fn an_idle_connection_is_not_reused_after_the_pool_idle_timeout() {
        let (base, connections) = closes_reused_connections().await;
        let api = client(&base);
        api.update_config_file(7, "x", "first").await.unwrap();
        tokio::time::sleep(tarsform::tars::POOL_IDLE_TIMEOUT + Duration::from_millis(500)).await;
        // A write on the idle connection would fail with an unknown outcome.
        let second = api.update_config_file(7, "x", "second").await;
        assert!(second.is_ok(), "{second:?}");
        assert_eq!(
            connections.load(Ordering::SeqCst),
            2,
            "a fresh connection was opened"
        );
    }

    #[tokio::test]
    async fn gateway_errors_are_retried_for_reads_only() {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let flaky = move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if n < 2 {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONTENT_TYPE, "text/plain")],
                    "busy".to_string(),
                )
            } else {
                ok(r#"["172.25.0.3"]"#)
            })
        };
        let base = serve(
            Router::new()
                .route("/api/node_list", get(flaky.clone()))
                .route("/api/expand_server", post(flaky)),
        )
        .await;
        let api = client(&base);
        assert_eq!(api.node_list().await.unwrap(), vec!["172.25.0.3"]);
        assert_eq!(hits.load(Ordering::SeqCst), 3);

        hits.store(0, Ordering::SeqCst);
        let req = ExpandRequest::from_preview("chain0", "S", "172.25.0.3", &[]);
        let err = api.expand_server(&req).await.unwrap_err();
        assert_eq!(err.http_status(), Some(503));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_token_is_redacted_even_when_the_server_echoes_it() {
        let echo = |RawQuery(query): RawQuery| async move {
            let q = query.unwrap_or_default();
            fail(&format!("bad request {q}"))
        };
        let base = serve(Router::new().route("/api/server_list", get(echo))).await;
        let api = client(&base);
        let err = api.server_list("chain0", Some("S")).await.unwrap_err();
        assert_redacted(&err);
        let shown = err.to_string();
        assert!(shown.contains("ticket=(sensitive)"), "{shown}");
        assert!(shown.contains("tree_node_id=1chain0.5S"), "{shown}");
        assert!(!format!("{api:?}").contains(TOKEN));
    }

    #[tokio::test]
    async fn not_logged_in_is_unauthorized_with_the_token_hint() {
        let hits = Arc::new(AtomicUsize::new(0));
        let kind_b = json_reply(r#"{"ret_code":500,"err_msg":"您还没有登录","data":{}}"#);
        let base = serve(Router::new().route("/api/node_list", get(counted(&hits, kind_b)))).await;
        let err = client(&base).node_list().await.unwrap_err();
        assert!(matches!(err, TarsError::Unauthorized(_)), "{err:?}");
        assert!(err.to_string().contains(TOKEN_HINT), "{err}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "business errors are not retried");
        assert_redacted(&err);
    }
}

mod endpoints {
    use super::*;

    /// Ten registrations at once reach TarsWeb at most three at a time: each holds a
    /// database connection in a transaction, and ten starve TarsWeb's pool of ten.
    #[tokio::test]
    async fn registrations_reach_tarsweb_a_few_at_a_time() {
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let handler = {
            let (now, most) = (now.clone(), most.clone());
            move || {
                let (now, most) = (now.clone(), most.clone());
                async move {
                    let inside = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(inside, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(60)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    ok("[]")
                }
            }
        };
        let base = serve(Router::new().route("/api/expand_server", post(handler))).await;
        let api = client(&base);
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..10 {
            let api = api.clone();
            calls.spawn(async move {
                let req = ExpandRequest::from_preview("chain0", "S", &format!("10.0.0.{i}"), &[]);
                api.expand_server(&req).await
            });
        }
        while let Some(done) = calls.join_next().await {
            done.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (2..=3).contains(&most),
            "{most} registrations were in flight at once"
        );
    }

    /// Identical reads at once share requests, but a read never gets a reply whose
    /// request started before the read did: the server's answer changes after the
    /// first request starts, and every read made after that sees the change.
    #[tokio::test]
    async fn identical_reads_share_requests_but_never_an_older_reply() {
        let requests = Arc::new(AtomicUsize::new(0));
        let handler = {
            let requests = requests.clone();
            move || {
                let requests = requests.clone();
                async move {
                    let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(Duration::from_millis(80)).await;
                    ok(&format!(
                        r#"[{{"id": {n}, "node_name": "10.0.0.1", "server_name": "S"}}]"#
                    ))
                }
            }
        };
        let base = serve(Router::new().route("/api/server_list", get(handler))).await;
        let api = client(&base);
        let first = {
            let api = api.clone();
            tokio::spawn(async move { api.server_list("chain0", Some("S")).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Ten reads arrive while request 1 is in flight: they share request 2.
        let mut later = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let api = api.clone();
            later.spawn(async move { api.server_list("chain0", Some("S")).await });
        }
        assert_eq!(first.await.unwrap().unwrap()[0].id, 1);
        while let Some(done) = later.join_next().await {
            assert_eq!(
                done.unwrap().unwrap()[0].id,
                2,
                "a reply from after the read began"
            );
        }
        assert_eq!(requests.load(Ordering::SeqCst), 2, "eleven reads, two requests");
        // Another server's read is its own request.
        let other = api.server_list("chain0", Some("T")).await.unwrap();
        assert_eq!(other[0].id, 3);
    }

    #[tokio::test]
    async fn every_call_carries_the_ticket_and_english_locale() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = seen.clone();
        let record = move |RawQuery(query): RawQuery| {
            log.lock().unwrap().push(query.unwrap_or_default());
            std::future::ready(ok(r#"[{"node_name":"172.25.0.5","port":"24567"}]"#))
        };
        let base = serve(Router::new().route("/api/auto_port", get(record))).await;
        assert_eq!(client(&base).auto_port("172.25.0.5").await.unwrap(), 24567);
        let query = seen.lock().unwrap()[0].clone();
        assert!(
            query.contains("ticket=eyJhbGciOiJIUzI1NiJ9.secret-token-value.sig"),
            "{query}"
        );
        assert!(query.contains("__locale=en"), "{query}");
        assert!(query.contains("node_name=172.25.0.5"), "{query}");
    }

    #[tokio::test]
    async fn auto_port_without_a_port_is_an_error() {
        let hits = Arc::new(AtomicUsize::new(0));
        let base = serve(Router::new().route("/api/auto_port", get(counted(&hits, ok("[]"))))).await;
        let err = client(&base).auto_port("172.25.0.5").await.unwrap_err();
        assert!(err.to_string().contains("no free port"), "{err}");
    }

    #[tokio::test]
    async fn seed_expand_responses_decode() {
        // Verbatim from reference/seed-scaling-rpc-gateway.md (the bytes of 未扩容 decoded).
        let preview = r#"{"data":[{"application":"chain0","server_name":"agencyABcosRpcService","set":"..","obj_name":"RpcServiceObj","node_name":"172.25.0.5","bind_ip":"172.25.0.5","port":0,"template_name":"tars.cpp.default","status":"未扩容","auth":0}],"ret_code":200,"err_msg":""}"#;
        let expand = r#"{"data":{"tars_node_rst":[]},"ret_code":200,"err_msg":""}"#;
        let body = Arc::new(Mutex::new(None::<serde_json::Value>));
        let keep = body.clone();
        let base = serve(
            Router::new()
                .route(
                    "/api/expand_server_preview",
                    post(move || std::future::ready(json_reply(preview))),
                )
                .route(
                    "/api/expand_server",
                    post(move |axum::Json(v): axum::Json<serde_json::Value>| {
                        *keep.lock().unwrap() = Some(v);
                        std::future::ready(json_reply(expand))
                    }),
                ),
        )
        .await;
        let api = client(&base);
        let req = ExpandPreviewRequest::new("chain0", "agencyABcosRpcService", "172.25.0.3", &["172.25.0.5"]);
        let items = api.expand_server_preview(&req).await.unwrap();
        assert_eq!(items.len(), 1);
        let item = &items[0];
        assert_eq!(item.obj_name, "RpcServiceObj");
        assert_eq!(
            (item.node_name.as_str(), item.bind_ip.as_str()),
            ("172.25.0.5", "172.25.0.5")
        );
        assert_eq!(
            (item.port, item.set.as_str(), item.status.as_str()),
            (0, "..", "未扩容")
        );
        assert_eq!(item.template_name, "tars.cpp.default");

        let expand_req = ExpandRequest::from_preview(
            "chain0",
            "agencyABcosRpcService",
            "172.25.0.3",
            &[(item.clone(), 24567)],
        );
        api.expand_server(&expand_req).await.unwrap();
        let sent = body.lock().unwrap().clone().unwrap();
        assert_eq!(sent["node_name"], "172.25.0.3");
        // The new node gets copies of the source's node rows (TarsWeb takes BcosBuilder's
        // "false" as truthy too).
        assert_eq!(sent["copy_node_config"], serde_json::json!(true));
        assert_eq!(sent["expand_preview_servers"][0]["port"], 24567);
        assert_eq!(sent["expand_preview_servers"][0]["set"], "");
    }

    #[tokio::test]
    async fn deploy_server_accepts_old_and_new_shapes() {
        let row = r#"{"id":"31","application":"chain0","server_name":"S","node_name":"172.25.0.5","setting_state":"inactive","present_state":"inactive","patch_version":"","patch_time":"2024-01-01T00:00:00.000Z","enable_set":false,"set_name":null}"#;
        let old = format!(r#"{{"server_conf":{row},"tars_node_rst":[]}}"#);
        let new = format!(r#"{{"server_conf":[{row}],"tars_node_rst":[]}}"#);
        let base = serve(
            Router::new()
                .route(
                    "/old/api/deploy_server",
                    post(move || std::future::ready(ok(&old))),
                )
                .route(
                    "/new/api/deploy_server",
                    post(move || std::future::ready(ok(&new))),
                ),
        )
        .await;
        let req = DeployRequest::bcos("chain0", "S", "172.25.0.5", "RpcServiceObj", 24567);
        for prefix in ["old", "new"] {
            let rows = client(&format!("{base}/{prefix}"))
                .deploy_server(&req)
                .await
                .unwrap();
            assert_eq!(rows.len(), 1, "{prefix}");
            assert_eq!(rows[0].id, 31);
            assert_eq!(rows[0].node_name, "172.25.0.5");
            assert!(!rows[0].is_running());
        }
    }

    #[tokio::test]
    async fn empty_objects_mean_not_found() {
        let base = serve(
            Router::new()
                .route("/api/config_file", get(|| std::future::ready(ok("{}"))))
                .route("/api/get_server_patch", get(|| std::future::ready(ok("{}")))),
        )
        .await;
        let api = client(&base);
        assert_eq!(api.config_file(9).await.unwrap(), None);
        assert_eq!(api.get_server_patch("no-such-task").await.unwrap(), None);
    }

    #[tokio::test]
    async fn add_config_file_duplicate_is_already_exists() {
        let base = serve(
            Router::new()
                .route(
                    "/en/api/add_config_file",
                    post(|| std::future::ready(fail("File with the same name already exists!"))),
                )
                .route(
                    "/cn/api/add_config_file",
                    post(|| std::future::ready(fail("同名文件已经存在"))),
                )
                .route(
                    "/tok/api/add_config_file",
                    post(|| std::future::ready(fail("#cfg.dlg.exists#"))),
                ),
        )
        .await;
        for prefix in ["en", "cn", "tok"] {
            let err = client(&format!("{base}/{prefix}"))
                .add_config_file("chain0", "S", "config.ini", "\n")
                .await
                .unwrap_err();
            match &err {
                TarsError::AlreadyExists { what, .. } => {
                    assert!(what.contains("config.ini") && what.contains("chain0.S"), "{what}")
                }
                other => panic!("{prefix}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn upload_sends_multipart_with_the_suse_field() {
        let got = Arc::new(Mutex::new(Vec::<(String, Option<String>, Vec<u8>)>::new()));
        let keep = got.clone();
        let upload = move |mut form: Multipart| {
            let keep = keep.clone();
            async move {
                while let Some(field) = form.next_field().await.unwrap() {
                    let name = field.name().unwrap_or_default().to_string();
                    let file = field.file_name().map(str::to_string);
                    let bytes = field.bytes().await.unwrap().to_vec();
                    keep.lock().unwrap().push((name, file, bytes));
                }
                ok(r#"{"id":3,"server":"chain0.S","tgz":"chain0.S_suse_1.tgz"}"#)
            }
        };
        let base = serve(Router::new().route("/api/upload_patch_package", post(upload))).await;
        client(&base)
            .upload_patch_package(
                "chain0",
                "S",
                "uuid-1",
                "S.tgz",
                b"\x1f\x8bpackage",
                "upload package",
            )
            .await
            .unwrap();
        let fields = got.lock().unwrap().clone();
        let find = |n: &str| fields.iter().find(|f| f.0 == n).cloned().unwrap();
        assert_eq!(find("suse").1.as_deref(), Some("S.tgz"));
        assert_eq!(find("suse").2, b"\x1f\x8bpackage");
        assert_eq!(find("application").2, b"chain0");
        assert_eq!(find("module_name").2, b"S");
        assert_eq!(find("task_id").2, b"uuid-1");
    }

    #[tokio::test]
    async fn add_application_tolerates_a_duplicate_it_can_see() {
        let base = serve(
            Router::new()
                .route(
                    "/a/api/add_application",
                    post(|| std::future::ready(fail("system error"))),
                )
                .route(
                    "/a/api/application_list",
                    get(|| std::future::ready(ok(r#"[{"f_id":1,"f_name":"chain0"}]"#))),
                )
                .route(
                    "/b/api/add_application",
                    post(|| std::future::ready(fail("system error"))),
                )
                .route("/b/api/application_list", get(|| std::future::ready(ok("[]"))))
                .route("/b/api/server_list", get(|| std::future::ready(ok("[]"))))
                .route(
                    "/c/api/add_application",
                    post(|| std::future::ready(ok(r#"{"f_id":2,"f_name":"chain0"}"#))),
                ),
        )
        .await;
        let added = |p: &str| client(&format!("{base}/{p}"));
        assert_eq!(
            added("a").add_application("chain0").await.unwrap(),
            AppCreated::AlreadyExists
        );
        assert!(matches!(
            added("b").add_application("chain0").await,
            Err(TarsError::Api(_))
        ));
        assert_eq!(
            added("c").add_application("chain0").await.unwrap(),
            AppCreated::Created
        );
    }

    #[tokio::test]
    async fn check_token_uses_the_ticket_route_or_falls_back() {
        let base = serve(
            Router::new()
                .route(
                    "/good/pages/server/api/ticket",
                    get(|| std::future::ready(ok(r#"{"uid":"admin"}"#))),
                )
                .route(
                    "/unknown/pages/server/api/ticket",
                    get(|| std::future::ready(ok(r#"{"uid":""}"#))),
                )
                .route(
                    "/old/api/node_list",
                    get(|| std::future::ready(ok(r#"["172.25.0.3"]"#))),
                )
                .route(
                    "/oldbad/api/node_list",
                    get(|| {
                        std::future::ready(json_reply(
                            r#"{"ret_code":500,"err_msg":"您还没有登录","data":{}}"#,
                        ))
                    }),
                ),
        )
        .await;
        let check = |p: &str| {
            let api = client(&format!("{base}/{p}"));
            async move { api.check_token().await }
        };
        check("good").await.unwrap();
        let err = check("unknown").await.unwrap_err();
        assert!(matches!(err, TarsError::Unauthorized(_)), "{err:?}");
        assert!(err.to_string().contains(TOKEN_HINT));
        assert_redacted(&err);
        check("old").await.unwrap();
        assert!(matches!(check("oldbad").await, Err(TarsError::Unauthorized(_))));
    }
}

mod tasks {
    use super::*;

    /// A TarsWeb whose `task` answers the scripted `data` values in order (the last repeats).
    async fn scripted(script: Vec<&'static str>) -> (String, Arc<AtomicUsize>) {
        let polls = Arc::new(AtomicUsize::new(0));
        let queue = Arc::new(Mutex::new(script.into_iter().collect::<VecDeque<_>>()));
        let counter = polls.clone();
        let task = move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut q = queue.lock().unwrap();
            let next = if q.len() > 1 { q.pop_front().unwrap() } else { q[0] };
            std::future::ready(ok(next))
        };
        let base = serve(
            Router::new()
                .route(
                    "/api/add_task",
                    post(|| std::future::ready(ok(r#""0a1b2c3d4e5f60718293a4b5c6d7e8f9""#))),
                )
                .route("/api/task", get(task)),
        )
        .await;
        (base, polls)
    }

    const NEW_RUNNING: &str = r#"{"task_no":"0a1b","serial":true,"status":2,"items":[{"item_no":"i1","node_name":"172.25.0.5","command":"patch_tars","status":2,"status_info":"EM_I_RUNNING","execute_info":"","percent":40}]}"#;
    const NEW_SUCCESS: &str = r#"{"task_no":"0a1b","serial":true,"status":3,"userName":"admin","items":[{"item_no":"i1","node_name":"172.25.0.5","command":"patch_tars","status":3,"status_info":"EM_I_SUCCESS","execute_info":"patch succ","percent":100}]}"#;
    const OLD_RUNNING: &str = r#"{"task_no":"0a1b","serial":true,"status":1,"items":[{"item_no":"i1","node_name":"172.25.0.5","command":"patch_tars","status":1,"status_info":"EM_I_RUNNING","percent":10}]}"#;
    const OLD_SUCCESS: &str = r#"{"task_no":"0a1b","serial":true,"status":2,"items":[{"item_no":"i1","node_name":"172.25.0.5","command":"patch_tars","status":2,"status_info":"EM_I_SUCCESS","percent":100}]}"#;
    const OLD_FAILED: &str = r#"{"task_no":"0a1b","serial":true,"status":3,"items":[{"item_no":"i1","node_name":"172.25.0.5","command":"patch_tars","status":3,"status_info":"EM_I_FAILED","execute_info":"tarsnode 172.25.0.5 not registered","percent":0}]}"#;
    const UNNAMED_PREPARE: &str = r#"{"task_no":"0a1b","serial":true,"status":1,"items":[{"item_no":"i1","node_name":"172.25.0.5","command":"patch_tars","status":1,"percent":0}]}"#;
    const UNNAMED_SUCCESS: &str = r#"{"task_no":"0a1b","serial":true,"status":3,"items":[{"item_no":"i1","node_name":"172.25.0.5","command":"patch_tars","status":3,"percent":100}]}"#;

    const POLL: Duration = Duration::from_millis(10);
    const LIMIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn new_numbering_runs_to_success() {
        let (base, polls) = scripted(vec![NEW_RUNNING, NEW_RUNNING, NEW_SUCCESS]).await;
        let report = run_task(&client(&base), &TaskRequest::patch(31, 19), POLL, LIMIT)
            .await
            .unwrap();
        assert_eq!(report.task_no, "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
        assert_eq!((report.polls, polls.load(Ordering::SeqCst)), (3, 3));
        assert_eq!(report.task.state(), TaskState::Success);
        assert_eq!(report.task.user_name, "admin");
    }

    #[tokio::test]
    async fn old_numbering_runs_to_success() {
        // In the new numbering 2 would be RUNNING: only status_info tells them apart.
        let (base, _) = scripted(vec![OLD_RUNNING, OLD_SUCCESS]).await;
        let report = run_task(&client(&base), &TaskRequest::patch(31, 19), POLL, LIMIT)
            .await
            .unwrap();
        assert_eq!(report.task.numbering(), Numbering::Old);
        assert_eq!(report.polls, 2);
    }

    #[tokio::test]
    async fn without_status_info_the_new_numbering_is_assumed() {
        // Status 1 is PREPARE (new), not RUNNING-then-done; 3 is SUCCESS.
        let (base, _) = scripted(vec![UNNAMED_PREPARE, UNNAMED_SUCCESS]).await;
        let report = run_task(&client(&base), &TaskRequest::patch(31, 19), POLL, LIMIT)
            .await
            .unwrap();
        assert_eq!(report.polls, 2);
    }

    #[tokio::test]
    async fn a_failed_item_names_task_node_and_log() {
        // Old numbering: 3 is FAILED (it would be SUCCESS in the new one).
        let (base, _) = scripted(vec![OLD_RUNNING, OLD_FAILED]).await;
        let err = run_task(&client(&base), &TaskRequest::patch(31, 19), POLL, LIMIT)
            .await
            .unwrap_err();
        match &err {
            TarsError::TaskFailed {
                task_no,
                command,
                node,
                status,
                execute_info,
            } => {
                assert_eq!(task_no, "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
                assert_eq!((command.as_str(), node.as_str()), ("patch_tars", "172.25.0.5"));
                assert_eq!(*status, TaskState::Failed);
                assert!(execute_info.contains("not registered"));
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("172.25.0.5"), "{err}");
    }

    #[tokio::test]
    async fn a_task_that_never_ends_times_out_naming_it() {
        let (base, _) = scripted(vec![NEW_RUNNING]).await;
        let started = Instant::now();
        let err = run_task(
            &client(&base),
            &TaskRequest::patch(31, 19),
            POLL,
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        match &err {
            TarsError::TaskTimeout {
                task_no,
                command,
                last,
                ..
            } => {
                assert_eq!(task_no, "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
                assert_eq!(command, "patch_tars");
                assert!(last.contains("running 40%"), "{last}");
            }
            other => panic!("{other:?}"),
        }
    }
}

/// The client against the real emulator (`crate::emulator`), endpoint by endpoint.
mod emulated {
    use super::*;
    use tarsform::emulator::{EmulatorConfig, FaultRule, RunningEmulator, start};
    use tarsform::tars::{ConfigFile, TaskCommand, new_upload_task_id};

    const APP: &str = "chain0";
    const RPC: &str = "agencyABcosRpcService";
    const OLD: &str = "172.25.0.3";
    const NEW: &str = "172.25.0.5";
    const POLL: Duration = Duration::from_millis(20);
    const LIMIT: Duration = Duration::from_secs(10);

    async fn emulator(faults: Vec<FaultRule>, latency: Duration) -> RunningEmulator {
        start(EmulatorConfig {
            token: Some(TOKEN.to_string()),
            nodes: vec![OLD.to_string(), NEW.to_string()],
            task_duration: Duration::from_millis(60),
            latency,
            faults,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap()
    }

    fn rule(text: &str) -> FaultRule {
        text.parse().unwrap()
    }

    /// The emulator answering 429 after 5 requests per second, and a client on `budget`.
    async fn limited(budget: Option<tarsform::tars::RateBudget>) -> (RunningEmulator, HttpTarsClient) {
        let running = start(EmulatorConfig {
            token: Some(TOKEN.to_string()),
            nodes: vec![OLD.to_string()],
            rate_limit: Some("5/1".parse().unwrap()),
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let api = HttpTarsClient::new(ClientConfig {
            max_rps: budget,
            ..config(&running.base_url())
        })
        .unwrap();
        (running, api)
    }

    #[tokio::test]
    async fn a_client_over_the_rate_limit_waits_out_429_and_a_budget_avoids_it() {
        let (_running, api) = limited(None).await;
        for _ in 0..12 {
            assert_eq!(api.node_list().await.unwrap(), vec![OLD.to_string()]);
        }
        assert!(api.calls() > 12, "no 429 was retried: {} requests", api.calls());

        let budget = tarsform::tars::RateBudget {
            per_second: 4.0,
            burst: 1,
        };
        let (_running, api) = limited(Some(budget)).await;
        let started = Instant::now();
        for _ in 0..12 {
            assert_eq!(api.node_list().await.unwrap(), vec![OLD.to_string()]);
        }
        assert_eq!(api.calls(), 12, "within the budget no request is answered 429");
        assert!(started.elapsed() >= Duration::from_millis(2700), "4 per second");
    }

    /// The node row of `filename` on `node`, polling as TarsWeb requires (§6.7).
    async fn node_row(api: &HttpTarsClient, server: &str, config_id: u64, node: &str) -> ConfigFile {
        for _ in 0..3 {
            let rows = api.node_config_file_list(APP, server, config_id).await.unwrap();
            if let Some(row) = rows.into_iter().find(|r| r.node_name == node) {
                return row;
            }
        }
        panic!("no node row for {node} after three listings");
    }

    /// Pushes one file to one node the way DESIGN.md §4 says; returns the node row id.
    async fn push_config(
        api: &HttpTarsClient,
        server: &str,
        node: &str,
        filename: &str,
        content: &str,
    ) -> u64 {
        let server_row = match api.add_config_file(APP, server, filename, "\n").await {
            Ok(row) => row,
            Err(TarsError::AlreadyExists { .. }) => api
                .config_file_list(APP, server)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.filename == filename)
                .unwrap(),
            Err(other) => panic!("{other}"),
        };
        assert_eq!(server_row.level, 2);
        let row = node_row(api, server, server_row.id, node).await;
        let updated = api
            .update_config_file(row.id, content, "tarsform test")
            .await
            .unwrap();
        assert_eq!(updated.config, content);
        row.id
    }

    #[tokio::test]
    async fn full_deploy_sequence_endpoint_by_endpoint() {
        let emu = emulator(Vec::new(), Duration::ZERO).await;
        let api = client(&emu.base_url());

        api.check_token().await.unwrap();
        let nodes = api.list_tars_node().await.unwrap();
        assert!(
            nodes.iter().any(|n| n.node_name == NEW && n.is_alive()),
            "{nodes:?}"
        );
        assert!(api.node_list().await.unwrap().contains(&NEW.to_string()));

        assert_eq!(api.add_application(APP).await.unwrap(), AppCreated::Created);
        assert_eq!(api.add_application(APP).await.unwrap(), AppCreated::AlreadyExists);
        assert!(api.application_list().await.unwrap().contains(&APP.to_string()));
        assert!(api.server_list(APP, Some(RPC)).await.unwrap().is_empty());

        let port = api.auto_port(NEW).await.unwrap();
        assert!((10_000..30_000).contains(&port), "{port}");
        let deployed = api
            .deploy_server(&DeployRequest::bcos(APP, RPC, NEW, "RpcServiceObj", port))
            .await
            .unwrap();
        assert_eq!(deployed.len(), 1);
        let rows = api.server_list(APP, Some(RPC)).await.unwrap();
        assert_eq!(rows.len(), 1);
        let node = &rows[0];
        assert_eq!((node.node_name.as_str(), node.id), (NEW, deployed[0].id));
        assert!(!node.is_running());
        assert_eq!(api.server_by_id(node.id).await.unwrap().node_name, NEW);

        let content = "[rpc]\n    listen_port=20200\n";
        let row_id = push_config(&api, RPC, NEW, "config.ini", content).await;
        let dup = api
            .add_config_file(APP, RPC, "config.ini", "\n")
            .await
            .unwrap_err();
        assert!(matches!(dup, TarsError::AlreadyExists { .. }), "{dup:?}");
        assert_eq!(api.config_file(row_id).await.unwrap().unwrap().config, content);
        assert_eq!(api.config_file(9_999_999).await.unwrap(), None);

        let task_id = new_upload_task_id();
        let package = b"\x1f\x8b fake tgz bytes".to_vec();
        api.upload_patch_package(
            APP,
            RPC,
            &task_id,
            &format!("{RPC}.tgz"),
            &package,
            "upload package",
        )
        .await
        .unwrap();
        let patch = api
            .get_server_patch(&task_id)
            .await
            .unwrap()
            .expect("patch by task id");
        assert_eq!(patch.server, format!("{APP}.{RPC}"));
        assert_eq!(emu.handle().patches(APP, RPC).last().unwrap().0, patch.id);
        assert_eq!(api.get_server_patch("no-such-task").await.unwrap(), None);

        let report = run_task(&api, &TaskRequest::patch(node.id, patch.id), POLL, LIMIT)
            .await
            .unwrap();
        assert_eq!(report.task.state(), TaskState::Success);
        let after = api.server_by_id(node.id).await.unwrap();
        assert!(after.is_running(), "{after:?}");
        assert_eq!(after.patch_id(), Some(patch.id));
    }

    #[tokio::test]
    async fn expand_from_an_existing_node_then_undeploy() {
        let emu = emulator(Vec::new(), Duration::ZERO).await;
        let seeded = emu.handle().seed_deployed_server(
            APP,
            RPC,
            "RpcServiceObj",
            OLD,
            &[("config.ini", "[rpc]\n"), ("ca.crt", "CA")],
            b"package",
        );
        let api = client(&emu.base_url());

        let preview = api
            .expand_server_preview(&ExpandPreviewRequest::new(APP, RPC, OLD, &[NEW]))
            .await
            .unwrap();
        assert_eq!(preview.len(), 1);
        assert_eq!(
            (preview[0].obj_name.as_str(), preview[0].node_name.as_str()),
            ("RpcServiceObj", NEW)
        );
        let port = api.auto_port(NEW).await.unwrap();
        let req = ExpandRequest::from_preview(APP, RPC, OLD, &[(preview[0].clone(), port)]);
        api.expand_server(&req).await.unwrap();
        let rows = api.server_list(APP, Some(RPC)).await.unwrap();
        let new_row = rows
            .iter()
            .find(|r| r.node_name == NEW)
            .expect("expanded row")
            .clone();
        assert_eq!(rows.len(), 2);

        let row_id = push_config(&api, RPC, NEW, "config.ini", "[rpc]\nnew\n").await;
        run_task(
            &api,
            &TaskRequest::patch(new_row.id, seeded.patch_id),
            POLL,
            LIMIT,
        )
        .await
        .unwrap();
        assert!(api.server_by_id(new_row.id).await.unwrap().is_running());

        // Rollback path: stop, drop the node row, undeploy.
        let stop = TaskRequest::single(new_row.id, TaskCommand::Stop, Default::default());
        run_task(&api, &stop, POLL, LIMIT).await.unwrap();
        assert!(!api.server_by_id(new_row.id).await.unwrap().is_running());
        api.delete_config_file(row_id).await.unwrap();
        assert_eq!(api.config_file(row_id).await.unwrap(), None);
        let undeploy = TaskRequest::single(new_row.id, TaskCommand::UndeployTars, Default::default());
        run_task(&api, &undeploy, POLL, LIMIT).await.unwrap();
        let rows = api.server_list(APP, Some(RPC)).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.node_name.as_str()).collect::<Vec<_>>(),
            vec![OLD]
        );
    }

    #[tokio::test]
    async fn a_wrong_token_is_unauthorized_and_never_shown() {
        let emu = emulator(Vec::new(), Duration::ZERO).await;
        let wrong = HttpTarsClient::new(ClientConfig {
            token: Secret::new("wrong-token-0123456789"),
            ..config(&emu.base_url())
        })
        .unwrap();
        for err in [
            wrong.check_token().await.unwrap_err(),
            wrong.server_list(APP, None).await.unwrap_err(),
        ] {
            assert!(matches!(err, TarsError::Unauthorized(_)), "{err:?}");
            let text = format!("{err} {err:?}");
            assert!(!text.contains("wrong-token-0123456789"), "{text}");
            assert!(text.contains(TOKEN_HINT), "{text}");
        }

        emu.handle().add_user_token("viewer-token-xyz", "bob");
        let viewer = HttpTarsClient::new(ClientConfig {
            token: Secret::new("viewer-token-xyz"),
            ..config(&emu.base_url())
        })
        .unwrap();
        viewer.check_token().await.unwrap();
        let err = viewer.config_file_list(APP, RPC).await.unwrap_err();
        assert!(matches!(err, TarsError::Forbidden(_)), "{err:?}");
    }

    #[tokio::test]
    async fn latency_within_and_past_the_timeout() {
        let emu = emulator(Vec::new(), Duration::from_millis(300)).await;
        let started = Instant::now();
        client(&emu.base_url()).node_list().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));

        let impatient = HttpTarsClient::new(ClientConfig {
            timeout: Duration::from_millis(100),
            retries: 0,
            ..config(&emu.base_url())
        })
        .unwrap();
        let err = impatient.node_list().await.unwrap_err();
        assert!(matches!(err, TarsError::Timeout { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn api_fault_fails_once_and_a_post_is_not_retried() {
        let emu = emulator(vec![rule("api:deploy_server#1")], Duration::ZERO).await;
        let api = client(&emu.base_url());
        let req = DeployRequest::bcos(APP, RPC, NEW, "RpcServiceObj", 24567);
        let err = api.deploy_server(&req).await.unwrap_err();
        assert!(matches!(err, TarsError::Api(_)), "{err:?}");
        assert_eq!(err.ret_code(), Some(500));
        assert!(
            err.to_string().contains("system error"),
            "English via __locale=en: {err}"
        );
        assert_eq!(emu.handle().call_count("deploy_server"), 1);
        assert_eq!(api.deploy_server(&req).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn task_fault_gives_task_failed_naming_the_node() {
        let emu = emulator(vec![rule(&format!("task:patch_tars@{NEW}"))], Duration::ZERO).await;
        let seeded = emu
            .handle()
            .seed_deployed_server(APP, RPC, "RpcServiceObj", NEW, &[], b"p");
        let err = run_task(
            &client(&emu.base_url()),
            &TaskRequest::patch(seeded.server_id, seeded.patch_id),
            POLL,
            LIMIT,
        )
        .await
        .unwrap_err();
        match err {
            TarsError::TaskFailed {
                node,
                command,
                status,
                execute_info,
                ..
            } => {
                assert_eq!(
                    (node.as_str(), command.as_str(), status),
                    (NEW, "patch_tars", TaskState::Failed)
                );
                assert!(execute_info.contains("injected fault"), "{execute_info}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_down_node_is_reported_and_its_tasks_fail() {
        let emu = emulator(vec![rule(&format!("node-down:{NEW}"))], Duration::ZERO).await;
        let seeded = emu
            .handle()
            .seed_deployed_server(APP, RPC, "RpcServiceObj", NEW, &[], b"p");
        let api = client(&emu.base_url());
        let nodes = api.list_tars_node().await.unwrap();
        let down = nodes.iter().find(|n| n.node_name == NEW).unwrap();
        assert!(!down.is_alive(), "{down:?}");
        assert!(nodes.iter().find(|n| n.node_name == OLD).unwrap().is_alive());
        let restart = TaskRequest::single(seeded.server_id, TaskCommand::Restart, Default::default());
        let err = run_task(&api, &restart, POLL, LIMIT).await.unwrap_err();
        assert!(
            matches!(err, TarsError::TaskFailed { ref node, .. } if node == NEW),
            "{err:?}"
        );
    }
}
