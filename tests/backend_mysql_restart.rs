//! The database restarted in the middle of an apply (its own MariaDB, so no other test
//! sees the restart): the run stops and says so, and `rollback` finishes the job from
//! the journal the database kept.

mod common;
#[path = "support/mariadb.rs"]
mod mariadb;

use std::time::Duration;

use common::{Bed, NEW, RPC, Start, Tars, assert_contains, assert_model_eq};

#[test]
fn a_database_restart_stops_the_apply_and_rollback_completes_it() {
    let Some(db) = mariadb::server() else { return };
    let bed = Bed::new(Start::Seed, Tars::latency_ms(150));
    let url = db.fresh_database();
    std::fs::write(bed.path().join("db.password"), mariadb::PASSWORD).unwrap();
    let mut toml = std::fs::read_to_string(bed.path().join("config.toml")).unwrap();
    toml.push_str(&format!(
        "\n[backend]\ntype = \"mysql\"\nurl = \"{url}\"\npassword_file = \"db.password\"\n"
    ));
    std::fs::write(bed.path().join("config.toml"), toml).unwrap();
    let before = bed.snapshot();

    let mut apply = bed.spawn(&["apply", "-c", "config.toml", "--auto-approve"]);
    apply.wait_for_line(
        &format!("register node[\"{RPC}\"][\"{NEW}\"]: done"),
        Duration::from_secs(60),
    );
    db.restart();
    let run = apply.finish();
    assert_ne!(run.code, Some(0), "{}", run.both());
    assert_contains(&run.stderr, "tarsform rollback", "the stopped apply");
    assert_contains(&run.stderr, "cannot save the state", "the stopped apply");

    let rollback = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.both());
    assert_contains(
        &rollback.stdout,
        "Rollback complete",
        "rollback after the restart",
    );
    assert_model_eq(&before, &bed.snapshot(), "after rollback");
    let again = bed.run(&["rollback", "-c", "config.toml", "--auto-approve"]);
    assert_contains(&again.stdout, "Nothing to roll back", "a second rollback");
}
