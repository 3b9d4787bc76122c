//! `tarsnode[...]`: `<= read` preconditions for hosts where nodes change.

use super::*;

pub(super) fn needs_ca(changes: &BTreeMap<Address, ResourceChange>, kind: &str) -> bool {
    changes.values().any(|c| {
        c.address.kind() == ResourceKind::Node
            && matches!(c.action, Action::Create | Action::Replace)
            && c.address
                .server_name()
                .and_then(kind_of_server)
                .map(|k| k.as_str())
                == Some(kind)
    })
}

/// `<= read` of every tarsnode hosting a node that is registered, imported or restarted.
pub(super) fn plan_tarsnodes(
    input: &PlanInput<'_>,
    changes: &mut BTreeMap<Address, ResourceChange>,
    preconditions: &mut Preconditions,
    scope: Option<&BTreeSet<Address>>,
) -> Result<(), PlanError> {
    let mut busy: BTreeMap<String, usize> = BTreeMap::new();
    for c in changes.values() {
        if c.address.kind() == ResourceKind::Node
            && matches!(
                c.action,
                Action::Create | Action::Update | Action::Replace | Action::Import
            )
        {
            *busy
                .entry(c.address.ip().unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    for (ip, count) in busy {
        let address = Address::tarsnode(&ip);
        if scope.is_some_and(|s| !s.contains(&address)) {
            continue;
        }
        if let Some(o) = input.observed {
            match o.tarsnodes.get(&ip) {
                Some(true) => {}
                Some(false) => return Err(PlanError::TarsnodeDown { ip, state: "alive" }),
                None => {
                    return Err(PlanError::TarsnodeDown {
                        ip,
                        state: "registered",
                    });
                }
            }
        }
        preconditions.tarsnodes_alive.insert(ip.clone());
        let mut after = Attrs::new();
        after.insert("ip".into(), json!(ip));
        after.insert("alive".into(), json!(true));
        changes.insert(
            address.clone(),
            ResourceChange {
                address,
                action: Action::Read,
                reason: format!("must be registered and alive: {count} node(s) to register or restart"),
                before: None,
                after: Some(after),
                after_unknown: VecSet::new(),
                sensitive: VecSet::new(),
                depends_on: VecSet::new(),
            },
        );
    }
    Ok(())
}
