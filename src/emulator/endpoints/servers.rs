//! Servers and adapters: `server_list` (tree_node_id grammar), `server`,
//! `get_realtime_state`, `auto_port`, `deploy_server` (an upsert).

use serde::Serialize;
use serde_json::Value;

use super::Ctx;
use crate::emulator::clock;
use crate::emulator::model::{AdapterRow, ServerRow};
use crate::emulator::params::{Rule, js_string, js_truthy};
use crate::emulator::reply::{Data, Fail, Reply};

/// `server_list?tree_node_id=1<app>[.2<set>.3<area>.4<group>][.5<server>]`.
pub fn server_list(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[("tree_node_id", Rule::NotEmpty)])?;
    let filter = TreeNode::parse(&ctx.params.text("tree_node_id"));
    if ctx.require_admin().is_err() {
        // A caller without role rows sees no application and may not open a server page.
        return match filter.server_name {
            Some(_) => Err(Fail::NoPrivilege),
            None => Ok(Data::of(&[] as &[ServerRow])),
        };
    }
    let mut rows: Vec<&ServerRow> = ctx
        .inner
        .model
        .servers
        .iter()
        .filter(|s| filter.matches(s))
        .collect();
    rows.sort_by(|a, b| (&a.application, &a.server_name, a.id).cmp(&(&b.application, &b.server_name, b.id)));
    if ctx.params.text("is_page") == "true" {
        #[derive(Serialize)]
        struct Page<'a> {
            count: usize,
            rows: Vec<&'a ServerRow>,
        }
        return Ok(Data::of(&Page {
            count: rows.len(),
            rows,
        }));
    }
    Ok(Data::of(&rows))
}

/// The filter a `tree_node_id` names (tarsweb-api.md §4.5).
#[derive(Debug, Default, PartialEq)]
struct TreeNode {
    application: Option<String>,
    set_name: Option<String>,
    set_area: Option<String>,
    set_group: Option<String>,
    server_name: Option<String>,
}

impl TreeNode {
    fn parse(id: &str) -> TreeNode {
        let mut node = TreeNode::default();
        for segment in id.split('.') {
            let Some((kind, value)) = segment.split_at_checked(1) else {
                continue;
            };
            let slot = match kind {
                "1" => &mut node.application,
                "2" => &mut node.set_name,
                "3" => &mut node.set_area,
                "4" => &mut node.set_group,
                "5" => &mut node.server_name,
                _ => continue,
            };
            *slot = Some(value.to_string());
        }
        node
    }

    fn matches(&self, row: &ServerRow) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let eq_set = |want: &Option<String>, have: &Option<String>| {
            want.is_none() || want.as_deref() == have.as_deref()
        };
        let has_set = self.set_name.is_some() || self.set_area.is_some() || self.set_group.is_some();
        let enable_set_ok = if has_set {
            row.enable_set
        } else if self.application.is_some() && self.server_name.is_some() {
            !row.enable_set
        } else {
            true
        };
        eq(&self.application, &row.application)
            && eq(&self.server_name, &row.server_name)
            && eq_set(&self.set_name, &row.set_name)
            && eq_set(&self.set_area, &row.set_area)
            && eq_set(&self.set_group, &row.set_group)
            && enable_set_ok
    }
}

/// `server?id`: one ServerConf; an unknown id is kind D.
pub fn server(ctx: &mut Ctx) -> Reply {
    let row = ctx
        .params
        .id("id")
        .and_then(|id| ctx.inner.model.server(id))
        .ok_or(Fail::System)?;
    Ok(Data::of(row))
}

pub fn realtime_state(ctx: &mut Ctx) -> Reply {
    let row = ctx
        .params
        .id("id")
        .and_then(|id| ctx.inner.model.server(id))
        .ok_or(Fail::System)?;
    #[derive(Serialize)]
    struct State<'a> {
        realtime_state: &'a str,
    }
    Ok(Data::of(&State {
        realtime_state: &row.present_state,
    }))
}

