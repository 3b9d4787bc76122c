//! `tarsform completions` and `--help` of every command, through the binary.

use std::process::{Command, Output};

use clap::CommandFactory;
use tarsform::cli::Cli;

fn tarsform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .args(args)
        .output()
        .expect("the tarsform binary runs")
}

fn stdout_of(args: &[&str]) -> String {
    let out = tarsform(args);
    assert!(
        out.status.success(),
        "tarsform {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn each_shell_script_completes_commands_and_flags() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.len() > 1_000, "{shell}: only {} bytes", script.len());
        assert!(script.contains("plan"), "{shell} script lacks `plan`");
        assert!(script.contains("completions"), "{shell} script lacks itself");
        // fish names long flags without dashes (`-l detailed-exitcode`).
        let flag = if shell == "fish" {
            "-l detailed-exitcode"
        } else {
            "--detailed-exitcode"
        };
        assert!(script.contains(flag), "{shell} script lacks `{flag}`");
    }
}

#[test]
fn an_unknown_shell_is_refused() {
    let out = tarsform(&["completions", "cmd.exe"]);
    assert_eq!(out.status.code(), Some(1), "a usage error exits 1, not 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("possible values"), "{stderr}");
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
fn every_command_help_has_a_summary_and_an_example() {
    let paths = command_paths();
    assert!(paths.len() >= 19, "only {} commands found", paths.len());
    assert!(paths.contains(&vec!["completions".to_string()]));
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = stdout_of(&args);
        let summary = help.lines().next().unwrap_or_default();
        assert!(
            !summary.trim().is_empty() && !summary.starts_with("Usage"),
            "`{}` has no one-line summary:\n{help}",
            path.join(" ")
        );
        let example = help.split_once("Example:\n").map(|(_, rest)| rest);
        let invocation = format!("  tarsform {}", path.join(" "));
        assert!(
            example.is_some_and(|e| e.lines().any(|l| l.starts_with(&invocation))),
            "`{}` --help shows no example starting with `{invocation}`:\n{help}",
            path.join(" ")
        );
    }
}

/// `tarsform … | head` must not panic when the reader closes the pipe early.
#[test]
fn a_closed_stdout_pipe_is_not_a_panic() {
    use std::process::{Command, Stdio};
    // Far more output than a pipe buffers, so writes hit the closed pipe.
    let ips: Vec<String> = (1..=250)
        .map(|i| format!("\"10.0.{}.{}\"", i / 200, i % 200 + 1))
        .collect();
    let topology = format!(
        "[tars]\ntars_url = \"http://127.0.0.1:3000\"\n[chain]\nchain_id = \"chain0\"\n[[agency]]\nname = \"agencyA\"\n[agency.rpc]\ndeploy_ip = [{}]\n",
        ips.join(", ")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, topology).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tarsform"))
        .args(["graph", "-c"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
