//! Packages by digest (`[tars.packages]`): plan needs only the digest; apply fetches the
//! release archive from a URL (a loopback HTTP server here) or a directory, verifies its
//! sha256, caches it under `generated/packages/by-sha256/`, and uploads as before.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::{Bed, GATEWAY, RPC, Start, Tars, assert_contains, assert_model_eq, runtime};
use tarsform::config::ServiceKind;
use tarsform::render::package::{build, sha256_hex, stand_in_release};

/// Files served by path, a request counter, and `/slow/...` that never answers in time.
#[derive(Clone, Default)]
struct Archives {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    requests: Arc<AtomicUsize>,
}

impl Archives {
    fn start() -> (Archives, String) {
        let archives = Archives::default();
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::get(serve))
            .with_state(archives.clone());
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        runtime().spawn(async move { axum::serve(listener, app).await });
        (archives, format!("http://{addr}"))
    }

    fn put(&self, path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_string(), bytes);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(State(archives): State<Archives>, UrlPath(path): UrlPath<String>) -> impl IntoResponse {
    archives.requests.fetch_add(1, Ordering::SeqCst);
    if path.starts_with("slow/") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    match archives.files.lock().unwrap().get(&path) {
        Some(bytes) => (StatusCode::OK, bytes.clone()),
        None => (StatusCode::NOT_FOUND, b"not found".to_vec()),
    }
}

/// Release archive "v1": what BcosBuilder's `binary/` holds in the seed.
fn v1(kind: ServiceKind) -> Vec<u8> {
    stand_in_release(kind)
}

/// Release archive "v2": the same `<binary>/<binary>` layout, other bytes.
fn v2(kind: ServiceKind) -> Vec<u8> {
    build(&stand_in_release(kind), kind, kind.binary_name()).unwrap()
}

/// `[tars.packages.rpc]` and `.gateway` tables.
fn pins(version: &str, rpc: (&str, &[u8]), gateway: (&str, &[u8])) -> String {
    let mut out = String::new();
    for (key, (source, bytes)) in [("rpc", rpc), ("gateway", gateway)] {
        out.push_str(&format!(
            "\n[tars.packages.{key}]\nversion = \"{version}\"\nsha256 = \"{}\"\n{source}\n",
            sha256_hex(bytes)
        ));
    }
    out
}

fn set_pins(bed: &Bed, tables: &str) {
    let path = bed.path().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let base = text.split("\n[tars.packages.").next().unwrap().to_string();
    std::fs::write(path, base + tables).unwrap();
}

fn cached(bed: &Bed, bytes: &[u8]) -> std::path::PathBuf {
    bed.path()
        .join(format!("generated/packages/by-sha256/{}.tgz", sha256_hex(bytes)))
}

