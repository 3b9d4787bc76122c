//! Applications (`db_tars_web.t_application`): `add_application`, `application_list`.

use super::Ctx;
use crate::emulator::clock;
use crate::emulator::model::ApplicationRow;
use crate::emulator::params::Rule;
use crate::emulator::reply::{Data, Fail, Reply};

/// Inserts the application; a duplicate name violates the UNIQUE key (kind D).
pub fn add_application(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[("f_name", Rule::NotEmpty)])?;
    let name = ctx.params.text("f_name");
    let model = &mut ctx.inner.model;
    if model.applications.iter().any(|a| a.f_name == name) {
        return Err(Fail::System);
    }
    let now = clock::now();
    let row = ApplicationRow {
        f_id: model.next_id(),
        f_name: name,
        f_create_person: ctx.uid.clone(),
        f_create_time: now.clone(),
        f_update_person: ctx.uid.clone(),
        f_update_time: now,
    };
    model.applications.push(row.clone());
    ctx.changed();
    Ok(Data::of(&row))
}

pub fn application_list(ctx: &mut Ctx) -> Reply {
    let names: Vec<&str> = ctx
        .inner
        .model
        .applications
        .iter()
        .map(|a| a.f_name.as_str())
        .collect();
    Ok(Data::of(&names))
}
