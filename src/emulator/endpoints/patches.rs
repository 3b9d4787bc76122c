//! Patch packages: `upload_patch_package` (multipart, file field `suse`) and
//! `get_server_patch` (by the client's `task_id`). Only the package digest is kept.

use serde::Serialize;

use super::Ctx;
use crate::emulator::clock;
use crate::emulator::model::PatchRow;
use crate::emulator::params::Rule;
use crate::emulator::reply::{Data, Fail, Reply};

/// TarsWeb's Patch shape.
#[derive(Serialize)]
struct Patch<'a> {
    id: u64,
    server: &'a str,
    tgz: &'a str,
    comment: &'a str,
    posttime: &'a str,
}

impl<'a> From<&'a PatchRow> for Patch<'a> {
    fn from(row: &'a PatchRow) -> Self {
        Patch {
            id: row.id,
            server: &row.server,
            tgz: &row.tgz,
            comment: &row.update_text,
            posttime: &row.posttime,
        }
    }
}

pub fn upload_patch_package(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[("application", Rule::NotEmpty)])?;
    ctx.require_admin()?;
    let file = ctx.files.first().cloned().ok_or(Fail::System)?;
    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&file.bytes));
    let expected = ctx.params.text("md5");
    if !expected.is_empty() && !expected.eq_ignore_ascii_case(&md5) {
        return Err(Fail::System);
    }
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&file.bytes));
    let app = ctx.params.text("application");
    let module = ctx.params.text("module_name");
    let server = format!("{app}.{module}");
    let model = &mut ctx.inner.model;
    for patch in model.patches.iter_mut().filter(|p| p.server == server) {
        patch.default_version = false;
    }
    let now = clock::now();
    let row = PatchRow {
        id: model.next_id(),
        tgz: format!("{server}_suse_{}.tgz", clock::now_millis()),
        server,
        md5,
        sha256,
        size: file.bytes.len() as u64,
        update_text: ctx.params.text("comment"),
        task_id: ctx.params.text("task_id"),
        posttime: now,
        upload_user: ctx.uid.clone(),
        default_version: true,
        publish: false,
    };
    model.patches.push(row.clone());
    ctx.changed();
    Ok(Data::of(&Patch::from(&row)))
}

/// `get_server_patch?task_id`: an unknown task id is a success with `{}`.
pub fn get_server_patch(ctx: &mut Ctx) -> Reply {
    ctx.params.check(&[("task_id", Rule::NotEmpty)])?;
    let task_id = ctx.params.text("task_id");
    match ctx.inner.model.patches.iter().find(|p| p.task_id == task_id) {
        Some(row) => Ok(Data::of(&Patch::from(row))),
        None => Ok(Data::empty()),
    }
}
