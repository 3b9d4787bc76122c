//! Hostile input: mutated topologies, state files, saved plans and TarsWeb responses,
//! deep nesting, and very large inputs.
//!
//! Whatever the bytes, tarsform never panics, answers with an error that names the file
//! or key, never shows the token, and never changes a file it only reads.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use tarsform::addr::{Address, ResourceKind};
use tarsform::config::{self, ConfigErrors, Format, ServiceKind};
use tarsform::plan::saved;
use tarsform::secret::Secret;
use tarsform::state::{ResourceState, State, StateStore, read_state};
use tarsform::tars::{ClientConfig, DeployRequest, HttpTarsClient, TarsApi, TarsError};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.h0stile-t0ken.sig";
const ENV_TOKEN: &str = "env-h0stile-t0ken-42";

fn tarsform(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .current_dir(dir)
        .args(args)
        .env_remove("TARSFORM_TARS_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .expect("the tarsform binary runs")
}

/// Exit 1 with an `error:` naming `name`, no panic, and no token.
fn assert_clean_failure(out: &Output, name: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("error: ")),
        "{name}: {stderr}"
    );
    assert!(stderr.contains(name), "error does not name {name}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains(TOKEN),
        "{stderr}"
    );
}

// ------------------------------------------------------------------ mutations

/// What a mutation may write where a value was.
#[derive(Debug, Clone, Copy)]
enum Syntax {
    Toml,
    Yaml,
    Json,
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Truncate(Index),
    Insert(Index, String),
    /// Replace the value of the n-th `key = value` line with the m-th hostile value.
    Retype(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip(at, byte)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), "[\\[\\]{}=\"',:. a-z0-9\n#&*!-]{1,12}")
            .prop_map(|(at, junk)| Mutation::Insert(at, junk)),
        (any::<Index>(), any::<Index>()).prop_map(|(line, value)| Mutation::Retype(line, value)),
    ]
}

/// Wrong types and huge values, written in `syntax`.
fn hostile_values(syntax: Syntax) -> Vec<String> {
    let long = format!("\"{}\"", "x".repeat(100_000));
    let nested = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let mut values = vec![
        "1e300".to_string(),
        "-1e300".to_string(),
        "1000000000000000000000000000000".to_string(),
        "18446744073709551616".to_string(),
        "-1".to_string(),
        "0".to_string(),
        "true".to_string(),
        "\"\"".to_string(),
        "[1, [2, [3]]]".to_string(),
        long,
        nested,
    ];
    values.extend(
        match syntax {
            Syntax::Toml => vec![
                "nan",
                "-inf",
                "1979-05-27T07:32:00Z",
                "{ a = { b = 1 } }",
                "0x7fffffffffffffff",
            ],
            Syntax::Yaml => vec![".nan", "~", "!!binary aGk=", "{a: {b: 1}}", "&x [*x]"],
            Syntax::Json => vec!["null", "{}", "[]", "{\"a\": {\"b\": 1}}", "\"1\""],
        }
        .into_iter()
        .map(str::to_string),
    );
    values
}

fn mutate(bytes: &[u8], mutation: &Mutation, syntax: Syntax) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match mutation {
        Mutation::Flip(at, byte) if !out.is_empty() => {
            let i = at.index(out.len());
            out[i] = *byte;
        }
        Mutation::Flip(..) => {}
        Mutation::Truncate(at) => out.truncate(at.index(bytes.len() + 1)),
        Mutation::Insert(at, junk) => {
            let i = at.index(bytes.len() + 1);
            out.splice(i..i, junk.bytes());
        }
        Mutation::Retype(line, value) => {
            let sep: &[u8] = match syntax {
                Syntax::Toml => b"= ",
                Syntax::Yaml | Syntax::Json => b": ",
            };
            let mut starts = vec![0];
            starts.extend(
                bytes
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'\n')
                    .map(|(i, _)| i + 1),
            );
            let sites: Vec<(usize, usize)> = starts
                .iter()
                .filter_map(|&s| {
                    let end = bytes[s..]
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(bytes.len(), |e| s + e);
                    let at = bytes[s..end].windows(sep.len()).position(|w| w == sep)?;
                    Some((s + at + sep.len(), end))
                })
                .collect();
            if sites.is_empty() {
                return out;
            }
            let (from, mut to) = sites[line.index(sites.len())];
            if matches!(syntax, Syntax::Json) && bytes[from..to].ends_with(b",") {
                to -= 1;
            }
            let values = hostile_values(syntax);
            out.splice(from..to, values[value.index(values.len())].bytes());
        }
    }
    out
}

