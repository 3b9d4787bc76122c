//! `tarsform render -c FILE [-o DIR]`: writes the generated files only (BcosBuilder's
//! `gen-config`) and the packages whose input archives are in `tars_pkg_dir`. Safe to
//! repeat: certificates are kept, changed configs are rewritten. One line per file on stdout.

use std::io::Write;

use anyhow::Context;

use super::{Outcome, RenderArgs};
use crate::config;
use crate::pki::SystemKeys;
use crate::workspace::{self, FileOutcome, Layout, PackageOutcome};

pub fn run(args: RenderArgs) -> anyhow::Result<Outcome> {
    let topology = config::load(&args.config.config)?;
    let layout = Layout::new(&args.output, topology.chain.chain_id.clone());
    let mut keys = SystemKeys::new();
    keys.prefetch(workspace::keys_needed(&topology, &layout))
        .context("generating keys")?;
    let files = workspace::generate(&topology, &layout, &mut keys)?;
    let packages = workspace::packages(&topology, &layout)?;

    let mut out = std::io::stdout().lock();
    for file in &files {
        print_file(&mut out, file, "")?;
    }
    let mut skipped = 0;
    for package in &packages {
        match package {
            PackageOutcome::Built { file, sha256 } => {
                print_file(&mut out, file, &format!("  sha256:{sha256}"))?
            }
            PackageOutcome::MissingInput { server, input } => {
                skipped += 1;
                writeln!(
                    out,
                    "{:<9} {}  ({} not found)",
                    "skipped",
                    layout.package_path(server).display(),
                    input.display()
                )?;
            }
        }
    }
    let written = files
        .iter()
        .filter(|f| f.outcome == workspace::Outcome::Written)
        .count();
    eprintln!(
        "render: {} files, {written} written; {} packages built, {skipped} skipped",
        files.len(),
        packages.len() - skipped
    );
    if skipped > 0 {
        eprintln!(
            "hint: put BcosRpcService.tgz / BcosGatewayService.tgz (FISCO-BCOS release archives) in {} to build the packages",
            topology.tars.pkg_dir.display()
        );
    }
    Ok(Outcome::Success)
}

fn print_file(out: &mut impl Write, file: &FileOutcome, suffix: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<9} {}{suffix}",
        file.outcome.to_string(),
        file.path.display()
    )
}
