//! `tarsform state list | show ADDR | rm ADDR`, and where the state is; `pull`, `push`,
//! `history` and `migrate` are in `state_sync.rs`.
//!
//! Reads go straight to the backend (writes are atomic, so a read is never torn);
//! `rm` holds the state lock while it edits. Tars is never contacted.

use anyhow::{Context, bail};

use super::backend::{self, warn_on_journal as warn_if_journal};
use super::{ConfigArg, Outcome, StateAddrArgs, StateArg, StateCommand, StateListArgs};
use crate::addr::{Address, Target};
use crate::state::{ResourceState, State, StateLocation};

pub fn run(command: StateCommand) -> anyhow::Result<Outcome> {
    match command {
        StateCommand::List(args) => list(args),
        StateCommand::Show(args) => show(args),
        StateCommand::Rm(args) => rm(args),
        StateCommand::Pull(args) => super::state_sync::pull(args),
        StateCommand::Push(args) => super::state_sync::push(args),
        StateCommand::History(args) => super::state_sync::history(args),
        StateCommand::Migrate(args) => super::state_sync::migrate(args),
    }
}

/// `--state PATH`, else the backend of `--backend` or the topology's `[backend]`, else
/// `state/<chain_id>.state.json` with the chain id of the topology.
pub(crate) fn state_location(state: &StateArg, config: &ConfigArg) -> anyhow::Result<StateLocation> {
    state_location_and_chain(state, config).map(|(location, _)| location)
}

/// The state's location, and the topology's chain id when the location came from it.
fn state_location_and_chain(
    state: &StateArg,
    config: &ConfigArg,
) -> anyhow::Result<(StateLocation, Option<String>)> {
    if let Some(path) = &state.state {
        return Ok((StateLocation::Local(path.clone()), None));
    }
    let topology = super::inputs::load_topology(&config.config).with_context(|| {
        format!(
            "finding the state from `{}` (or pass --state PATH)",
            config.config.display()
        )
    })?;
    let location = backend::location(None, &config.config, &topology)?;
    Ok((location, Some(topology.chain.chain_id)))
}

/// The state at `location`, refused when it is not `chain_id`'s or its journal's.
fn load_existing(location: &StateLocation, chain_id: Option<&str>) -> anyhow::Result<State> {
    match super::inputs::read_checked_state(location, chain_id)? {
        Some(state) => Ok(state),
        None => bail!("no state at `{location}`\nhint: nothing has been applied yet, or pass --state PATH"),
    }
}

fn list(args: StateListArgs) -> anyhow::Result<Outcome> {
    let filter: Vec<Target> = args
        .filter
        .iter()
        .map(|f| f.parse::<Target>().with_context(|| format!("state list {f}")))
        .collect::<anyhow::Result<_>>()?;
    let (path, chain_id) = state_location_and_chain(&args.state, &args.config)?;
    warn_if_journal(&path);
    let Some(state) = super::inputs::read_checked_state(&path, chain_id.as_deref())? else {
        eprintln!("No state at `{path}`: nothing has been applied yet.");
        return Ok(Outcome::Success);
    };
    for address in state
        .addresses()
        .filter(|a| filter.is_empty() || filter.iter().any(|t| t.matches(a)))
    {
        println!("{address}");
    }
    Ok(Outcome::Success)
}

fn show(args: StateAddrArgs) -> anyhow::Result<Outcome> {
    let address: Address = args.address.parse()?;
    let (path, chain_id) = state_location_and_chain(&args.state, &args.config)?;
    warn_if_journal(&path);
    let state = load_existing(&path, chain_id.as_deref())?;
    let Some(resource) = state.get(&address) else {
        bail!(not_found(&address.to_string(), &path));
    };
    print!("{}", describe(&address, resource));
    Ok(Outcome::Success)
}

fn not_found(address: &str, path: &StateLocation) -> String {
    format!(
        "`{address}` is not in the state `{path}`\nhint: `tarsform state list` shows the addresses it holds"
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
    let (path, chain_id) = state_location_and_chain(&args.state, &args.config)?;
    let mut store = backend::open_store(&path, "state rm")?;
    warn_if_journal(&path);
    load_existing(&path, chain_id.as_deref())?;
    let Some(mut state) = store.load()? else {
        bail!("no state at `{path}`\nhint: nothing has been applied yet, or pass --state PATH");
    };
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
        "Removed {} resource(s) from `{path}` (serial {}). Tars was not changed.",
        matched.len(),
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
