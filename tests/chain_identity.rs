//! Chain identity: a state file that belongs to another chain, or to another lineage
//! than the journal beside it, is refused by every command before Tars is read or
//! anything is written. Regression: `destroy` tore down this chain's nodes with the
//! other chain's state.

mod common;

use common::*;
use tarsform::state::{Journal, JournalFile};

/// Every command that reads the state, as a user would type it.
const COMMANDS: &[&[&str]] = &[
    &["plan", "-c", "config.toml"],
    &["plan", "-c", "config.toml", "--refresh=false"],
    &["apply", "-c", "config.toml", "--auto-approve"],
    &["destroy", "-c", "config.toml", "--auto-approve"],
    &["refresh", "-c", "config.toml"],
    &["rollback", "-c", "config.toml", "--auto-approve"],
    &[
        "import",
        "-c",
        "config.toml",
        "node[\"agencyABcosRpcService\"][\"172.25.0.3\"]",
    ],
    &["status", "-c", "config.toml"],
    &["show", "-c", "config.toml"],
    &["state", "list", "-c", "config.toml"],
    &[
        "state",
        "show",
        "-c",
        "config.toml",
        "node[\"agencyABcosRpcService\"][\"172.25.0.5\"]",
    ],
    &[
        "state",
        "rm",
        "-c",
        "config.toml",
        "node[\"agencyABcosRpcService\"][\"172.25.0.5\"]",
    ],
];

/// Runs every command; each must fail with `needle`, change no file and no Tars row.
fn assert_all_refused(bed: &Bed, needle: &str) {
    let state_path = bed.path().join(STATE);
    let state_before = std::fs::read(&state_path).unwrap();
    let journal_before = std::fs::read(bed.path().join(JOURNAL)).ok();
    let tars_before = bed.snapshot();
    for args in COMMANDS {
        let run = bed.run(args);
        let context = format!("tarsform {}", args.join(" "));
        assert_eq!(run.code, Some(1), "{context}\n{}", run.both());
        assert_contains(&run.stderr, needle, &context);
        assert_contains(&run.stderr, "nothing was changed", &context);
        assert_eq!(
            std::fs::read(&state_path).unwrap(),
            state_before,
            "{context}: state"
        );
        assert_eq!(
            std::fs::read(bed.path().join(JOURNAL)).ok(),
            journal_before,
            "{context}: journal"
        );
        assert_model_eq(&tars_before, &bed.snapshot(), &context);
    }
}

#[test]
fn another_chains_state_at_this_chains_path_is_refused_and_destroy_touches_nothing() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    // Another chain's state, copied over this chain's path.
    let path = bed.path().join(STATE);
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["chain_id"] = "chain1".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();

    assert_all_refused(
        &bed,
        "holds the state of chain `chain1`, but the topology is chain `chain0`",
    );
    assert_eq!(bed.handle().call_count("delete_config_file"), 0);
}

#[test]
fn a_journal_of_another_lineage_is_refused() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let run = bed.apply();
    assert_eq!(run.code, Some(0), "{}", run.both());
    JournalFile::create(
        &bed.path().join(STATE),
        Journal::new("run-x", "apply", "2026-01-01T00:00:00Z", "digest").with_lineage("another-lineage"),
    )
    .unwrap();
    assert_all_refused(
        &bed,
        "the journal beside it was written for lineage another-lineage",
    );
}
