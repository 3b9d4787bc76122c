//! `tarsform state list | show ADDR | rm ADDR`, and where the state file is.
//!
//! Reads go straight to the file (writes are atomic, so a read is never torn);
//! `rm` holds the state lock while it edits. Tars is never contacted.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{ConfigArg, Outcome, StateAddrArgs, StateArg, StateCommand, StateListArgs};
use crate::addr::{Address, Target};
use crate::state::{JournalFile, ResourceState, State, StateStore, default_state_path};

pub fn run(command: StateCommand) -> anyhow::Result<Outcome> {
    match command {
        StateCommand::List(args) => list(args),
        StateCommand::Show(args) => show(args),
        StateCommand::Rm(args) => rm(args),
    }
}

/// `--state PATH`, else `state/<chain_id>.state.json` with the chain id of the topology.
pub(crate) fn state_path(state: &StateArg, config: &ConfigArg) -> anyhow::Result<PathBuf> {
    state_path_and_chain(state, config).map(|(path, _)| path)
}

/// The state's path, and the topology's chain id when the path came from it.
fn state_path_and_chain(state: &StateArg, config: &ConfigArg) -> anyhow::Result<(PathBuf, Option<String>)> {
    if let Some(path) = &state.state {
        return Ok((path.clone(), None));
    }
    let topology = super::inputs::load_topology(&config.config).with_context(|| {
        format!(
            "finding the state file from `{}` (or pass --state PATH)",
            config.config.display()
        )
    })?;
    let chain_id = topology.chain.chain_id;
    Ok((default_state_path(&chain_id), Some(chain_id)))
}

/// The state at `path`, refused when it is not `chain_id`'s or its journal's.
fn read_checked(path: &Path, chain_id: Option<&str>) -> anyhow::Result<Option<State>> {
    super::inputs::read_checked_state(path, chain_id)
}

/// Warns on stderr when an unfinished run left its journal next to the state.
pub(crate) fn warn_if_journal(path: &Path) {
    match JournalFile::load(path) {
        Ok(None) => {}
        Ok(Some(journal)) => eprintln!(
            "warning: an unfinished {} (run {}, started {}) left `{}`; the state may miss its last steps\n  hint: run `tarsform rollback` to undo it, or `tarsform apply` to finish it",
            journal.operation,
            journal.run_id,
            journal.started,
            JournalFile::path_for(path).display()
        ),
        Err(err) => eprintln!("warning: {err}"),
    }
}

fn load_existing(path: &Path, chain_id: Option<&str>) -> anyhow::Result<State> {
    match read_checked(path, chain_id)? {
        Some(state) => Ok(state),
        None => bail!(
            "no state file at `{}`\nhint: nothing has been applied yet, or pass --state PATH",
            path.display()
        ),
    }
}

fn list(args: StateListArgs) -> anyhow::Result<Outcome> {
    let (path, chain_id) = state_path_and_chain(&args.state, &args.config)?;
    warn_if_journal(&path);
    let Some(state) = read_checked(&path, chain_id.as_deref())? else {
        eprintln!("No state at `{}`: nothing has been applied yet.", path.display());
        return Ok(Outcome::Success);
    };
    for address in state.addresses() {
        println!("{address}");
    }
    Ok(Outcome::Success)
}

fn show(args: StateAddrArgs) -> anyhow::Result<Outcome> {
    let address: Address = args.address.parse()?;
    let (path, chain_id) = state_path_and_chain(&args.state, &args.config)?;
    warn_if_journal(&path);
    let state = load_existing(&path, chain_id.as_deref())?;
    let Some(resource) = state.get(&address) else {
        bail!(not_found(&address.to_string(), &path));
    };
    print!("{}", describe(&address, resource));
    Ok(Outcome::Success)
}

fn not_found(address: &str, path: &Path) -> String {
    format!(
        "`{address}` is not in the state `{}`\nhint: `tarsform state list` shows the addresses it holds",
        path.display()
    )
}

/// The human view of one resource, Terraform style: `name = json value`.
fn describe(address: &Address, resource: &ResourceState) -> String {
    let mut out = format!("# {address}\n");
    out.push_str(&format!("kind   = {}\n", resource.kind));
    out.push_str(&format!("status = {}\n", resource.status.as_str()));
    if !resource.dependencies.is_empty() {
        out.push_str("dependencies = [\n");
        for dep in &resource.dependencies {
            out.push_str(&format!("  {dep},\n"));
        }
        out.push_str("]\n");
    }
    if !resource.attributes.is_empty() {
        out.push_str("attributes:\n");
        let width = resource.attributes.keys().map(|k| k.len()).max().unwrap_or(0);
        for (name, value) in &resource.attributes {
            out.push_str(&format!("  {name:<width$} = {value}\n"));
        }
    }
    out
}

fn rm(args: StateAddrArgs) -> anyhow::Result<Outcome> {
    let target: Target = args.address.parse()?;
    let (path, chain_id) = state_path_and_chain(&args.state, &args.config)?;
    let mut store = StateStore::open(&path, "state rm")?;
    if let Some(old) = store.abandoned_lock() {
        eprintln!(
            "note: run {} ({} by {}, pid {}) ended without releasing its lock",
            old.id, old.operation, old.who, old.pid
        );
    }
    warn_if_journal(&path);
    let mut state = load_existing(&path, chain_id.as_deref())?;
    let matched: Vec<Address> = state.addresses().filter(|a| target.matches(a)).cloned().collect();
    if matched.is_empty() {
        bail!(not_found(&target.to_string(), &path));
    }
    for address in &matched {
        state.remove(address);
    }
    for address in &matched {
        for dependent in state.dependents_of(address) {
            eprintln!("warning: `{dependent}` still depends on the removed `{address}`");
        }
    }
    store.save(&mut state)?;
    for address in &matched {
        println!("Removed {address}");
    }
    eprintln!(
        "Removed {} resource(s) from `{}` (serial {}). Tars was not changed.",
        matched.len(),
        path.display(),
        state.serial
    );
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::ResourceKind;

    #[test]
    fn describe_lists_status_dependencies_and_attributes() {
        let node = Address::node("agencyABcosRpcService", "172.25.0.5");
        let resource = ResourceState::new(ResourceKind::Node)
            .with_attribute("adapter_port", 20001)
            .with_attribute("patch_version", "12")
            .with_dependency(Address::tarsnode("172.25.0.5"));
        let text = describe(&node, &resource);
        assert_eq!(
            text,
            "# node[\"agencyABcosRpcService\"][\"172.25.0.5\"]\n\
             kind   = node\n\
             status = ready\n\
             dependencies = [\n  tarsnode[\"172.25.0.5\"],\n]\n\
             attributes:\n  adapter_port  = 20001\n  patch_version = \"12\"\n"
        );
    }
}
