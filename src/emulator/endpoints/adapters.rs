//! Adapters: `adapter_conf_list?id=<server id>` (the node's adapters, `[]` for an
//! unknown id) and `update_adapter_conf` (sets the given columns; `servant` also renames
//! the adapter) and `add_adapter_conf` (a duplicate breaks the unique key: system
//! error), as TarsWeb's AdapterController does.

use super::Ctx;
use crate::emulator::clock;
use crate::emulator::model::AdapterRow;
use crate::emulator::params::Rule;
use crate::emulator::reply::{Data, Fail, Reply};

pub fn adapter_conf_list(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[("id", Rule::NotEmpty)])?;
    let model = &ctx.inner.model;
    let Some(row) = ctx.params.id("id").and_then(|id| model.server(id)) else {
        return Ok(Data::of(&[] as &[u8]));
    };
    let adapters: Vec<_> = model
        .adapters
        .iter()
        .filter(|a| {
            a.application == row.application
                && a.server_name == row.server_name
                && a.node_name == row.node_name
        })
        .collect();
    if !adapters.is_empty() {
        ctx.require_admin()?;
    }
    Ok(Data::of(&adapters))
}

pub fn update_adapter_conf(ctx: &mut Ctx) -> Reply {
    ctx.params
        .check(&[("id", Rule::NotEmpty), ("servant", Rule::NotEmpty)])?;
    let id = ctx.params.id("id").ok_or(Fail::System)?;
    // TarsWeb reads the row first; an unknown id throws before the auth check.
    if !ctx.inner.model.adapters.iter().any(|a| a.id == id) {
        return Err(Fail::System);
    }
    ctx.require_admin()?;
    let text = |key: &str| ctx.params.opt_text(key);
    let number = |key: &str| {
        ctx.params
            .opt_text(key)
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let (servant, endpoint, allow_ip, protocol, handlegroup) = (
        text("servant"),
        text("endpoint"),
        text("allow_ip"),
        text("protocol"),
        text("handlegroup"),
    );
    let (thread_num, max_connections, queuecap, queuetimeout) = (
        number("thread_num"),
        number("max_connections"),
        number("queuecap"),
        number("queuetimeout"),
    );
    let row = ctx
        .inner
        .model
        .adapters
        .iter_mut()
        .find(|a| a.id == id)
        .ok_or(Fail::System)?;
    if let Some(servant) = servant {
        row.adapter_name = format!("{servant}Adapter");
        row.servant = servant;
    }
    let texts = [
        (&mut row.endpoint, endpoint),
        (&mut row.allow_ip, allow_ip),
        (&mut row.protocol, protocol),
        (&mut row.handlegroup, handlegroup),
    ];
    for (slot, value) in texts {
        if let Some(value) = value {
            *slot = value;
        }
    }
    let numbers = [
        (&mut row.thread_num, thread_num),
        (&mut row.max_connections, max_connections),
        (&mut row.queuecap, queuecap),
        (&mut row.queuetimeout, queuetimeout),
    ];
    for (slot, value) in numbers {
        if let Some(value) = value {
            *slot = value;
        }
    }
    row.posttime = clock::now();
    let row = row.clone();
    ctx.changed();
    Ok(Data::of(&row))
}

pub fn add_adapter_conf(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[
        ("application", Rule::NotEmpty),
        ("server_name", Rule::NotEmpty),
        ("node_name", Rule::NotEmpty),
    ])?;
    ctx.require_admin()?;
    let text = |key: &str| ctx.params.text(key);
    let number = |key: &str| text(key).trim().parse::<i64>().unwrap_or(0);
    let servant = text("servant");
    let row = AdapterRow {
        id: 0,
        application: text("application"),
        server_name: text("server_name"),
        node_name: text("node_name"),
        adapter_name: format!("{servant}Adapter"),
        servant,
        endpoint: text("endpoint"),
        thread_num: number("thread_num"),
        max_connections: number("max_connections"),
        queuecap: number("queuecap"),
        queuetimeout: number("queuetimeout"),
        allow_ip: text("allow_ip"),
        protocol: text("protocol"),
        handlegroup: text("handlegroup"),
        posttime: clock::now(),
    };
    let model = &mut ctx.inner.model;
    let duplicate = model.adapters.iter().any(|a| {
        (&a.application, &a.server_name, &a.node_name, &a.adapter_name)
            == (
                &row.application,
                &row.server_name,
                &row.node_name,
                &row.adapter_name,
            )
    });
    if duplicate {
        return Err(Fail::System);
    }
    let row = AdapterRow {
        id: model.next_id(),
        ..row
    };
    model.adapters.push(row.clone());
    ctx.changed();
    Ok(Data::of(&row))
}
