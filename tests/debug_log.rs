//! `TARSFORM_LOG=debug`: one log line per Tars call (method, path, status, time), with
//! no token, no key and no file content in it.

mod common;

use common::{Bed, Start, TOKEN, Tars};

#[test]
fn debug_log_names_every_tars_call_and_never_a_secret_or_content() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let run = bed.run_env(
        &["apply", "-c", "config.toml", "--auto-approve"],
        &[("TARSFORM_LOG", "debug")],
    );
    assert_eq!(run.code, Some(0), "{}", run.both());
    let calls: Vec<&str> = run.stderr.lines().filter(|l| l.contains("tars call")).collect();
    let counted: u64 = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("Tars calls: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no call count in\n{}", run.stderr));
    assert_eq!(calls.len() as u64, counted, "one line per request");
    assert!(
        !run.stderr.contains("connecting to"),
        "a bare level logs tarsform only, not the HTTP stack"
    );
    for call in &calls {
        for field in ["method=", "path=", "status=", "ms="] {
            assert!(call.contains(field), "{field} missing in {call}");
        }
    }
    assert!(
        calls.iter().any(|c| c.contains("method=POST")
            && c.contains("path=\"api/update_config_file\"")
            && c.contains("status=\"200\"")),
        "{calls:#?}"
    );
    for secret in [TOKEN, "ticket=", "PRIVATE KEY", "BEGIN CERTIFICATE", "[p2p]"] {
        assert!(
            !run.stderr.contains(secret),
            "`{secret}` in the log:\n{}",
            run.stderr
        );
    }
}
