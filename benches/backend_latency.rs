//! State backend latency per step (a measurement, not a test): open + lock, save of a
//! 100-node state, one journal append, unlock; for the local file and for MySQL (a
//! private MariaDB on loopback, started as the tests start theirs). Prints the median
//! and the 95th percentile of each step.
//!
//!   cargo bench --bench backend_latency
//!   BACKEND_LATENCY_ROUNDS=200 cargo bench --bench backend_latency

#[path = "../tests/support/mariadb.rs"]
mod mariadb;

use std::time::{Duration, Instant};

use tarsform::addr::{Address, ResourceKind};
use tarsform::secret::Secret;
use tarsform::state::backend::MysqlTarget;
use tarsform::state::{
    Journal, JournalEntry, JournalFile, ResourceState, State, StateLocation, StateStore, StepPhase,
};

/// A state with 100 nodes (5 agencies × rpc + gateway × 10 hosts) and their servers.
fn big_state() -> State {
    let mut s = State::new("chain0", "bench-lineage");
    for a in 1..=5 {
        for service in ["BcosRpcService", "BcosGatewayService"] {
            let server = format!("agency{a}{service}");
            s.insert(
                Address::server(&server),
                ResourceState::new(ResourceKind::Server).with_attribute("patch_id", 7),
            );
            for h in 1..=10 {
                let ip = format!("10.20.{a}.{h}");
                s.insert(
                    Address::node(&server, &ip),
                    ResourceState::new(ResourceKind::Node)
                        .with_attribute("adapter_port", 20200)
                        .with_attribute("config_sha256", "ab".repeat(32))
                        .with_dependency(Address::server(&server)),
                );
            }
        }
    }
    s
}

#[derive(Default)]
struct Samples {
    lock: Vec<Duration>,
    save: Vec<Duration>,
    append: Vec<Duration>,
    unlock: Vec<Duration>,
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed())
}

fn measure(location: &StateLocation, rounds: usize) -> Samples {
    let mut samples = Samples::default();
    let mut state = big_state();
    for round in 0..rounds {
        let (store, t) = timed(|| StateStore::open_at(location, "bench", Duration::ZERO).expect("lock"));
        samples.lock.push(t);
        let mut store = store;
        let ((), t) = timed(|| store.save(&mut state).expect("save"));
        samples.save.push(t);
        let journal = Journal::new(format!("run-{round}"), "apply", "t", "sha256:00");
        let mut file = JournalFile::create(store.journal().unwrap(), journal).expect("journal");
        let entry = JournalEntry::new("step", StepPhase::Started, serde_json::json!({"op": "x"}), "t");
        let (result, t) = timed(|| file.append(entry));
        result.expect("append");
        samples.append.push(t);
        file.remove().expect("remove journal");
        let ((), t) = timed(|| drop(store));
        samples.unlock.push(t);
    }
    samples
}

fn stats(mut values: Vec<Duration>) -> String {
    values.sort();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!(
        "median {:>7.2} ms, p95 {:>7.2} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3
    )
}

fn report(name: &str, samples: Samples) {
    println!("  {name}");
    for (step, times) in [
        ("open + lock", samples.lock),
        ("save (100 nodes)", samples.save),
        ("journal append", samples.append),
        ("unlock", samples.unlock),
    ] {
        println!("    {step:<18}{}", stats(times));
    }
}

fn main() {
    let rounds: usize = std::env::var("BACKEND_LATENCY_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    println!("backend_latency: {rounds} rounds of lock, save, append, unlock");
    let dir = tempfile::tempdir().unwrap();
    let local = StateLocation::Local(dir.path().join("state/chain0.state.json"));
    report("local file", measure(&local, rounds));
    match mariadb::server() {
        Some(db) => {
            let target = MysqlTarget::new(
                &db.fresh_database(),
                "chain0",
                Some(Secret::new(mariadb::PASSWORD)),
            )
            .unwrap();
            report(
                "mysql (MariaDB on loopback)",
                measure(&StateLocation::Mysql(target), rounds),
            );
        }
        None => println!("  mysql: skipped (no MariaDB)"),
    }
}