fn mutate_all(text: &str, mutations: &[Mutation], syntax: Syntax) -> Vec<u8> {
    mutations
        .iter()
        .fold(text.as_bytes().to_vec(), |bytes, m| mutate(&bytes, m, syntax))
}

// ------------------------------------------------------------------ topologies

struct Seed {
    name: &'static str,
    text: &'static str,
    format: Format,
}

const SEEDS: [Seed; 5] = [
    Seed {
        name: "expand-agencyA.toml",
        text: include_str!("../conf/expand-agencyA.toml"),
        format: Format::Toml,
    },
    Seed {
        name: "expand-agencyA.yaml",
        text: include_str!("../conf/expand-agencyA.yaml"),
        format: Format::Yaml,
    },
    Seed {
        name: "deploy-two-agencies.toml",
        text: include_str!("../conf/deploy-two-agencies.toml"),
        format: Format::Toml,
    },
    Seed {
        name: "config-deploy-example.toml",
        text: include_str!("fixtures/topology/config-deploy-example.toml"),
        format: Format::Toml,
    },
    Seed {
        name: "config-service-expand-example.toml",
        text: include_str!("fixtures/topology/config-service-expand-example.toml"),
        format: Format::Toml,
    },
];

/// The seed with the token written into the file.
fn with_token(seed: &Seed) -> String {
    seed.text
        .replacen("tars_token = \"\"", &format!("tars_token = \"{TOKEN}\""), 1)
        .replacen("tars_token: \"\"", &format!("tars_token: \"{TOKEN}\""), 1)
}

