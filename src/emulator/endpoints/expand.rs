//! `expand_server_preview` (no side effects) and `expand_server` (copies a source node's
//! row, adapters and, when `copy_node_config` is truthy, its node configs), §6.12–6.13.

use serde::Serialize;
use serde_json::Value;

use super::Ctx;
use crate::emulator::clock;
use crate::emulator::i18n;
use crate::emulator::model::{AdapterRow, ServerRow};
use crate::emulator::params::{Rule, js_string};
use crate::emulator::reply::{Data, Fail, Reply};

/// The preview route's `validParams`; other keys (and `__locale`) are dropped.
pub const PREVIEW_PARAMS: &[&str] = &[
    "application",
    "server_name",
    "set",
    "node_name",
    "expand_nodes",
    "enable_set",
    "set_name",
    "set_area",
    "set_group",
    "copy_node_config",
];

#[derive(Serialize)]
struct PreviewItem<'a> {
    application: &'a str,
    server_name: &'a str,
    set: &'a str,
    obj_name: &'a str,
    node_name: &'a str,
    bind_ip: &'a str,
    port: u16,
    template_name: &'a str,
    status: &'static str,
    auth: u8,
}

fn list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().map(js_string).collect(),
        Some(other) => vec![js_string(other)],
        None => Vec::new(),
    }
}

pub fn expand_server_preview(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[
        ("application", Rule::NotEmpty),
        ("server_name", Rule::NotEmpty),
        ("node_name", Rule::NotEmpty),
        ("expand_nodes", Rule::NotEmpty),
    ])?;
    let p = &ctx.params;
    let (app, server, source) = (p.text("application"), p.text("server_name"), p.text("node_name"));
    let set = if p.truthy("enable_set") {
        format!(
            "{}.{}.{}",
            p.text("set_name"),
            p.text("set_area"),
            p.text("set_group")
        )
    } else {
        String::new()
    };
    let model = &ctx.inner.model;
    let template = model
        .servers
        .iter()
        .find(|s| s.is(&app, &server, &source))
        .map(|s| s.template_name.clone())
        .unwrap_or_default();
    let adapters: Vec<&AdapterRow> = model
        .adapters
        .iter()
        .filter(|a| a.application == app && a.server_name == server && a.node_name == source)
        .collect();
    let nodes = list(p.get("expand_nodes"));
    let mut items = Vec::new();
    for node in &nodes {
        for adapter in &adapters {
            items.push(PreviewItem {
                application: &app,
                server_name: &server,
                set: &set,
                obj_name: adapter.obj_name(),
                node_name: node,
                bind_ip: node,
                port: 0,
                template_name: &template,
                status: if *node == source {
                    i18n::EXPAND_EXISTENT
                } else {
                    i18n::EXPAND_NONEXISTENT
                },
                auth: 0,
            });
        }
    }
    Ok(Data::of(&items))
}

/// Fields copied from the source row onto a new node's row.
fn copy_from_source(row: &mut ServerRow, source: &ServerRow) {
    row.server_type = source.server_type.clone();
    row.template_name = source.template_name.clone();
    row.bak_flag = source.bak_flag;
    row.base_path = source.base_path.clone();
    row.exe_path = source.exe_path.clone();
    row.start_script_path = source.start_script_path.clone();
    row.patch_version = source.patch_version.clone();
    row.base_image_id = source.base_image_id.clone();
    row.run_type = source.run_type.clone();
    row.source = source.source.clone();
}

pub fn expand_server(ctx: &mut Ctx) -> Reply {
    ctx.require_admin()?;
    let p = &ctx.params;
    let (app, server, source_node) = (p.text("application"), p.text("server_name"), p.text("node_name"));
    let copy_configs = p.truthy("copy_node_config");
    let Some(Value::Array(items)) = p.get("expand_preview_servers").cloned() else {
        return Err(Fail::System);
    };
    // One transaction: work on a copy, commit only if every item succeeds.
    let mut model = ctx.inner.model.clone();
    let source = model
        .servers
        .iter()
        .find(|s| s.is(&app, &server, &source_node))
        .cloned()
        .ok_or(Fail::System)?;
    let column = format!("{app}.{server}");
    for item in &items {
        let field = |key: &str| item.get(key).map(js_string).unwrap_or_default();
        let (node, obj, set) = (field("node_name"), field("obj_name"), field("set"));
        if model.server_mut(&app, &server, &node).is_none() {
            let mut row = ServerRow::new(model.next_id(), &app, &server, &node);
            copy_from_source(&mut row, &source);
            row.posttime = clock::EPOCH.to_string();
            if !set.is_empty() {
                let mut parts = set.splitn(3, '.').map(str::to_string);
                row.enable_set = true;
                row.set_name = parts.next();
                row.set_area = parts.next();
                row.set_group = parts.next();
            }
            model.servers.push(row);
            if copy_configs {
                let copies: Vec<_> = model
                    .configs
                    .iter()
                    .filter(|c| c.level == 3 && c.server_name == column && c.host == source_node)
                    .cloned()
                    .collect();
                for mut copy in copies {
                    model.configs.retain(|c| {
                        !(c.level == 3
                            && c.server_name == column
                            && c.host == node
                            && c.filename == copy.filename
                            && c.in_set(&crate::emulator::model::SetKey {
                                name: copy.set_name.clone(),
                                area: copy.set_area.clone(),
                                group: copy.set_group.clone(),
                            }))
                    });
                    copy.host = node.clone();
                    copy.posttime = clock::now();
                    model.insert_config(copy);
                }
            }
        }
        let adapter_name = format!("{column}.{obj}Adapter");
        let exists = model.adapters.iter().any(|a| {
            a.node_name == node
                && a.adapter_name == adapter_name
                && a.server_name == server
                && a.application == app
        });
        if !exists {
            let template = model
                .adapters
                .iter()
                .find(|a| a.node_name == source_node && a.adapter_name == adapter_name)
                .cloned()
                .ok_or(Fail::System)?;
            let protocol = template.endpoint.split_whitespace().next().unwrap_or("tcp");
            let endpoint = format!(
                "{protocol} -h {} -t {} -p {} -e 0",
                field("bind_ip"),
                template.queuetimeout,
                field("port")
            );
            let id = model.next_id();
            model.adapters.push(AdapterRow {
                id,
                node_name: node.clone(),
                endpoint,
                posttime: clock::EPOCH.to_string(),
                ..template
            });
        }
    }
    ctx.inner.model = model;
    ctx.changed();
    #[derive(Serialize)]
    struct Expanded {
        tars_node_rst: [(); 0],
    }
    Ok(Data::of(&Expanded { tars_node_rst: [] }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn expand_nodes_accepts_an_array_or_a_single_value() {
        assert_eq!(super::list(Some(&json!(["a", "b"]))), vec!["a", "b"]);
        assert_eq!(super::list(Some(&json!("a"))), vec!["a"]);
        assert!(super::list(None).is_empty());
        assert!(crate::emulator::params::js_truthy(&json!("false")));
    }
}
