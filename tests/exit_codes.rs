//! Exit codes a pipeline relies on: usage errors exit 1 on every command, 2 means only
//! "changes present", and Terraform's single-dash spellings work or name `--flag`.

use std::path::Path;
use std::process::{Command, Output};

use clap::CommandFactory;
use tarsform::cli::Cli;

fn tarsform_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .args(args)
        .current_dir(dir)
        .env_remove("TARSFORM_TARS_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .expect("the tarsform binary runs")
}

fn tarsform(args: &[&str]) -> Output {
    tarsform_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every command path, e.g. `["state", "rm"]`, except clap's own `help`.
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            walk(sub, &path, out);
            out.push(path);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &[], &mut out);
    out
}

#[test]
fn an_unknown_flag_exits_1_on_every_command() {
    let paths = command_paths();
    assert!(paths.len() >= 19, "only {} commands found", paths.len());
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--no-such-flag");
        let out = tarsform(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "tarsform {args:?}: {err}");
        assert!(err.contains("--no-such-flag"), "tarsform {args:?}: {err}");
    }
}

#[test]
fn other_usage_errors_exit_1_and_help_exits_0() {
    for args in [
        &[][..],
        &["no-such-command"],
        &["import"],
        &["state"],
        &["plan", "--format", "yaml"],
        &["apply", "--parallelism", "many"],
        &["completions", "cmd.exe"],
    ] {
        let out = tarsform(args);
        assert_eq!(out.status.code(), Some(1), "tarsform {args:?}: {}", stderr(&out));
    }
    for args in [
        &["--help"][..],
        &["--version"],
        &["plan", "--help"],
        &["plan", "-help"],
    ] {
        let out = tarsform(args);
        assert_eq!(out.status.code(), Some(0), "tarsform {args:?}: {}", stderr(&out));
        assert!(!out.stdout.is_empty(), "tarsform {args:?} printed nothing");
    }
}

fn release_tgz(binary: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let body = b"\x7fELF fake binary";
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, format!("{binary}/{binary}"), &body[..])
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan/expand-agencyA.toml");
    std::fs::copy(fixture, dir.path().join("config.toml")).unwrap();
    std::fs::create_dir(dir.path().join("binary")).unwrap();
    for binary in ["BcosRpcService", "BcosGatewayService"] {
        std::fs::write(
            dir.path().join(format!("binary/{binary}.tgz")),
            release_tgz(binary),
        )
        .unwrap();
    }
    dir
}

#[test]
fn terraform_single_dash_spellings_work() {
    let dir = workspace();
    let d = dir.path();
    let out = tarsform_in(
        d,
        &[
            "plan",
            "-refresh=false",
            "-detailed-exitcode",
            "-out=plans/p.json",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(d.join("plans/p.json").is_file());

    let out = tarsform_in(
        d,
        &[
            "plan",
            "-refresh=false",
            "-target=ca[\"rpc\"]",
            "-detailed-exitcode",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Plan: 1 to add"), "{text}");

    // Parsed as a flag: apply goes on to read the plan file, no "unexpected argument '-a'".
    let out = tarsform_in(d, &["apply", "-auto-approve", "plans/missing.json"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("plans/missing.json") && !err.contains("unexpected"),
        "{err}"
    );
}

#[test]
fn terraform_flags_tarsform_lacks_are_named_with_two_dashes() {
    for flag in [
        "-lock=false",
        "-var-file=prod.tfvars",
        "-chdir=infra",
        "-compact-warnings",
    ] {
        let out = tarsform(&["plan", flag]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{flag}: {err}");
        let name = flag.split('=').next().unwrap();
        assert!(err.contains(&format!("-{name}")), "{flag}: {err}");
    }
}

#[test]
fn exit_2_means_changes_and_0_none() {
    let dir = workspace();
    let d = dir.path();
    let out = tarsform_in(d, &["plan", "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = tarsform_in(d, &["plan", "--refresh=false"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