fn check_config_errors(e: &ConfigErrors, name: &str) -> Result<(), TestCaseError> {
    prop_assert!(!e.errors.is_empty());
    for err in &e.errors {
        prop_assert!(!err.message.trim().is_empty(), "empty message in {e:?}");
    }
    let shown = e.to_string();
    prop_assert!(shown.contains(&format!("error(s) in {name}:")), "{shown}");
    prop_assert!(
        !shown.contains(TOKEN) && !shown.contains(ENV_TOKEN),
        "token shown: {shown}"
    );
    prop_assert!(shown.len() < 100_000, "{} bytes of errors", shown.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_topologies_give_clear_errors_without_the_token(
        seed in 0..SEEDS.len(),
        mutations in vec(mutation(), 1..4),
        env in any::<bool>(),
    ) {
        let seed = &SEEDS[seed];
        let syntax = match seed.format { Format::Toml => Syntax::Toml, Format::Yaml => Syntax::Yaml };
        let bytes = mutate_all(&with_token(seed), &mutations, syntax);
        let text = String::from_utf8_lossy(&bytes);
        let env_token = env.then_some(ENV_TOKEN);
        if let Err(e) = config::parse_str(&text, seed.format, seed.name, env_token) {
            check_config_errors(&e, seed.name)?;
        }
    }
}

fn nested(depth: usize, open: &str, close: &str, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// Deep documents, each a syntax error of its own kind.
fn deep_documents(depth: usize) -> Vec<(&'static str, String, Format)> {
    let head = "[tars]\ntars_url = \"http://127.0.0.1:3000\"\n";
    let dotted = vec!["a"; depth].join(".");
    vec![
        (
            "arrays.toml",
            format!("{head}x = {}\n", nested(depth, "[", "]", "1")),
            Format::Toml,
        ),
        (
            "tables.toml",
            format!("{head}x = {}\n", nested(depth, "{a=", "}", "1")),
            Format::Toml,
        ),
        ("dotted.toml", format!("{head}{dotted} = 1\n"), Format::Toml),
        ("header.toml", format!("{head}[{dotted}]\n"), Format::Toml),
        (
            "flow.yaml",
            format!("tars: {}\n", nested(depth, "[", "]", "1")),
            Format::Yaml,
        ),
        (
            "maps.yaml",
            format!("tars: {}\n", nested(depth, "{a: ", "}", "1")),
            Format::Yaml,
        ),
        // Indentation grows with depth: 1,000 levels are far past the parser's limit.
        (
            "block.yaml",
            (0..depth.min(1_000))
                .map(|i| format!("{}a:\n", "  ".repeat(i)))
                .collect(),
            Format::Yaml,
        ),
    ]
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    for (name, text, format) in deep_documents(10_000) {
        let err = config::parse_str(&text, format, name, None).expect_err(name);
        check_config_errors(&err, name).unwrap();
        let shown = err.to_string();
        assert!(
            shown.contains("recursion") || shown.contains("nest deeper"),
            "{name}: {shown}"
        );
    }
}

#[test]
fn a_mebibyte_of_open_brackets_is_refused_at_once() {
    for (name, format) in [("open.yaml", Format::Yaml), ("open.toml", Format::Toml)] {
        let text = format!("tars: {}", "[".repeat(1 << 20)).replacen(
            ": ",
            " = ",
            usize::from(name.ends_with("toml")),
        );
        let started = Instant::now();
        let err = config::parse_str(&text, format, name, None).unwrap_err();
        check_config_errors(&err, name).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name}: {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_yaml_alias_bomb_is_refused() {
    let mut text =
        String::from("a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 8].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text.push_str("tars: *a9\n");
    let err = config::parse_str(&text, Format::Yaml, "bomb.yaml", None).unwrap_err();
    assert!(err.to_string().contains("repetition limit"), "{err}");
}

#[test]
fn validate_refuses_hostile_files_and_leaves_them_alone() {
    let dir = tempfile::tempdir().unwrap();
    let expand = with_token(&SEEDS[0]);
    let mut files: Vec<(String, Vec<u8>)> = deep_documents(10_000)
        .into_iter()
        .map(|(name, text, _)| (name.to_string(), text.into_bytes()))
        .collect();
    files.push((
        "truncated.toml".into(),
        expand.as_bytes()[..expand.len() / 2].to_vec(),
    ));
    files.push(("binary.toml".into(), (0..=255u8).cycle().take(4096).collect()));
    files.push((
        "huge.toml".into(),
        expand
            .replace(
                "listen_port = 10200",
                "listen_port = 1000000000000000000000000000000",
            )
            .replace("thread_count = 4", "thread_count = 1e300")
            .replace(
                "chain_id = \"chain0\"",
                &format!("chain_id = \"{}\"", "c!".repeat(1 << 20)),
            )
            .into_bytes(),
    ));
    for (name, bytes) in &files {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        let out = tarsform(dir.path(), &["validate", "-c", name]);
        assert_clean_failure(&out, name);
        assert!(
            out.stderr.len() < 20_000,
            "{name}: {} bytes of errors",
            out.stderr.len()
        );
        assert_eq!(&fs::read(&path).unwrap(), bytes, "{name} was changed");
    }
}

/// Runs the binary under `/usr/bin/time` when present; returns the output, the time
/// and the peak RSS in KiB (when measured). The time is the process's CPU time when
/// measured (other builds on a shared machine do not inflate it), else the wall time.
fn measured(dir: &Path, args: &[&str]) -> (Output, Duration, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    let started = Instant::now();
    let out = if time.exists() {
        Command::new(time)
            .args(["-f", "peak-rss-kib=%M\ncpu-seconds=%U %S"])
            .arg(env!("CARGO_BIN_EXE_tarsform"))
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap()
    } else {
        tarsform(dir, args)
    };
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib="))
        .and_then(|n| n.trim().parse().ok());
    let cpu = stderr
        .lines()
        .find_map(|l| l.strip_prefix("cpu-seconds="))
        .and_then(|t| {
            let mut parts = t.split_whitespace().map(|n| n.parse::<f64>().ok());
            Some(parts.next()?? + parts.next()??)
        })
        .map(Duration::from_secs_f64);
    (out, cpu.unwrap_or(elapsed), rss)
}

#[test]
fn a_ten_mebibyte_topology_validates_in_bounded_time_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut text =
        String::from("[tars]\ntars_url = \"http://127.0.0.1:3000\"\n[chain]\nchain_id = \"chain0\"\n");
    let mut agencies = 0;
    while text.len() < 10 << 20 {
        let (a, b) = (agencies / 250 % 250, agencies % 250);
        text.push_str(&format!(
            "[[agency]]\nname = \"agency{agencies}\"\n[agency.rpc]\ndeploy_ip = [\"10.{a}.{b}.1\"]\nlisten_port = 20200\n\
             [agency.gateway]\ndeploy_ip = [\"10.{a}.{b}.2\"]\nlisten_port = 30300\npeers = [\"10.{a}.{b}.2:30300\"]\n"
        ));
        agencies += 1;
    }
    fs::write(dir.path().join("big.toml"), &text).unwrap();
    let (out, elapsed, rss) = measured(dir.path(), &["validate", "-c", "big.toml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(&format!("{agencies} agencies")),
        "{}",
        &stdout[..200]
    );
    eprintln!(
        "validate, {} bytes, {agencies} agencies: {elapsed:?}, peak RSS {rss:?} KiB",
        text.len()
    );
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    if let Some(kib) = rss {
        assert!(kib < 2 << 20, "peak RSS {kib} KiB");
    }
}

// ------------------------------------------------------------------ state files

fn sample_state() -> State {
    let server = "agencyABcosRpcService";
    let ip = "172.25.0.5";
    let mut state = State::new("chain0", "6f1c2a4e-8d3b-4c1e-9f0a-2b7d5e8c1a93");
    state.serial = 7;
    state.insert(
        Address::tarsnode(ip),
        ResourceState::new(ResourceKind::Tarsnode).with_attribute("alive", true),
    );
    state.insert(
        Address::ca(ServiceKind::Rpc),
        ResourceState::new(ResourceKind::Ca).with_attribute("cert_sha256", "ab".repeat(32)),
    );
    state.insert(
        Address::server(server),
        ResourceState::new(ResourceKind::Server)
            .with_attribute("patch_id", 12)
            .with_attribute("package_sha256", "cd".repeat(32)),
    );
    state.insert(
        Address::config(server, ip, "config.ini"),
        ResourceState::new(ResourceKind::Config)
            .with_attribute("config_id", 31)
            .with_attribute("content_sha256", "ef".repeat(32))
            .with_dependency(Address::node(server, ip)),
    );
    state.insert(
        Address::node(server, ip),
        ResourceState::new(ResourceKind::Node)
            .with_attribute("adapter_port", 20001)
            .with_attribute("patch_version", "12")
            .with_dependency(Address::tarsnode(ip))
            .with_dependency(Address::server(server)),
    );
    state
}

fn state_text() -> String {
    serde_json::to_string_pretty(&sample_state()).unwrap() + "\n"
}

/// A state file under a fresh directory, as the store would place it.
fn state_file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("chain0.state.json");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, bytes).unwrap();
    (dir, path)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutated_state_files_are_refused_and_left_untouched(mutations in vec(mutation(), 1..4)) {
        let bytes = mutate_all(&state_text(), &mutations, Syntax::Json);
        let (_dir, path) = state_file(&bytes);
        let unlocked = read_state(&path);
        let store = StateStore::open(&path, "hostile test").unwrap();
        let locked = store.load();
        drop(store);
        prop_assert_eq!(fs::read(&path).unwrap(), bytes, "the state file changed");
        prop_assert!(!path.with_file_name("chain0.state.json.lock").exists());
        prop_assert_eq!(unlocked.is_ok(), locked.is_ok());
        if let Err(e) = unlocked {
            let shown = e.to_string();
            prop_assert!(shown.contains(&path.display().to_string()), "{}", shown);
            prop_assert!(shown.contains("hint:"), "{}", shown);
        }
    }
}

#[test]
fn state_list_refuses_damaged_state_without_touching_it() {
    let valid = state_text();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", (0..=255u8).rev().cycle().take(1000).collect()),
        ("truncated", valid.as_bytes()[..valid.len() / 3].to_vec()),
        (
            "resources as a list",
            valid
                .replacen("\"resources\": {", "\"resources\": [{", 1)
                .into_bytes(),
        ),
        (
            "huge serial",
            valid
                .replacen("\"serial\": 7", "\"serial\": 1e30", 1)
                .into_bytes(),
        ),
        (
            "serial past u64",
            valid
                .replacen("\"serial\": 7", "\"serial\": 18446744073709551616", 1)
                .into_bytes(),
        ),
        (
            "negative serial",
            valid.replacen("\"serial\": 7", "\"serial\": -1", 1).into_bytes(),
        ),
        (
            "future format",
            valid
                .replacen("\"format_version\": 1", "\"format_version\": 2", 1)
                .into_bytes(),
        ),
        (
            "format as text",
            valid
                .replacen("\"format_version\": 1", "\"format_version\": \"1\"", 1)
                .into_bytes(),
        ),
        (
            "wrong kind",
            valid
                .replacen("\"kind\": \"tarsnode\"", "\"kind\": \"node\"", 1)
                .into_bytes(),
        ),
        (
            "unknown status",
            valid
                .replacen("\"status\": \"ready\"", "\"status\": \"on fire\"", 1)
                .into_bytes(),
        ),
        (
            "bad address",
            valid.replacen("tarsnode[", "tarsnode(", 1).into_bytes(),
        ),
        (
            "deep nesting",
            valid
                .replacen(
                    "\"alive\": true",
                    &format!("\"alive\": {}", nested(10_000, "[", "]", "")),
                    1,
                )
                .into_bytes(),
        ),
    ];
    for (what, bytes) in cases {
        assert_ne!(bytes, valid.as_bytes(), "{what}: the mutation did not apply");
        let (dir, path) = state_file(&bytes);
        let out = tarsform(
            dir.path(),
            &["state", "list", "--state", "state/chain0.state.json"],
        );
        assert_clean_failure(&out, "state/chain0.state.json");
        assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"), "{what}");
        assert_eq!(fs::read(&path).unwrap(), bytes, "{what}: the state file changed");
    }
}

#[test]
fn the_largest_serial_lists_but_is_never_written_past() {
    let bytes = state_text().replacen("\"serial\": 7", &format!("\"serial\": {}", u64::MAX), 1);
    let (dir, path) = state_file(bytes.as_bytes());
    let args = ["--state", "state/chain0.state.json"];
    let list = tarsform(dir.path(), &[&["state", "list"][..], &args].concat());
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let rm = tarsform(
        dir.path(),
        &[&["state", "rm"][..], &args, &["tarsnode[\"172.25.0.5\"]"]].concat(),
    );
    assert_clean_failure(&rm, "state/chain0.state.json");
    assert!(String::from_utf8_lossy(&rm.stderr).contains("largest possible"));
    assert_eq!(fs::read_to_string(&path).unwrap(), bytes);
}

#[test]
fn a_state_of_100000_resources_loads_and_lists() {
    let mut state = State::new("chain0", "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f");
    for i in 0..100_000u32 {
        let server = format!("agency{}BcosRpcService", i / 1000);
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        state.insert(
            Address::node(&server, &ip),
            ResourceState::new(ResourceKind::Node)
                .with_attribute("adapter_port", 20000 + i % 10000)
                .with_attribute("patch_version", "12")
                .with_dependency(Address::tarsnode(&ip))
                .with_dependency(Address::server(&server)),
        );
    }
    let bytes = serde_json::to_vec_pretty(&state).unwrap();
    let (dir, path) = state_file(&bytes);
    let started = Instant::now();
    let loaded = StateStore::open(&path, "test").unwrap().load().unwrap().unwrap();
    let load_time = started.elapsed();
    assert_eq!(loaded.resources.len(), 100_000);
    let (out, elapsed, rss) = measured(
        dir.path(),
        &["state", "list", "--state", "state/chain0.state.json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 100_000);
    eprintln!(
        "state of 100000 resources ({} bytes): load {load_time:?}; `state list` {elapsed:?}, peak RSS {rss:?} KiB",
        bytes.len()
    );
    assert!(elapsed < Duration::from_secs(60));
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

// ------------------------------------------------------------------ saved plans

/// A gzip tar holding `<name>/<name>`, like the FISCO-BCOS release archives.
fn release_archive(name: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let body = b"#!/bin/sh\necho hostile\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, format!("{name}/{name}"), &body[..])
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// The seed expansion planned by the binary with `--refresh=false --out`.
fn saved_plan_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("expand.toml"), SEEDS[0].text).unwrap();
        fs::create_dir(dir.path().join("binary")).unwrap();
        for kind in [ServiceKind::Rpc, ServiceKind::Gateway] {
            let name = kind.binary_name();
            fs::write(
                dir.path().join(format!("binary/{name}.tgz")),
                release_archive(name),
            )
            .unwrap();
        }
        let args = [
            "plan",
            "-c",
            "expand.toml",
            "--refresh=false",
            "--out",
            "p.plan.json",
        ];
        let out = tarsform(dir.path(), &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        fs::read_to_string(dir.path().join("p.plan.json")).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn a_mutated_saved_plan_is_refused_unless_it_means_the_same(mutations in vec(mutation(), 1..4)) {
        let original = saved::from_file_text(saved_plan_text()).unwrap();
        let bytes = mutate_all(saved_plan_text(), &mutations, Syntax::Json);
        match saved::from_file_text(&String::from_utf8_lossy(&bytes)) {
            Ok(plan) => prop_assert_eq!(plan, original),
            Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
        }
    }
}

#[test]
fn show_refuses_a_damaged_or_edited_plan() {
    let text = saved_plan_text();
    let dir = tempfile::tempdir().unwrap();
    let reason = "new RSA-2048 key and certificate (ssl)";
    assert!(text.contains(reason));
    for (name, bytes) in [
        ("truncated.plan.json", text.as_bytes()[..text.len() - 40].to_vec()),
        (
            "edited.plan.json",
            text.replacen(reason, "nothing to see here", 1).into_bytes(),
        ),
        (
            "future.plan.json",
            text.replacen("\"format_version\": 1", "\"format_version\": 7", 1)
                .into_bytes(),
        ),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, &bytes).unwrap();
        let out = tarsform(dir.path(), &["show", name]);
        assert_clean_failure(&out, name);
        assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"), "{name}");
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }
    fs::write(dir.path().join("intact.plan.json"), text).unwrap();
    assert!(
        tarsform(dir.path(), &["show", "intact.plan.json"])
            .status
            .success()
    );
}

// ------------------------------------------------------------------ Tars responses

/// A loopback server that answers every request with the current `body`.
struct HostileTars {
    runtime: tokio::runtime::Runtime,
    body: Arc<Mutex<Vec<u8>>>,
    client: HttpTarsClient,
}

fn hostile_tars() -> &'static HostileTars {
    static SERVER: OnceLock<HostileTars> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let body = Arc::new(Mutex::new(Vec::new()));
        let shared = body.clone();
        let router = Router::new().fallback(move || {
            let bytes = shared.lock().unwrap().clone();
            async move {
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    bytes,
                )
            }
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, router).await.unwrap() });
        let config = ClientConfig {
            base_url: base,
            token: Secret::new(TOKEN),
            timeout: Duration::from_secs(5),
            retries: 0,
            retry_backoff: Duration::from_millis(1),
            upload_timeout: Duration::from_secs(5),
            max_rps: None,
        };
        let client = runtime.block_on(async { HttpTarsClient::new(config) }).unwrap();
        HostileTars {
            runtime,
            body,
            client,
        }
    })
}

