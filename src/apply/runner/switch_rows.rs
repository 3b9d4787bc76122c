//! `delete-config`: removes a config row of a node that stays (the other certificate
//! set after `--switch-crypto`), and its inverse. The last node of a server to lose a
//! file also removes the server-level row: while that row exists, TarsWeb's next
//! listing would create an empty node row again.

use super::*;
use crate::tars::ConfigFile;

impl<C: TarsApi> TarsRunner<C> {
    pub(super) async fn delete_config(
        &self,
        step: &str,
        change: &ResourceChange,
        app: &str,
    ) -> StepResult<Outcome> {
        let address = &change.address;
        let (server, ip, file) = (&address.keys()[0], &address.keys()[1], &address.keys()[2]);
        let api = &*self.api;
        let forget = Outcome {
            undo: Undo::Nothing,
            state: vec![(address.clone(), None)],
        };
        let Some(server_row) = find_file(api.config_file_list(app, server).await?, file) else {
            return Ok(forget);
        };
        let rows = api.node_config_file_list(app, server, server_row.id).await?;
        let mine = rows.iter().find(|r| r.node_name == *ip);
        let others_in_use = rows
            .iter()
            .any(|r| r.node_name != *ip && !r.config.trim().is_empty());
        if mine.is_none() && others_in_use {
            return Ok(forget);
        }
        let old = mine.map(|r| r.config.clone()).unwrap_or_default();
        let server_old = match others_in_use {
            true => None,
            false => Some(self.keep(&format!("{step} (server level)"), file, &server_row.config)?),
        };
        let undo = Undo::RecreateConfigRow {
            server: server.clone(),
            ip: ip.clone(),
            file: file.clone(),
            old: self.keep(step, file, &old)?,
            server_old,
        };
        self.prepare(step, &undo).await?;
        let id = match (others_in_use, mine) {
            (true, Some(row)) => row.id,
            _ => server_row.id,
        };
        delete_row(api, self.timing, id).await?;
        Ok(Outcome {
            undo,
            state: vec![(address.clone(), None)],
        })
    }

    /// The inverse of [`Self::delete_config`]: the rows again, with their old contents.
    pub(super) async fn recreate_config(
        &self,
        server: &str,
        ip: &str,
        file: &str,
        old: &Kept,
        server_old: Option<&Kept>,
    ) -> StepResult<()> {
        let app = self.app().to_string();
        let api = &*self.api;
        let old = self.kept(old)?;
        // Adds the server-level row (then TarsWeb the node rows) when it is gone.
        let row = tars_ops::node_row(api, self.timing, &app, server, ip, file).await?;
        if let Some(server_old) = server_old {
            let server_old = self.kept(server_old)?;
            if let Some(srow) = find_file(api.config_file_list(&app, server).await?, file)
                && srow.config != server_old
                && !server_old.trim().is_empty()
            {
                tars_ops::update_config(
                    api,
                    self.timing,
                    srow.id,
                    &srow.config,
                    &server_old,
                    "tarsform rollback",
                )
                .await?;
            }
        }
        if row.config != old && !old.trim().is_empty() {
            tars_ops::update_config(api, self.timing, row.id, &row.config, &old, "tarsform rollback").await?;
        }
        Ok(())
    }
}

impl<C: TarsApi> TarsRunner<C> {
    /// Deletes the server-level row of `file` when it and every node row of it are
    /// empty (a placeholder no node uses), so no empty node row appears again.
    pub(super) async fn drop_unused_server_row(&self, server: &str, file: &str) -> StepResult<()> {
        let app = self.app().to_string();
        let api = &*self.api;
        let Some(row) = find_file(api.config_file_list(&app, server).await?, file) else {
            return Ok(());
        };
        if !row.config.trim().is_empty() {
            return Ok(());
        }
        let nodes = api.node_config_file_list(&app, server, row.id).await?;
        if nodes.iter().all(|r| r.config.trim().is_empty()) {
            delete_row(api, self.timing, row.id).await?;
        }
        Ok(())
    }
}

fn find_file(rows: Vec<ConfigFile>, file: &str) -> Option<ConfigFile> {
    rows.into_iter().find(|r| r.filename == file)
}

/// Deletes row `id`; an answer lost on the way counts as done once the row is gone.
async fn delete_row<C: TarsApi>(api: &C, timing: tars_ops::Timing, id: u64) -> StepResult<()> {
    match api.delete_config_file(id).await {
        Ok(()) => Ok(()),
        Err(e) if tars_ops::outcome_unknown(&e) => {
            let gone = tars_ops::read_back(timing, || async {
                Ok(api.config_file(id).await?.is_none().then_some(()))
            })
            .await?;
            gone.ok_or_else(|| e.into())
        }
        Err(e) => Err(e.into()),
    }
}
