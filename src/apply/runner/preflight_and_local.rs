//! Steps on the local side and the preflight: checks before any change, CA and leaf
//! certificates, and the package upload.

use super::*;

impl<C: TarsApi> TarsRunner<C> {
    pub(super) async fn preflight(&self) -> StepResult<()> {
        self.api.check_token().await?;
        self.preflight_storage_security().await?;
        let wanted = &self.plan.preconditions.tarsnodes_alive;
        if !wanted.is_empty() {
            let nodes = self.api.list_tars_node().await?;
            // One ping proves the registry answers; a live heartbeat (the registry's own
            // answer to this listing) vouches for its tarsnode. Others are pinged.
            let mut pinged = false;
            for ip in wanted {
                match nodes.iter().find(|n| &n.node_name == ip) {
                    Some(n) if n.is_alive() => {
                        if pinged && n.heartbeat_is_live() {
                            continue;
                        }
                        pinged = true;
                        if !self.api.check_tars_node(ip).await? {
                            return Err(plan_err(format!(
                                "tarsnode {ip} is listed as alive (last heartbeat {}), but Tars cannot reach it now: check_tars_node failed\nhint: TarsWeb answers from its database; is the Tars framework (tarsregistry, tarsAdminRegistry) running? Start it, then run apply again",
                                n.last_heartbeat
                            )));
                        }
                    }
                    Some(_) => {
                        return Err(plan_err(format!(
                            "tarsnode {ip} is registered but not alive\nhint: start tarsnode on {ip} (Tars web → Operations → Node management) and run apply again"
                        )));
                    }
                    None => {
                        return Err(plan_err(format!(
                            "tarsnode {ip} is not registered with Tars\nhint: install tarsnode on {ip} first (BcosBuilder docker/…/node/docker-compose.yml)"
                        )));
                    }
                }
            }
        }
        for (kind, ca) in &self.plan.preconditions.ca {
            if ca.matches_tars == Some(false) {
                return Err(plan_err(format!(
                    "the {kind} CA at {} is not the one Tars serves to the existing nodes",
                    ca.dir
                )));
            }
            if let Some(key) = &ca.signs_with_key
                && !crate::apply::fetched_keys::resolve(Path::new(key)).is_file()
            {
                return Err(plan_err(format!(
                    "this apply signs certificates with the {kind} CA, but its key {key} is not here; nothing was changed\nhint: run apply where the CA key is, or keep the keys in the backend (`[backend] store_keys = true`) and set an age identity (TARSFORM_AGE_IDENTITY_FILE)"
                )));
            }
            if let Some(expected) = &ca.cert_sha256 {
                let path = Path::new(&ca.dir).join(ca.cert_file.as_deref().unwrap_or("ca.crt"));
                let digest = pem_sha256(&local_ops::read_text(&path)?);
                if &digest != expected {
                    return Err(plan_err(format!(
                        "{}: changed since the plan was made\nhint: run `tarsform plan` again",
                        path.display()
                    )));
                }
            }
        }
        for change in &self.plan.changes {
            if change.address.kind() == ResourceKind::Server && change.action != Action::Delete {
                let source = Self::after_str(change, "package_source")?;
                if !Path::new(source).is_file() {
                    return Err(plan_err(format!(
                        "{}: package source {source} is missing\nhint: put BcosRpcService.tgz / BcosGatewayService.tgz in `tars_pkg_dir`",
                        change.address
                    )));
                }
            }
        }
        Ok(())
    }

    pub(super) async fn issue_cert(&self, step: &str, change: &ResourceChange) -> StepResult<Outcome> {
        let ca_addr: Address = Self::after_str(change, "ca")?
            .parse()
            .map_err(|e| plan_err(format!("{}: {e}", change.address)))?;
        let ca_dir = match self.plan.change(&ca_addr) {
            Some(c) => Self::after_str(c, "dir")?.to_string(),
            None => self
                .state_attr(&ca_addr, "dir")
                .await
                .and_then(|v| v.as_str().map(str::to_string))
                .ok_or_else(|| plan_err(format!("{}: no directory known for {ca_addr}", change.address)))?,
        };
        let purpose = Self::after_str(change, "purpose")?;
        let cert_path = self.layout_path(change, "cert_path", purpose)?;
        let key_path = self.layout_path(change, "key_path", purpose)?;
        self.prepare(step, &local_ops::issue_cert_undo(purpose, &cert_path, &key_path))
            .await?;
        let mut keys = (self.keys)();
        let (purpose, cert, key) = (purpose.to_string(), cert_path.clone(), key_path.clone());
        let (pem, files) =
            blocking(move || local_ops::issue_cert(Path::new(&ca_dir), &purpose, &cert, &key, keys.as_mut()))
                .await?;
        let entry = Self::entry(
            change,
            &[("cert_sha256", json!(pem_sha256(&pem)))],
            ResourceStatus::Ready,
        );
        self.commit_backups
            .lock()
            .expect("backups lock")
            .extend(files.replaced.iter().map(|(backup, _)| backup.clone()));
        Ok(Outcome {
            undo: Undo::RemoveFiles {
                paths: files.created,
                replaced: files.replaced,
            },
            state: vec![(change.address.clone(), Some(entry))],
        })
    }

    pub(super) async fn upload(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let server = change.address.server_name().unwrap_or_default();
        let kind = ServiceKind::of_server(server)
            .ok_or_else(|| plan_err(format!("{}: not an rpc or gateway server name", change.address)))?;
        let source = PathBuf::from(Self::after_str(change, "package_source")?);
        let expected = change
            .after
            .as_ref()
            .and_then(|a| a.get("package_sha256"))
            .and_then(Value::as_str);
        let path = PathBuf::from(Self::after_str(change, "package_path")?);
        // gzip and sha256 of a large archive: off the async workers, or other steps stall.
        let package = {
            let (server, expected, built) = (server.to_string(), expected.map(str::to_string), path.clone());
            blocking(move || local_ops::build_package(&source, kind, &server, expected.as_deref(), &built))
                .await?
        };
        local_ops::write_file(&path, &package, false)?;
        // Uploads of one run share one `add_application` (it exists or was created).
        self.application_ready
            .get_or_try_init(|| async { self.api.add_application(app).await.map(|_| ()) })
            .await
            .map_err(OpError::from)?;
        let patch_id = tars_ops::upload_package(&*self.api, app, server, &package).await?;
        let entry = Self::entry(
            change,
            &[
                ("patch_id", json!(patch_id)),
                (
                    "package_sha256",
                    json!(local_ops::package_identity(expected, &package)),
                ),
            ],
            ResourceStatus::Ready,
        );
        Ok(Outcome {
            undo: Undo::Nothing,
            state: vec![(change.address.clone(), Some(entry))],
        })
    }
}