/// `auto_port?node_name=a;b`: a random port in [10000, 30000) unused on each node.
pub fn auto_port(ctx: &mut Ctx) -> Reply {
    #[derive(Serialize)]
    struct Port {
        node_name: String,
        port: u16,
    }
    let names = ctx.params.text("node_name");
    if names.is_empty() {
        return Ok(Data::of(&[] as &[Port]));
    }
    let mut ports = Vec::new();
    for name in names.split([';', ',']) {
        let used = ctx.inner.model.used_ports(name).ok_or(Fail::System)?;
        let port = loop {
            let candidate: u16 = rand::random_range(10_000..30_000);
            if !used.contains(&candidate) {
                break candidate;
            }
        };
        ports.push(Port {
            node_name: name.to_string(),
            port,
        });
    }
    Ok(Data::of(&ports))
}

/// The keys of `t_server_conf` a deploy body may set directly.
const OVERLAY_KEYS: &[&str] = &[
    "server_type",
    "template_name",
    "setting_state",
    "present_state",
    "profile",
    "base_path",
    "exe_path",
    "start_script_path",
    "stop_script_path",
    "monitor_script_path",
    "run_type",
    "base_image_id",
    "source",
];

/// `deploy_server`: upserts one server row per adapter node (resetting its state but
/// keeping its id) and the adapters. Missing `adapters` is kind F.
pub fn deploy_server(ctx: &mut Ctx) -> Reply {
    let Some(Value::Array(adapters)) = ctx.params.get("adapters").cloned() else {
        return Err(Fail::Crash(
            "TypeError: Cannot read properties of undefined (reading 'forEach')".into(),
        ));
    };
    let app = ctx.params.text("application");
    let server = ctx.params.text("server_name");
    let top_node = ctx.params.text("node_name");
    if app.is_empty() || server.is_empty() {
        return Err(Fail::System);
    }
    let field = |adapter: &Value, key: &str| adapter.get(key).map(js_string).unwrap_or_default();
    let adapter_node = |adapter: &Value| {
        Some(field(adapter, "node_name"))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| top_node.clone())
    };
    let mut nodes: Vec<String> = adapters.iter().map(adapter_node).collect();
    nodes.sort();
    nodes.dedup();

    let enable_set = ctx.params.truthy("enable_set");
    let mut deployed = Vec::new();
    for node in &nodes {
        let model = &mut ctx.inner.model;
        let id = model
            .server_mut(&app, &server, node)
            .map(|row| row.id)
            .unwrap_or_else(|| model.next_id());
        let mut row = ServerRow::new(id, &app, &server, node);
        for key in OVERLAY_KEYS {
            if let Some(value) = ctx.params.opt_text(key) {
                set_field(&mut row, key, value);
            }
        }
        if enable_set {
            row.enable_set = true;
            row.set_name = Some(ctx.params.text("set_name"));
            row.set_area = Some(ctx.params.text("set_area"));
            row.set_group = Some(ctx.params.text("set_group"));
        }
        model.servers.retain(|s| !s.is(&app, &server, node));
        model.servers.push(row.clone());
        model.servers.sort_by_key(|s| s.id);
        deployed.push(row);
    }
    for adapter in &adapters {
        let node = adapter_node(adapter);
        let obj = field(adapter, "obj_name");
        let servant = format!("{app}.{server}.{obj}");
        let num = |key: &str, default: i64| {
            adapter
                .get(key)
                .map(js_string)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let text_or = |key: &str, default: &str| {
            Some(field(adapter, key))
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let auth = adapter.get("auth").filter(|v| js_truthy(v)).map(js_string);
        let endpoint = format!(
            "{} -h {} -t 60000 -p {} -e {}",
            text_or("port_type", "tcp"),
            field(adapter, "bind_ip"),
            field(adapter, "port"),
            auth.unwrap_or_else(|| "0".into())
        );
        let model = &mut ctx.inner.model;
        let adapter_name = format!("{servant}Adapter");
        let id = model
            .adapters
            .iter()
            .find(|a| {
                a.node_name == node
                    && a.adapter_name == adapter_name
                    && a.application == app
                    && a.server_name == server
            })
            .map(|a| a.id)
            .unwrap_or_else(|| model.next_id());
        model.adapters.retain(|a| a.id != id);
        model.adapters.push(AdapterRow {
            id,
            application: app.clone(),
            server_name: server.clone(),
            node_name: node,
            adapter_name,
            servant,
            endpoint,
            thread_num: num("thread_num", 1),
            max_connections: num("max_connections", 200_000),
            queuecap: num("queuecap", 10_000),
            queuetimeout: num("queuetimeout", 60_000),
            allow_ip: field(adapter, "allow_ip"),
            protocol: text_or("protocol", "tars"),
            handlegroup: field(adapter, "handlegroup"),
            posttime: clock::now(),
        });
        model.adapters.sort_by_key(|a| a.id);
    }
    ctx.changed();
    #[derive(Serialize)]
    struct Deployed<'a> {
        server_conf: Vec<DeployConf<'a>>,
        tars_node_rst: [(); 0],
    }
    Ok(Data::of(&Deployed {
        server_conf: deployed.iter().map(DeployConf::from).collect(),
        tars_node_rst: [],
    }))
}

