//! Config files (`t_config_files`, tarsweb-api.md §4.3, §6.5–6.9): API levels 1/5 in,
//! stored levels 1/2/3; `add_config_file` ignores `node_name`; `node_config_file_list`
//! creates missing node rows and returns the list from before its inserts.

use super::Ctx;
use crate::emulator::clock;
use crate::emulator::i18n;
use crate::emulator::model::{ConfigRow, SetKey};
use crate::emulator::params::{Params, Rule, js_loose_eq};
use crate::emulator::reply::{Data, Fail, Reply};

/// The set_* filter of a request: `None` for an absent field (no filter).
struct SetFilter {
    name: Option<String>,
    area: Option<String>,
    group: Option<String>,
}

impl SetFilter {
    fn from(params: &Params) -> SetFilter {
        SetFilter {
            name: params.opt_text("set_name"),
            area: params.opt_text("set_area"),
            group: params.opt_text("set_group"),
        }
    }

    fn matches(&self, row: &ConfigRow) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.name, &row.set_name) && eq(&self.area, &row.set_area) && eq(&self.group, &row.set_group)
    }

    /// Absent fields as `''`, for inserts and node matching.
    fn key(&self) -> SetKey {
        SetKey {
            name: self.name.clone().unwrap_or_default(),
            area: self.area.clone().unwrap_or_default(),
            group: self.group.clone().unwrap_or_default(),
        }
    }
}

/// `config_file_list?level&application&server_name&set_*`.
pub fn config_file_list(ctx: &mut Ctx) -> Reply {
    ctx.params
        .check(&[("level", Rule::Number), ("application", Rule::NotEmpty)])?;
    ctx.require_admin()?;
    let app = ctx.params.text("application");
    let set = SetFilter::from(&ctx.params);
    let configs = &ctx.inner.model.configs;
    let rows: Vec<&ConfigRow> = match ctx.params.text("level").as_str() {
        "1" => configs
            .iter()
            .filter(|c| c.level == 1 && c.server_name == app && c.in_set(&SetKey::default()))
            .collect(),
        level @ ("2" | "3" | "4") => {
            let required = match level {
                "2" => &["set_name"][..],
                "3" => &["set_name", "set_area"][..],
                _ => &["set_name", "set_area", "set_group"][..],
            };
            if let Some(missing) = required.iter().find(|k| ctx.params.text(k).is_empty()) {
                return Err(Fail::Business(format!("{missing} #common.notempty#")));
            }
            configs
                .iter()
                .filter(|c| c.level == 1 && c.server_name == app && set.matches(c))
                .collect()
        }
        "5" => {
            let server = ctx.params.text("server_name");
            if server.is_empty() {
                return Err(Fail::Business("server_name #common.notempty#".into()));
            }
            let column = format!("{app}.{server}");
            let mut rows: Vec<&ConfigRow> = configs
                .iter()
                .filter(|c| c.level == 2 && c.server_name == column && set.matches(c))
                .collect();
            rows.sort_by(|a, b| b.posttime.cmp(&a.posttime).then(a.id.cmp(&b.id)));
            rows
        }
        _ => Vec::new(),
    };
    Ok(Data::of(&rows))
}

/// `config` with one leading and one trailing whitespace character removed (`/^\s|\s$/g`).
fn trim_one(config: &str) -> String {
    let mut text = config;
    if let Some(c) = text.chars().next().filter(|c| c.is_whitespace()) {
        text = &text[c.len_utf8()..];
    }
    if let Some(c) = text.chars().next_back().filter(|c| c.is_whitespace()) {
        text = &text[..text.len() - c.len_utf8()];
    }
    text.to_string()
}

/// `add_config_file`: level 5 → stored 2 (`<app>.<server>`), anything else → stored 1.
/// `node_name` is ignored. A server-level add creates empty node rows for existing nodes.
pub fn add_config_file(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[
        ("level", Rule::Number),
        ("application", Rule::NotEmpty),
        ("filename", Rule::NotEmpty),
        ("config", Rule::NotEmpty),
    ])?;
    ctx.require_admin()?;
    let app = ctx.params.text("application");
    let server = ctx.params.text("server_name");
    let server_level = js_loose_eq(ctx.params.get("level"), 5.0);
    let (level, column) = if server_level {
        (2, format!("{app}.{server}"))
    } else {
        (1, app.clone())
    };
    let set = SetFilter::from(&ctx.params).key();
    let filename = ctx.params.text("filename").trim().to_string();
    let force = ctx.params.truthy("force");
    let model = &mut ctx.inner.model;
    let existing = model.configs.iter().position(|c| {
        c.level == level && c.server_name == column && c.in_set(&set) && c.filename == filename
    });
    if existing.is_some() && !force {
        return Err(Fail::Business(i18n::CONFIG_EXISTS.into()));
    }
    let row = ConfigRow {
        id: 0,
        server_name: column.clone(),
        set_name: set.name.clone(),
        set_area: set.area.clone(),
        host: String::new(),
        set_group: set.group.clone(),
        filename: filename.clone(),
        config: trim_one(&ctx.params.text("config")),
        level,
        posttime: clock::now(),
        lastuser: ctx.uid.clone(),
    };
    let id = match existing {
        Some(index) => {
            let id = model.configs[index].id;
            model.configs[index] = ConfigRow { id, ..row };
            id
        }
        None => model.insert_config(row),
    };
    if server_level {
        let nodes: Vec<String> = model
            .servers
            .iter()
            .filter(|s| s.application == app && s.server_name == server && s.in_set(&set))
            .map(|s| s.node_name.clone())
            .collect();
        for node in nodes {
            let existing = model.configs.iter_mut().find(|c| {
                c.level == 3
                    && c.server_name == column
                    && c.host == node
                    && c.filename == filename
                    && c.in_set(&set)
            });
            match existing {
                // The background loop stops at the first conflict, unless forced.
                Some(_) if !force => break,
                Some(row) => row.config.clear(),
                None => {
                    model.insert_config(node_row(&column, &set, &node, &filename, &ctx.uid));
                }
            }
        }
    }
    ctx.changed();
    let row = ctx.inner.model.configs.iter().find(|c| c.id == id);
    Ok(Data::of(&row))
}

