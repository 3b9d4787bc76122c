//! Plans need no private keys (issue 12): a scale-out planned on a machine without the
//! CA keys (`ca.key` absent) is computed in full, says which CA will sign the new
//! certificates, and leaves signing to apply, which refuses before any change while the
//! key is missing and applies the same plan once it is back.

mod common;

use common::{Bed, NEW, Start, Tars, assert_contains};

const KINDS: [&str; 2] = ["rpc", "gateway"];

fn key_path(bed: &Bed, kind: &str) -> std::path::PathBuf {
    bed.path().join(format!("generated/{kind}/chain0/ca/ca.key"))
}

#[test]
fn a_scale_out_is_planned_without_ca_keys_and_signed_at_apply() {
    let bed = Bed::new(Start::Seed, Tars::default());
    let keys = tempfile::tempdir().unwrap();
    for kind in KINDS {
        std::fs::rename(key_path(&bed, kind), keys.path().join(kind)).unwrap();
    }
    let plan = bed.run(&["plan", "-c", "config.toml", "--out", "scale.plan"]);
    assert_eq!(plan.code, Some(0), "{}", plan.both());
    assert_contains(&plan.stdout, "will be signed by CA sha256:", "plan note");
    assert_contains(
        &plan.stdout,
        &format!(r#"cert["agencyABcosRpcService"]["{NEW}"]["ssl"] will be created"#),
        "new certificate planned",
    );
    assert!(!plan.both().contains("cannot be signed"), "{}", plan.both());

    let before = bed.snapshot();
    let refused = bed.run(&["apply", "scale.plan", "--auto-approve"]);
    assert_eq!(refused.code, Some(1), "{}", refused.both());
    assert_contains(
        &refused.stderr,
        "ca/ca.key is not here; nothing was changed",
        "apply refusal",
    );
    common::assert_model_eq(&before, &bed.snapshot(), "refused apply");
    assert!(
        bed.new_host_keys().is_empty(),
        "no key was made: {:?}",
        bed.new_host_keys()
    );

    for kind in KINDS {
        std::fs::rename(keys.path().join(kind), key_path(&bed, kind)).unwrap();
    }
    let applied = bed.run(&["apply", "scale.plan", "--auto-approve"]);
    assert_eq!(applied.code, Some(0), "{}", applied.both());
    let again = bed.run(&["plan", "-c", "config.toml"]);
    assert_contains(&again.stdout, "No changes.", "re-plan");
}