fn set_field(row: &mut ServerRow, key: &str, value: String) {
    let slot = match key {
        "server_type" => &mut row.server_type,
        "template_name" => &mut row.template_name,
        "setting_state" => &mut row.setting_state,
        "present_state" => &mut row.present_state,
        "profile" => &mut row.profile,
        "base_path" => &mut row.base_path,
        "exe_path" => &mut row.exe_path,
        "start_script_path" => &mut row.start_script_path,
        "stop_script_path" => &mut row.stop_script_path,
        "monitor_script_path" => &mut row.monitor_script_path,
        "run_type" => &mut row.run_type,
        "base_image_id" => &mut row.base_image_id,
        "source" => &mut row.source,
        _ => return,
    };
    *slot = value;
}

/// TarsWeb's DeployConf: ServerConf without the patch user, group, flow and image keys;
/// `patch_time` is a raw ISO date.
#[derive(Serialize)]
struct DeployConf<'a> {
    id: u64,
    application: &'a str,
    server_name: &'a str,
    node_name: &'a str,
    server_type: &'a str,
    enable_set: bool,
    set_name: &'a Option<String>,
    set_area: &'a Option<String>,
    set_group: &'a Option<String>,
    setting_state: &'a str,
    present_state: &'a str,
    bak_flag: bool,
    template_name: &'a str,
    profile: &'a str,
    async_thread_num: u32,
    base_path: &'a str,
    exe_path: &'a str,
    start_script_path: &'a str,
    stop_script_path: &'a str,
    monitor_script_path: &'a str,
    patch_time: String,
    patch_version: &'a str,
    process_id: u32,
    posttime: &'a str,
    run_type: &'a str,
}

impl<'a> From<&'a ServerRow> for DeployConf<'a> {
    fn from(r: &'a ServerRow) -> Self {
        DeployConf {
            id: r.id,
            application: &r.application,
            server_name: &r.server_name,
            node_name: &r.node_name,
            server_type: &r.server_type,
            enable_set: r.enable_set,
            set_name: &r.set_name,
            set_area: &r.set_area,
            set_group: &r.set_group,
            setting_state: &r.setting_state,
            present_state: &r.present_state,
            bak_flag: r.bak_flag,
            template_name: &r.template_name,
            profile: &r.profile,
            async_thread_num: r.async_thread_num,
            base_path: &r.base_path,
            exe_path: &r.exe_path,
            start_script_path: &r.start_script_path,
            stop_script_path: &r.stop_script_path,
            monitor_script_path: &r.monitor_script_path,
            patch_time: clock::iso(&r.patch_time),
            patch_version: &r.patch_version,
            process_id: r.process_id,
            posttime: &r.posttime,
            run_type: &r.run_type,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_node_id_grammar() {
        let node = TreeNode::parse("1chain0.5agencyABcosRpcService");
        assert_eq!(node.application.as_deref(), Some("chain0"));
        assert_eq!(node.server_name.as_deref(), Some("agencyABcosRpcService"));
        let set = TreeNode::parse("1app.2s.3a.4g");
        assert_eq!(set.set_group.as_deref(), Some("g"));
        let mut row = ServerRow::new(1, "app", "S", "n");
        assert!(!set.matches(&row));
        row.enable_set = true;
        row.set_name = Some("s".into());
        row.set_area = Some("a".into());
        row.set_group = Some("g".into());
        assert!(set.matches(&row));
        assert!(!TreeNode::parse("1app.5S").matches(&row));
        assert!(TreeNode::parse("1app").matches(&row));
    }
}
