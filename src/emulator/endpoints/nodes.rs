//! Tarsnodes and login: `node_list`, `list_tars_node`, `check_tars_node`, `ticket`.

use serde::Serialize;

use super::Ctx;
use crate::emulator::clock;
use crate::emulator::model::NodeRow;
use crate::emulator::reply::{Data, Reply};
use crate::emulator::state::uid_for;

pub fn node_list(ctx: &mut Ctx) -> Reply {
    let names: Vec<&str> = ctx
        .inner
        .model
        .nodes
        .iter()
        .map(|n| n.node_name.as_str())
        .collect();
    Ok(Data::of(&names))
}

/// A raw `t_node_info` row as `list_tars_node` shows it on framework 3.x: a tarsnode
/// registers itself with an empty `node_obj`/`endpoint_ip` and port 0; `label` is null.
#[derive(Serialize)]
struct NodeInfo<'a> {
    id: usize,
    node_name: &'a str,
    node_obj: &'static str,
    endpoint_ip: &'static str,
    endpoint_port: u16,
    data_dir: &'static str,
    load_avg1: f64,
    load_avg5: f64,
    load_avg15: f64,
    last_reg_time: String,
    last_heartbeat: String,
    setting_state: &'static str,
    present_state: &'static str,
    tars_version: &'static str,
    template_name: &'static str,
    modify_time: String,
    label: Option<&'static str>,
    group_id: i32,
}

/// What `list_tars_node` shows as a tarsnode's heartbeat.
enum Heartbeat {
    /// The registry's long-connection time (`YYYY-MM-DD HH:MM:SS`).
    Connected,
    /// The registry did not answer: `t_node_info.last_heartbeat` as stored.
    Recorded,
    /// Not connected: `""`, and `present_state` shown `inactive`.
    None,
}

fn node_info(id: usize, node: &NodeRow, alive: Heartbeat) -> NodeInfo<'_> {
    let active = !matches!(alive, Heartbeat::None);
    NodeInfo {
        id,
        node_name: &node.node_name,
        node_obj: "",
        endpoint_ip: "",
        endpoint_port: 0,
        data_dir: "/usr/local/app/tars/tarsnode/data",
        load_avg1: 0.25,
        load_avg5: 0.0,
        load_avg15: 0.0,
        last_reg_time: clock::iso(&node.last_reg_time),
        last_heartbeat: match alive {
            Heartbeat::Connected => clock::now(),
            // TarsWeb could not ask the registry: the database's value, a raw date.
            Heartbeat::Recorded => clock::iso(&clock::now()),
            Heartbeat::None => String::new(),
        },
        setting_state: "active",
        present_state: if active { "active" } else { "inactive" },
        tars_version: "3.0.17",
        template_name: "",
        modify_time: clock::iso(&node.last_reg_time),
        label: None,
        group_id: -1,
    }
}

/// `list_tars_node?node_name&curr_page&page_size`: `{count, rows}`, LIKE match on the name.
pub fn list_tars_node(ctx: &mut Ctx) -> Reply {
    let pattern = ctx.params.text("node_name");
    let page_size: usize = ctx.params.text("page_size").parse().unwrap_or(0);
    let page: usize = ctx.params.text("curr_page").parse().unwrap_or(1).max(1);
    // Newest registration first, as TarsWeb orders the rows; ids count registrations.
    let matching: Vec<(usize, &NodeRow)> = ctx
        .inner
        .model
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (i + 1, n))
        .filter(|(_, n)| n.node_name.contains(&pattern))
        .rev()
        .collect();
    let count = matching.len();
    let shown: Vec<(usize, &NodeRow)> = if page_size == 0 {
        matching
    } else {
        matching
            .into_iter()
            .skip((page - 1) * page_size)
            .take(page_size)
            .collect()
    };
    let rows: Vec<NodeInfo> = shown
        .into_iter()
        .map(|(id, n)| {
            let heartbeat = match (
                ctx.inner.node_alive(&n.node_name),
                ctx.inner.faults.registry_down(),
            ) {
                (true, false) => Heartbeat::Connected,
                (true, true) => Heartbeat::Recorded,
                (false, _) => Heartbeat::None,
            };
            node_info(id, n, heartbeat)
        })
        .collect();
    #[derive(Serialize)]
    struct Page<'a> {
        count: usize,
        rows: Vec<NodeInfo<'a>>,
    }
    Ok(Data::of(&Page { count, rows }))
}

/// `check_tars_node?node_name`: the ping text when reachable, else `false`.
pub fn check_tars_node(ctx: &mut Ctx) -> Reply {
    let name = ctx.params.text("node_name");
    if ctx.inner.node_alive(&name) && !ctx.inner.faults.registry_down() {
        Ok(Data::of(&"ping succ"))
    } else {
        Ok(Data::of(&false))
    }
}

/// `/pages/server/api/ticket?ticket=X`: `{uid}`, or `{uid:""}` for an unknown ticket.
pub fn ticket(ctx: &mut Ctx) -> Reply {
    let ticket = ctx.params.opt_text("ticket");
    let uid = uid_for(&ctx.shared.settings, ctx.inner, ticket.as_deref()).unwrap_or_default();
    #[derive(Serialize)]
    struct Uid {
        uid: String,
    }
    Ok(Data::of(&Uid { uid }))
}