fn server_package(bed: &Bed, server: &str) -> String {
    let resources = bed.resources().expect("state");
    resources[&format!("server[\"{server}\"]")]["attributes"]["package_sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn plan_needs_only_the_digest_and_apply_fetches_verifies_caches_and_uploads() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let (archives, base) = Archives::start();
    let (rpc, gw) = (ServiceKind::Rpc, ServiceKind::Gateway);
    archives.put("v1/BcosRpcService.tgz", v1(rpc));
    archives.put("v1/BcosGatewayService.tgz", v1(gw));
    archives.put("v2/BcosRpcService.tgz", v2(rpc));
    archives.put("v2/BcosGatewayService.tgz", v2(gw));
    // No release archive on the runner: BcosBuilder's binary/ is gone.
    std::fs::remove_dir_all(bed.path().join("binary")).unwrap();
    let url = |v: &str, kind: ServiceKind| format!("url = \"{base}/{v}/{}.tgz\"", kind.binary_name());
    set_pins(
        &bed,
        &pins("v3.4.0", (&url("v1", rpc), &v1(rpc)), (&url("v1", gw), &v1(gw))),
    );

    let plan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(2), "{}", plan.both());
    assert_contains(&plan.stdout, &sha256_hex(&v1(rpc)), "the plan shows the digest");
    assert_contains(&plan.stdout, "v3.4.0", "the plan shows the version");
    assert_eq!(archives.requests(), 0, "plan fetches nothing");

    let apply = bed.apply();
    assert_eq!(apply.code, Some(0), "{}", apply.both());
    assert_eq!(
        archives.requests(),
        2,
        "one request per archive:\n{}",
        apply.both()
    );
    assert_eq!(std::fs::read(cached(&bed, &v1(rpc))).unwrap(), v1(rpc));
    assert_eq!(std::fs::read(cached(&bed, &v1(gw))).unwrap(), v1(gw));
    assert_contains(
        &apply.stderr,
        &format!(
            "downloaded {} bytes from {base}/v1/BcosRpcService.tgz, sha256 verified, cached at generated/packages/by-sha256/",
            v1(rpc).len()
        ),
        "apply",
    );
    let replan = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(replan.code, Some(0), "{}", replan.both());

    // The plan is the same whether or not the archive is cached.
    std::fs::remove_dir_all(bed.path().join("generated/packages/by-sha256")).unwrap();
    let uncached = bed.run(&["plan", "-c", "config.toml", "--detailed-exitcode"]);
    assert_eq!(uncached.stdout, replan.stdout);

    // An upgrade is a change of version and sha256 in the topology (a pull request).
    set_pins(
        &bed,
        &pins("v3.5.0", (&url("v2", rpc), &v2(rpc)), (&url("v2", gw), &v2(gw))),
    );
    let plan = bed.run(&[
        "plan",
        "-c",
        "config.toml",
        "--detailed-exitcode",
        "--out",
        "up.plan",
    ]);
    assert_eq!(plan.code, Some(2), "{}", plan.both());
    assert_contains(&plan.stdout, "package changed", "upgrade plan");
    assert_contains(&plan.stdout, &sha256_hex(&v2(gw)), "upgrade plan");
    let apply = bed.run(&["apply", "-c", "config.toml", "up.plan"]);
    assert_eq!(apply.code, Some(0), "{}", apply.both());
    assert_eq!(archives.requests(), 4, "{}", apply.both());
    for (server, kind) in [(RPC, rpc), (GATEWAY, gw)] {
        assert_eq!(
            server_package(&bed, server),
            format!("release-sha256:{}", sha256_hex(&v2(kind)))
        );
    }
    // Tars received `<server>.tgz` built from the v2 release archive.
    for (server, kind) in [(RPC, rpc), (GATEWAY, gw)] {
        let patches = bed.handle().patches(common::APP, server);
        let built = sha256_hex(&build(&v2(kind), kind, server).unwrap());
        assert_eq!(
            patches.last().map(|p| &p.1),
            Some(&built),
            "{server}: {patches:?}"
        );
    }

    // A cached archive means no fetch: re-planning an upgrade from the cache.
    let before = archives.requests();
    set_pins(
        &bed,
        &pins("v3.4.0", (&url("v1", rpc), &v1(rpc)), (&url("v1", gw), &v1(gw))),
    );
    std::fs::create_dir_all(cached(&bed, b"").parent().unwrap()).unwrap();
    std::fs::write(cached(&bed, &v1(rpc)), v1(rpc)).unwrap();
    std::fs::write(cached(&bed, &v1(gw)), v1(gw)).unwrap();
    let apply = bed.apply();
    assert_eq!(apply.code, Some(0), "{}", apply.both());
    assert_eq!(archives.requests(), before, "{}", apply.both());
    assert_contains(&apply.stderr, "in the cache", "cached apply");
}

#[test]
fn a_wrong_digest_is_refused_before_any_tars_change() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let (archives, base) = Archives::start();
    let (rpc, gw) = (ServiceKind::Rpc, ServiceKind::Gateway);
    archives.put("BcosRpcService.tgz", v2(rpc));
    archives.put("BcosGatewayService.tgz", v1(gw));
    let authority = base.trim_start_matches("http://");
    set_pins(
        &bed,
        &pins(
            "v3.4.0",
            // Pinned v1, served v2; the URL carries credentials that must not show.
            (
                &format!("url = \"http://mirror:s3cr3tpw@{authority}/BcosRpcService.tgz\""),
                &v1(rpc),
            ),
            (&format!("url = \"{base}/BcosGatewayService.tgz\""), &v1(gw)),
        ),
    );
    let model = bed.snapshot();
    let patches = bed.handle().patches(common::APP, RPC);
    let apply = bed.apply();
    assert_eq!(apply.code, Some(1), "{}", apply.both());
    assert_eq!(
        bed.handle().patches(common::APP, RPC),
        patches,
        "nothing uploaded"
    );
    let err = &apply.stderr;
    assert_contains(err, RPC, "names the service");
    assert_contains(err, &sha256_hex(&v1(rpc)), "names the expected digest");
    assert_contains(err, &sha256_hex(&v2(rpc)), "names the actual digest");
    assert_contains(
        err,
        &format!("http://(sensitive)@{authority}/BcosRpcService.tgz"),
        "names the source",
    );
    assert!(!apply.both().contains("s3cr3tpw"), "{}", apply.both());
    assert!(!cached(&bed, &v1(rpc)).exists() && !cached(&bed, &v2(rpc)).exists());
    assert_model_eq(&model, &bed.snapshot(), "wrong digest");
    assert!(bed.resources().is_none_or(|r| r.is_empty()), "no state written");
}

