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

/// A raw `t_node_info` row as `list_tars_node` shows it.
#[derive(Serialize)]
struct NodeInfo<'a> {
    node_name: &'a str,
    node_obj: String,
    endpoint_ip: &'a str,
    endpoint_port: u16,
    data_dir: &'static str,
    load_avg1: u8,
    load_avg5: u8,
    load_avg15: u8,
    last_reg_time: String,
    last_heartbeat: String,
    setting_state: &'static str,
    present_state: &'static str,
    tars_version: &'static str,
    template_name: &'static str,
    modify_time: String,
    label: &'static str,
    group_id: i32,
}

fn node_info(node: &NodeRow, alive: bool) -> NodeInfo<'_> {
    NodeInfo {
        node_name: &node.node_name,
        node_obj: format!(
            "tars.tarsnode.NodeObj@tcp -h {} -p 19385 -t 60000",
            node.node_name
        ),
        endpoint_ip: &node.node_name,
        endpoint_port: 19385,
        data_dir: "/usr/local/app/tars/tarsnode/data",
        load_avg1: 0,
        load_avg5: 0,
        load_avg15: 0,
        last_reg_time: clock::iso(&node.last_reg_time),
        last_heartbeat: if alive { clock::now() } else { String::new() },
        setting_state: "active",
        present_state: if alive { "active" } else { "inactive" },
        tars_version: "3.0.1",
        template_name: "",
        modify_time: clock::iso(&node.last_reg_time),
        label: "{}",
        group_id: -1,
    }
}

/// `list_tars_node?node_name&curr_page&page_size`: `{count, rows}`, LIKE match on the name.
pub fn list_tars_node(ctx: &mut Ctx) -> Reply {
    let pattern = ctx.params.text("node_name");
    let page_size: usize = ctx.params.text("page_size").parse().unwrap_or(0);
    let page: usize = ctx.params.text("curr_page").parse().unwrap_or(1).max(1);
    let matching: Vec<&NodeRow> = ctx
        .inner
        .model
        .nodes
        .iter()
        .filter(|n| n.node_name.contains(&pattern))
        .collect();
    let count = matching.len();
    let shown: Vec<&NodeRow> = if page_size == 0 {
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
        .map(|n| node_info(n, ctx.inner.node_alive(&n.node_name)))
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
    if ctx.inner.node_alive(&name) {
        Ok(Data::of(&format!("ping node {name} succ")))
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