fn node_row(column: &str, set: &SetKey, node: &str, filename: &str, uid: &str) -> ConfigRow {
    ConfigRow {
        id: 0,
        server_name: column.to_string(),
        set_name: set.name.clone(),
        set_area: set.area.clone(),
        host: node.to_string(),
        set_group: set.group.clone(),
        filename: filename.to_string(),
        config: String::new(),
        level: 3,
        posttime: clock::now(),
        lastuser: uid.to_string(),
    }
}

/// `node_config_file_list?config_id&application&server_name&set_*`.
pub fn node_config_file_list(ctx: &mut Ctx) -> Reply {
    ctx.params
        .check(&[("application", Rule::NotEmpty), ("server_name", Rule::NotEmpty)])?;
    ctx.require_admin()?;
    let app = ctx.params.text("application");
    let server = ctx.params.text("server_name");
    let column = format!("{app}.{server}");
    let set = SetFilter::from(&ctx.params);
    let config_id = ctx.params.id("config_id").ok_or(Fail::System)?;
    let model = &mut ctx.inner.model;
    let Some(filename) = model
        .configs
        .iter()
        .find(|c| c.id == config_id)
        .map(|c| c.filename.clone())
    else {
        // TarsWeb 3.0.15 fails on an unknown config id (a system error, data `{}`).
        return Err(Fail::System);
    };
    let mut existing: Vec<ConfigRow> = model
        .configs
        .iter()
        .filter(|c| c.level == 3 && c.server_name == column && set.matches(c) && c.filename == filename)
        .cloned()
        .collect();
    existing.sort_by_key(|c| std::cmp::Reverse(c.id));
    let key = set.key();
    let missing: Vec<String> = model
        .servers
        .iter()
        .filter(|s| s.application == app && s.server_name == server && s.in_set(&key))
        .filter(|s| !existing.iter().any(|c| c.host == s.node_name))
        .map(|s| s.node_name.clone())
        .collect();
    for node in &missing {
        model.insert_config(node_row(&column, &key, node, &filename, &ctx.uid));
    }
    if !missing.is_empty() {
        ctx.changed();
    }
    Ok(Data::of(&existing))
}

/// `update_config_file {id, config, reason}`: stored verbatim, any level.
pub fn update_config_file(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[
        ("id", Rule::Number),
        ("config", Rule::NotEmpty),
        ("reason", Rule::NotEmpty),
    ])?;
    ctx.require_admin()?;
    let id = ctx.params.id("id").ok_or(Fail::System)?;
    let config = ctx.params.text("config");
    let uid = ctx.uid.clone();
    let row = ctx
        .inner
        .model
        .configs
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or(Fail::System)?;
    row.config = config;
    row.lastuser = uid;
    row.posttime = clock::now();
    let row = row.clone();
    ctx.changed();
    Ok(Data::of(&row))
}

/// `config_file?id`: an unknown id is a success with `{}`.
pub fn config_file(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[("id", Rule::Number)])?;
    let id = ctx.params.id("id");
    match ctx.inner.model.configs.iter().find(|c| Some(c.id) == id) {
        Some(row) => Ok(Data::of(row)),
        None => Ok(Data::empty()),
    }
}

/// `delete_config_file?id`: a server-level row takes its node rows with it.
pub fn delete_config_file(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[("id", Rule::Number)])?;
    ctx.require_admin()?;
    let id = ctx.params.id("id").ok_or(Fail::System)?;
    let model = &mut ctx.inner.model;
    let row = model
        .configs
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .ok_or(Fail::System)?;
    model.configs.retain(|c| c.id != id);
    if row.level == 2 {
        model.configs.retain(|c| {
            !(c.level == 3
                && c.server_name == row.server_name
                && c.filename == row.filename
                && c.set_name == row.set_name
                && c.set_area == row.set_area
                && c.set_group == row.set_group)
        });
    }
    ctx.changed();
    // TarsWeb answers the deleted id as a string.
    Ok(Data::of(&id.to_string()))
}

/// `merged_node_config?id`: what tarsconfig delivers for a node row: the non-empty
/// server-level and node-level contents joined with `"\r\n\r\n"`.
pub fn merged_node_config(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[("id", Rule::Number)])?;
    let id = ctx.params.id("id");
    let configs = &ctx.inner.model.configs;
    let row = configs.iter().find(|c| Some(c.id) == id).ok_or(Fail::System)?;
    let server_level = configs.iter().find(|c| {
        c.level == 2
            && c.server_name == row.server_name
            && c.filename == row.filename
            && c.set_name == row.set_name
            && c.set_area == row.set_area
            && c.set_group == row.set_group
    });
    let parts: Vec<&str> = match row.level {
        3 => [server_level.map(|c| c.config.as_str()), Some(row.config.as_str())]
            .into_iter()
            .flatten()
            .filter(|c| !c.is_empty())
            .collect(),
        _ => vec![row.config.as_str()],
    };
    Ok(Data::of(&parts.join("\r\n\r\n")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn trims_one_whitespace_character_each_side() {
        assert_eq!(super::trim_one("\n"), "");
        assert_eq!(super::trim_one("  a \n\n"), " a \n");
        assert_eq!(super::trim_one("abc"), "abc");
    }
}