#[test]
fn not_found_slow_and_oversized_downloads_fail_clearly() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let (archives, base) = Archives::start();
    let (rpc, gw) = (ServiceKind::Rpc, ServiceKind::Gateway);
    archives.put("BcosGatewayService.tgz", v1(gw));
    archives.put("slow/BcosRpcService.tgz", v1(rpc));
    archives.put("ok/BcosRpcService.tgz", v1(rpc));
    let gateway = format!("url = \"{base}/BcosGatewayService.tgz\"");
    let model = bed.snapshot();
    let cases = [
        (
            "missing/BcosRpcService.tgz",
            vec![],
            "the server answered 404 Not Found",
        ),
        (
            "slow/BcosRpcService.tgz",
            vec![("TARSFORM_PACKAGE_TIMEOUT", "1s")],
            "download failed: no complete answer within 1s",
        ),
        (
            "ok/BcosRpcService.tgz",
            vec![("TARSFORM_PACKAGE_MAX_SIZE", "100")],
            "the archive is larger than 100 bytes",
        ),
    ];
    for (path, env, message) in cases {
        set_pins(
            &bed,
            &pins(
                "v1",
                (&format!("url = \"{base}/{path}\""), &v1(rpc)),
                (&gateway, &v1(gw)),
            ),
        );
        let apply = bed.run_env(&["apply", "-c", "config.toml", "--auto-approve"], &env);
        assert_eq!(apply.code, Some(1), "{path}: {}", apply.both());
        assert_contains(&apply.stderr, message, path);
        assert_contains(&apply.stderr, &format!("{base}/{path}"), path);
        assert_contains(&apply.stderr, "nothing was uploaded to Tars", path);
        assert_model_eq(&model, &bed.snapshot(), path);
    }
}

#[test]
fn a_directory_source_is_read_relative_to_the_topology_file() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let (rpc, gw) = (ServiceKind::Rpc, ServiceKind::Gateway);
    std::fs::remove_dir_all(bed.path().join("binary")).unwrap();
    let releases = bed.path().join("conf/releases/v3.4.0");
    std::fs::create_dir_all(&releases).unwrap();
    std::fs::write(releases.join("BcosRpcService.tgz"), v1(rpc)).unwrap();
    std::fs::write(releases.join("BcosGatewayService.tgz"), v1(gw)).unwrap();
    let dir = "dir = \"releases/v3.4.0\"";
    set_pins(&bed, &pins("v3.4.0", (dir, &v1(rpc)), (dir, &v1(gw))));
    std::fs::rename(
        bed.path().join("config.toml"),
        bed.path().join("conf/config.toml"),
    )
    .unwrap();
    let apply = bed.run(&["apply", "-c", "conf/config.toml", "--auto-approve"]);
    assert_eq!(apply.code, Some(0), "{}", apply.both());
    assert_contains(
        &apply.stderr,
        "bytes from conf/releases/v3.4.0, sha256 verified",
        "dir source",
    );
    assert_eq!(std::fs::read(cached(&bed, &v1(gw))).unwrap(), v1(gw));
    assert_eq!(
        server_package(&bed, RPC),
        format!("release-sha256:{}", sha256_hex(&v1(rpc)))
    );
}

#[test]
fn a_pin_for_a_server_the_topology_lacks_is_refused() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let sha = sha256_hex(&v1(ServiceKind::Rpc));
    set_pins(
        &bed,
        &format!(
            "\n[tars.packages.agencyZBcosRpcService]\nversion = \"v1\"\nsha256 = \"{sha}\"\ndir = \"r\"\n"
        ),
    );
    let validate = bed.run(&["validate", "-c", "config.toml"]);
    assert_eq!(validate.code, Some(1), "{}", validate.both());
    assert_contains(
        &validate.stderr,
        "`[tars.packages.agencyZBcosRpcService]` names no service of the topology",
        "validate",
    );
    let plan = bed.run(&["plan", "-c", "config.toml"]);
    assert_eq!(plan.code, Some(1), "{}", plan.both());
}
