//! `tarsform render -c FILE [-o DIR]`: writes the generated files only (BcosBuilder's
//! `gen-config`) and the packages whose input archives are in `tars_pkg_dir`. Safe to
//! repeat: certificates are kept, changed configs are rewritten. One line per file on stdout.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::{Outcome, RenderArgs};
use crate::config::{ServiceKind, Topology};
use crate::pki::SystemKeys;
use crate::workspace::{self, FileOutcome, Layout, PackageOutcome};

pub fn run(args: RenderArgs) -> anyhow::Result<Outcome> {
    let topology = super::inputs::load_topology(&args.config.config)?;
    let layout = Layout::new(&args.output, topology.chain.chain_id.clone());
    let new_named_cas = named_cas_missing(&topology, &layout);
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
    for (kind, dir) in &new_named_cas {
        eprintln!(
            "warning: `{kind}_ca_cert_path` {} held no CA, so a new one was created there\nhint: if chain {} already runs {kind} nodes, point `{kind}_ca_cert_path` at their CA instead, or SSL between old and new nodes fails",
            dir.display(),
            topology.chain.chain_id
        );
    }
    if skipped > 0 {
        eprintln!(
            "hint: put BcosRpcService.tgz / BcosGatewayService.tgz (FISCO-BCOS release archives) in {} to build the packages (packages pinned in `[tars.packages]` are built once `tarsform apply` has fetched them)",
            topology.tars.pkg_dir.display()
        );
    }
    Ok(Outcome::Success)
}

/// CA directories named explicitly in the topology (expansions) that hold no CA yet.
fn named_cas_missing(topology: &Topology, layout: &Layout) -> Vec<(ServiceKind, PathBuf)> {
    let kinds: BTreeSet<ServiceKind> = topology.services().map(|s| s.kind()).collect();
    kinds
        .into_iter()
        .filter(|&kind| match kind {
            ServiceKind::Rpc => topology.chain.rpc_ca_cert_path_explicit,
            ServiceKind::Gateway => topology.chain.gateway_ca_cert_path_explicit,
        })
        .map(|kind| (kind, layout.ca_dir_for(&topology.chain, kind)))
        .filter(|(kind, dir)| {
            let mode = topology.chain.cert_mode(*kind);
            !dir.join(mode.ca_cert_file()).exists() && !dir.join(mode.ca_key_file()).exists()
        })
        .collect()
}

fn print_file(out: &mut impl Write, file: &FileOutcome, suffix: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<9} {}{suffix}",
        file.outcome.to_string(),
        file.path.display()
    )
}