const ROW: &str = r#"{"id":"31","application":"chain0","server_name":"S","node_name":"172.25.0.5","setting_state":"active","present_state":"active","patch_version":"12","enable_set":false,"set_name":null}"#;

/// Well-formed answers of the four endpoints, to be cut anywhere.
fn valid_bodies() -> Vec<String> {
    let envelope = |data: String| format!(r#"{{"data":{data},"ret_code":200,"err_msg":""}}"#);
    vec![
        envelope(format!("[{ROW}]")),
        envelope(r#"[{"id":7,"server_name":"S","filename":"config.ini","config":"[a]\nb=1\n","level":2}]"#.into()),
        envelope(r#"{"task_no":"t-1","serial":true,"status":2,"items":[{"task_no":"t-1","item_no":"i","status":2}]}"#.into()),
        envelope(format!(r#"{{"server_conf":[{ROW}],"tars_node_rst":[]}}"#)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(1e300)),
        Just(json!(-0.5)),
        "[a-z0-9 .]{0,8}".prop_map(Value::from),
        Just(Value::from(TOKEN)),
        Just(Value::from(format!("ticket={TOKEN}"))),
    ];
    let key = prop_oneof![
        Just("id".to_string()),
        Just("node_name".to_string()),
        Just("server_conf".to_string()),
        Just("items".to_string()),
        Just("status".to_string()),
        Just("task_no".to_string()),
        Just("config".to_string()),
        Just("level".to_string()),
        "[a-z_]{1,8}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn hostile_body() -> impl Strategy<Value = Vec<u8>> {
    let bodies = valid_bodies();
    prop_oneof![
        vec(any::<u8>(), 0..400),
        (0..bodies.len(), any::<Index>()).prop_map(move |(i, cut)| {
            let body = bodies[i].as_bytes();
            body[..cut.index(body.len())].to_vec()
        }),
        json_value().prop_map(|data| json!({"data": data, "ret_code": 200, "err_msg": ""})
            .to_string()
            .into_bytes()),
        (json_value(), json_value(), json_value()).prop_map(|(code, msg, data)| {
            json!({"ret_code": code, "err_msg": msg, "data": data})
                .to_string()
                .into_bytes()
        }),
    ]
}

fn check_tars<T: std::fmt::Debug>(call: &str, result: Result<T, TarsError>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let shown = e.to_string();
        let debug = format!("{e:?}");
        prop_assert!(
            !shown.contains(TOKEN) && !debug.contains(TOKEN),
            "{call} shows the token: {shown}"
        );
        prop_assert!(
            shown.contains("/api/"),
            "{call}: the error does not name the call: {shown}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn hostile_tars_answers_are_errors_without_the_token(body in hostile_body()) {
        let tars = hostile_tars();
        *tars.body.lock().unwrap() = body;
        let client = &tars.client;
        let request = DeployRequest::bcos("chain0", "S", "172.25.0.5", "RpcServiceObj", 20000);
        let (servers, configs, task, deployed) = tars.runtime.block_on(async {
            (
                client.server_list("chain0", Some("S")).await,
                client.config_file_list("chain0", "S").await,
                client.task("t-1").await,
                client.deploy_server(&request).await,
            )
        });
        check_tars("server_list", servers)?;
        check_tars("config_file_list", configs)?;
        check_tars("task", task)?;
        check_tars("deploy_server", deployed)?;
    }
}

#[test]
fn a_token_echoed_in_a_wrong_type_is_redacted() {
    let tars = hostile_tars();
    let body = json!({"ret_code": 200, "err_msg": "", "data": [{"id": TOKEN}]});
    *tars.body.lock().unwrap() = body.to_string().into_bytes();
    let err = tars
        .runtime
        .block_on(tars.client.server_list("chain0", None))
        .unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, TarsError::Protocol(_)), "{err:?}");
    assert!(
        shown.contains("cannot decode") && shown.contains("(sensitive)"),
        "{shown}"
    );
    assert!(!shown.contains(TOKEN), "{shown}");
}
