//! `config[...]`: one Tars config file of one node.

use super::*;

impl Planner<'_> {
    /// Plans one config file of a node; true when apply pushes it to Tars.
    pub(super) fn plan_config(&mut self, node: &NodeCtx<'_>, file: &str, content: Content<'_>) -> bool {
        let address = Address::config(node.server, node.ip, file);
        let storage = node.storage;
        // With storage security, what Tars holds in config.ini names the cipher data key.
        let sensitive = SENSITIVE_FILES.contains(&file) || (file == "config.ini" && storage.is_some());
        let (state, tainted) = self.recorded(&address);
        let new_digest = content.digest();
        let observed_row = node.observed.and_then(|n| n.configs.get(file));
        let observed_digest = observed_row.map(|row| sha256_hex(row.content.as_bytes()));
        let state_digest = state
            .and_then(|b| b.get("content_sha256"))
            .and_then(Value::as_str);
        // Storage security: Tars holds the encrypted key, the local file is compared with
        // the digest of the plaintext that was encrypted.
        let local_digest = state
            .and_then(|b| b.get("plain_sha256"))
            .and_then(Value::as_str)
            .or(state_digest);
        let refreshed = self.observed().is_some();
        let what = if new_digest.is_none() {
            "regenerated with the new certificate"
        } else {
            "changed"
        };
        let mut create = false;
        // A tainted node is undeployed and registered again: Tars drops its rows.
        let node_replaced = node.tainted;
        if state.is_some()
            && refreshed
            && !node_replaced
            && let Some(d) = observed_digest.as_deref()
            && Some(d) != state_digest
        {
            self.drift.push(format!(
                "{address}: Tars holds other content (sha256 {}…) than tarsform pushed (sha256 {}…)",
                &d[..d.len().min(12)],
                state_digest.map_or("?", |s| &s[..s.len().min(12)])
            ));
        }
        let (action, reason) = match state {
            _ if node_replaced => {
                create = true;
                (
                    Action::Create,
                    "the node is registered again: push it again".to_string(),
                )
            }
            None if observed_digest.is_some() && observed_digest.as_deref() == new_digest => (
                Action::Import,
                format!(
                    "row {} exists in Tars: adopt it",
                    observed_row.map_or(0, |r| r.id)
                ),
            ),
            None if observed_digest.is_some() => (
                Action::Update,
                format!("exists in Tars with other content: adopt it, {file} {what}"),
            ),
            None => {
                create = true;
                (Action::Create, format!("new {file} for node {}", node.ip))
            }
            Some(_) if refreshed && node.observed.is_none() => {
                create = true;
                (
                    Action::Create,
                    "the node is gone from Tars: push it again".to_string(),
                )
            }
            Some(_) if refreshed && observed_digest.is_none() => {
                create = true;
                (
                    Action::Create,
                    "the row is missing in Tars: push it again".to_string(),
                )
            }
            Some(_) if refreshed && observed_digest.as_deref() != state_digest => (
                Action::Update,
                format!("edited outside tarsform: Tars holds other {file} content"),
            ),
            Some(_) if new_digest.is_none() || new_digest != local_digest => {
                (Action::Update, format!("{file} {what}"))
            }
            Some(_) => (Action::NoOp, String::new()),
        };
        if action == Action::NoOp && !tainted {
            return false;
        }
        // The old side: state, with what Tars holds when refreshed.
        let mut before = state.cloned();
        if let (Some(row), Some(digest)) = (observed_row, observed_digest) {
            let b = before.get_or_insert_with(Attrs::new);
            b.insert("config_id".into(), json!(row.id));
            if !sensitive {
                b.insert("content".into(), json!(row.content));
            }
            b.insert("content_sha256".into(), json!(digest));
        }
        let mut after = Desired::default();
        after.set("file", file);
        after.set("server", node.server);
        after.set("node", node.ip);
        after.set(
            "local_path",
            self.paths.config_path(node.kind, node.server, node.ip_addr, file),
        );
        match &content {
            Content::Text(text, _) => after.set("content", *text),
            Content::Unknown if !sensitive => after.unknown("content"),
            _ => {}
        }
        if sensitive {
            after.sensitive.insert("content".into());
        }
        if let Some(agency) = storage.filter(|_| SENSITIVE_FILES.contains(&file)) {
            after.set("encrypted_by", agency.key_center_url.clone());
        }
        match new_digest {
            Some(d) => after.set("content_sha256", d),
            None => after.unknown("content_sha256"),
        }
        if create {
            after.unknown("config_id");
        }
        let action = self.push(address, tainted, action, reason, before.as_ref(), after);
        matches!(action, Action::Create | Action::Update | Action::Replace)
    }
}
