//! `add_task` (with `undeploy_tars`' synchronous side effects at submission) and `task`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Ctx;
use crate::emulator::i18n;
use crate::emulator::model::SetKey;
use crate::emulator::params::{Rule, js_loose_eq, js_number, js_string};
use crate::emulator::reply::{Data, Fail, Reply};
use crate::emulator::tasks::{self, Task};

/// `String(1 & bak_flag)`: only values whose number is odd give `"1"` (`"true"` gives `"0"`).
fn bak_flag(value: &Value) -> String {
    let number = js_number(value);
    let bit = if number.is_finite() {
        (number.trunc() as i64) & 1
    } else {
        0
    };
    bit.to_string()
}

pub fn add_task(ctx: &mut Ctx) -> Reply {
    let items = match ctx.params.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => {
            return Err(Fail::Crash(
                "TypeError: Cannot read properties of undefined (reading 'length')".into(),
            ));
        }
    };
    if items.is_empty() {
        return Err(Fail::Business(i18n::TASK_PARAMS.into()));
    }
    ctx.require_admin()?;
    let task_no = tasks::new_id();
    let mut task_items = Vec::new();
    for item in &items {
        let id = item
            .get("server_id")
            .map(js_string)
            .and_then(|s| s.trim().parse::<u64>().ok());
        let row = id.and_then(|id| ctx.inner.model.server(id)).ok_or(Fail::System)?;
        let command = item.get("command").map(js_string).unwrap_or_default();
        let mut parameters = BTreeMap::new();
        if let Some(Value::Object(map)) = item.get("parameters") {
            for (key, value) in map {
                let text = if key == "bak_flag" {
                    bak_flag(value)
                } else {
                    js_string(value)
                };
                parameters.insert(key.clone(), text);
            }
        }
        task_items.push(tasks::item(&task_no, row, &command, parameters));
    }
    for item in task_items.iter().filter(|i| i.command == "undeploy_tars") {
        let row = ctx
            .inner
            .model
            .servers
            .iter()
            .find(|s| s.is(&item.application, &item.server_name, &item.node_name));
        let set = row
            .filter(|r| r.enable_set)
            .map(|r| SetKey {
                name: r.set_name.clone().unwrap_or_default(),
                area: r.set_area.clone().unwrap_or_default(),
                group: r.set_group.clone().unwrap_or_default(),
            })
            .unwrap_or_default();
        ctx.inner
            .model
            .delete_node_configs(&item.application, &item.server_name, &item.node_name, &set);
        ctx.changed();
    }
    // tars' writeBoolean(v == true): the string "true" is false.
    let serial = js_loose_eq(ctx.params.get("serial"), 1.0);
    let task = Task::new(task_no.clone(), serial, ctx.uid.clone(), task_items);
    ctx.inner.tasks.insert(task_no.clone(), task);
    tasks::spawn(ctx.shared.clone(), task_no.clone());
    Ok(Data::of(&task_no))
}

/// `task?task_no`: an unknown or expired task is kind D.
pub fn task(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[("task_no", Rule::NotEmpty)])?;
    let task_no = ctx.params.text("task_no");
    let task = ctx
        .inner
        .tasks
        .get(&task_no)
        .filter(|t| !t.expired())
        .ok_or(Fail::System)?;
    Ok(Data::of(task))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn bak_flag_is_one_and_the_number() {
        assert_eq!(super::bak_flag(&json!("false")), "0");
        assert_eq!(super::bak_flag(&json!("true")), "0");
        assert_eq!(super::bak_flag(&json!(true)), "1");
        assert_eq!(super::bak_flag(&json!("1")), "1");
        assert_eq!(super::bak_flag(&json!(0)), "0");
    }
}
