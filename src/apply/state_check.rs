//! After a rollback, the saved state against what it listed before the run: "the state
//! is as it was" is said only once the saved state was read back and compared.

use std::collections::BTreeMap;

use crate::addr::Address;
use crate::state::{ResourceState, State, StateStore};

/// Entries as they were before the run (`None`: absent).
pub type Expected = BTreeMap<Address, Option<ResourceState>>;

/// Addresses whose entry in `saved` is not the expected one.
pub fn differences(saved: &State, expected: &Expected) -> Vec<Address> {
    expected
        .iter()
        .filter(|(address, entry)| saved.get(address) != entry.as_ref())
        .map(|(address, _)| address.clone())
        .collect()
}

/// Reads the saved state back; where it differs from `expected`, writes the expected
/// entries and reads it back again. Returns the addresses put back (empty: it was as
/// before), or why the saved state is not as before.
pub fn ensure(store: &mut StateStore, expected: &Expected) -> Result<Vec<Address>, String> {
    let load = |store: &StateStore| {
        store
            .load()
            .map_err(|e| format!("the state could not be read back: {e}"))
    };
    let Some(mut saved) = load(store)? else {
        return match expected.values().all(Option::is_none) {
            true => Ok(Vec::new()),
            false => Err("the state is gone: it listed resources before the run".into()),
        };
    };
    let differ = differences(&saved, expected);
    if differ.is_empty() {
        return Ok(differ);
    }
    for address in &differ {
        match expected.get(address).cloned().flatten() {
            Some(entry) => saved.insert(address.clone(), entry),
            None => saved.remove(address),
        };
    }
    store.save(&mut saved).map_err(|e| {
        format!(
            "the state still lists {} as this run left them, not as before it, and could not be written: {e}",
            listed(&differ)
        )
    })?;
    let again = load(store)?.map_or_else(
        || expected.keys().cloned().collect(),
        |s| differences(&s, expected),
    );
    match again.is_empty() {
        true => Ok(differ),
        false => Err(format!(
            "the state was written as before the run, but reads back otherwise for {}",
            listed(&again)
        )),
    }
}

/// After a rollback that passed its other checks (`checked`): [`ensure`], with a note on
/// stderr naming what was written back (`run`: "this run", "the interrupted run").
pub fn ensure_after_rollback(
    checked: bool,
    store: &mut StateStore,
    expected: &Expected,
    run: &str,
) -> Option<Result<(), String>> {
    if !checked {
        return None;
    }
    Some(ensure(store, expected).map(|put_back| {
        if !put_back.is_empty() {
            eprintln!(
                "note: the state still listed {} as {run} had left them; written back as before it",
                listed(&put_back)
            );
        }
    }))
}

/// "a, b and 3 more".
pub fn listed(addresses: &[Address]) -> String {
    const SHOWN: usize = 3;
    let shown: Vec<String> = addresses.iter().take(SHOWN).map(|a| a.to_string()).collect();
    match addresses.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ResourceStatus;

    fn entry(address: &Address) -> ResourceState {
        let kind = address.kind().as_str();
        serde_json::from_value(serde_json::json!({ "kind": kind, "attributes": {}, "status": "ready" }))
            .unwrap()
    }

    fn state(addresses: &[&Address]) -> State {
        let mut s = State::new("chain0", "lineage");
        for a in addresses {
            s.insert((*a).clone(), entry(a));
        }
        s
    }

    /// The entries of `addresses` in `before` (absent: `None`), as a run that wrote them
    /// would remember them.
    fn prior(before: &State, addresses: &[&Address]) -> Expected {
        addresses
            .iter()
            .map(|a| ((*a).clone(), before.get(a).cloned()))
            .collect()
    }

    #[test]
    fn an_entry_the_run_left_behind_is_a_difference_of_the_addresses_it_wrote_only() {
        let kept = Address::server("agencyABcosRpcService");
        let left = Address::config("agencyABcosRpcService", "172.25.0.5", "config.ini");
        let before = state(&[&kept]);
        let after = state(&[&kept, &left]);
        assert_eq!(
            differences(&after, &prior(&before, &[&kept, &left])),
            vec![left.clone()]
        );
        assert!(differences(&after, &prior(&before, &[&kept])).is_empty());
        let named: Expected = [(left.clone(), None)].into();
        assert_eq!(differences(&after, &named), vec![left]);
    }

    #[test]
    fn a_changed_or_missing_entry_is_a_difference() {
        let a = Address::server("agencyABcosRpcService");
        let before = state(&[&a]);
        let mut changed = before.clone();
        changed.get_mut(&a).unwrap().status = ResourceStatus::Tainted;
        assert_eq!(differences(&changed, &prior(&before, &[&a])), vec![a.clone()]);
        assert_eq!(differences(&state(&[]), &prior(&before, &[&a])), vec![a]);
    }

    #[test]
    fn ensure_writes_back_what_differs_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(&dir.path().join("chain0.state.json"), "test").unwrap();
        let kept = Address::server("agencyABcosRpcService");
        let left = Address::config("agencyABcosRpcService", "172.25.0.5", "config.ini");
        let before = state(&[&kept]);
        let mut after = state(&[&kept, &left]);
        store.save(&mut after).unwrap();
        let expected = prior(&before, &[&kept, &left]);
        assert_eq!(ensure(&mut store, &expected), Ok(vec![left]));
        let saved = store.load().unwrap().unwrap();
        assert_eq!(saved.resources, before.resources);
        assert_eq!(ensure(&mut store, &expected), Ok(Vec::new()));
    }

    #[test]
    fn a_long_list_is_shortened() {
        let many: Vec<Address> = (1..=5)
            .map(|i| Address::config("s", format!("10.0.0.{i}"), "config.ini"))
            .collect();
        assert!(listed(&many).ends_with("and 2 more"), "{}", listed(&many));
    }
}
