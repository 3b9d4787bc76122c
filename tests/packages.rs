//! Packages the plan does not build again: the workspace's `<server>.tgz` is used when it
//! is the package the state recorded and holds what a build would; anything else is
//! built again, so the plan never shows a package change that is not one.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;

use common::{Bed, Start, Tars};

const APPLY: &[&str] = &["apply", "-c", "config.toml", "--auto-approve"];
const PLAN: &[&str] = &["plan", "-c", "config.toml", "--detailed-exitcode"];

fn packages(bed: &Bed) -> Vec<PathBuf> {
    let dir = bed.path().join("generated/packages");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
        .collect();
    found.sort();
    found
}

fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn a_workspace_package_recompressed_or_damaged_is_built_again_and_shows_no_change() {
    let bed = Bed::new(Start::Fresh, Tars::default());
    let run = bed.run(APPLY);
    assert_eq!(run.code, Some(0), "{}", run.both());
    let built = packages(&bed);
    assert!(!built.is_empty(), "apply wrote no package");
    let replan = bed.run(PLAN);
    assert_eq!(
        replan.code,
        Some(0),
        "re-plan with the applied packages: {}",
        replan.both()
    );

    // Same content, other compression: its digest is not the recorded one.
    let first = std::fs::read(&built[0]).unwrap();
    std::fs::write(&built[0], gzip(&gunzip(&first), 1)).unwrap();
    // Another content under the recorded name.
    if let Some(second) = built.get(1) {
        let mut tar = gunzip(&std::fs::read(second).unwrap());
        let last = tar.len() - 1100;
        tar[last] ^= 0xff;
        std::fs::write(second, gzip(&tar, 6)).unwrap();
    }
    let replan = bed.run(PLAN);
    assert_eq!(
        replan.code,
        Some(0),
        "a changed workspace package is not a package change: {}",
        replan.both()
    );
    assert!(replan.stdout.contains("No changes"), "{}", replan.both());
}
