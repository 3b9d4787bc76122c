//! What the demo checks in its emulator after destroy: the new host's nodes are gone
//! and the old host is exactly as it was.

use anyhow::bail;

use crate::emulator::{ConfigView, ModelView};

/// Everything Tars holds for `host`: server rows, adapters and node config rows.
fn on_host(view: &ModelView, host: &str) -> ModelView {
    ModelView {
        servers: view
            .servers
            .iter()
            .filter(|s| s.node_name == host)
            .cloned()
            .collect(),
        adapters: view
            .adapters
            .iter()
            .filter(|a| a.node_name == host)
            .cloned()
            .collect(),
        configs: view
            .configs
            .iter()
            .filter(|c: &&ConfigView| c.host == host)
            .cloned()
            .collect(),
    }
}

/// After destroy: nothing of `new_host` is left, and `old_host` is exactly as before apply.
pub fn destroy_left_old_host_alone(
    before: &ModelView,
    after: &ModelView,
    old_host: &str,
    new_host: &str,
) -> anyhow::Result<()> {
    let left = on_host(after, new_host);
    if left != ModelView::default() {
        bail!(
            "destroy left {} server row(s), {} adapter(s) and {} config row(s) on {new_host}",
            left.servers.len(),
            left.adapters.len(),
            left.configs.len()
        );
    }
    let (was, now) = (on_host(before, old_host), on_host(after, old_host));
    if was.servers.is_empty() {
        bail!("the demo seeded nothing on {old_host}");
    }
    if was != now {
        bail!("{old_host} changed between the start of the demo and the end of destroy");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::ServerView;

    fn server(node: &str, patch: &str) -> ServerView {
        ServerView {
            application: "chain0".into(),
            server_name: "agencyABcosRpcService".into(),
            node_name: node.into(),
            setting_state: "active".into(),
            present_state: "active".into(),
            patch_version: patch.into(),
            server_type: "tars_cpp".into(),
            template_name: "tars.cpp.default".into(),
        }
    }

    fn view(servers: Vec<ServerView>) -> ModelView {
        ModelView {
            servers,
            ..Default::default()
        }
    }

    #[test]
    fn destroy_check_accepts_only_an_untouched_old_host_and_an_empty_new_one() {
        let before = view(vec![server("172.25.0.3", "3")]);
        let ok = view(vec![server("172.25.0.3", "3")]);
        assert!(destroy_left_old_host_alone(&before, &ok, "172.25.0.3", "172.25.0.5").is_ok());
        let leftover = view(vec![server("172.25.0.3", "3"), server("172.25.0.5", "9")]);
        let err = destroy_left_old_host_alone(&before, &leftover, "172.25.0.3", "172.25.0.5").unwrap_err();
        assert!(err.to_string().contains("172.25.0.5"), "{err}");
        let repatched = view(vec![server("172.25.0.3", "9")]);
        let err = destroy_left_old_host_alone(&before, &repatched, "172.25.0.3", "172.25.0.5").unwrap_err();
        assert!(err.to_string().contains("172.25.0.3 changed"), "{err}");
    }
}
