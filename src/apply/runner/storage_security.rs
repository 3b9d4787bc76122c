//! Storage security at apply: key files of agencies with `enable_storage_security` are
//! encrypted through the key center before they reach Tars, each encryption checked by a
//! round trip; the key center and the cipher data key are probed in the preflight, so a
//! key center that is down or a wrong cipher key stop the run before any Tars change.
//! Fail closed: a plaintext key is never uploaded for such an agency.

use super::*;
use crate::config::{SECRET_FILES, Topology};
use crate::keycenter::KeyCenterClient;
use crate::secret::Secret;

/// The key center of one server's agency.
#[derive(Debug, Clone)]
pub struct StorageSecurity {
    pub client: KeyCenterClient,
    pub cipher_data_key: Secret,
    /// `[chain] sm_crypto` of the server: SM4 instead of AES.
    pub sm_crypto: bool,
}

/// Server name → its storage security, for every agency that enables it.
pub fn storage_security_of(topology: &Topology) -> BTreeMap<String, StorageSecurity> {
    topology
        .services()
        .filter(|svc| svc.agency.enable_storage_security)
        .map(|svc| {
            let security = StorageSecurity {
                client: KeyCenterClient::new(&svc.agency.key_center_url),
                cipher_data_key: Secret::new(svc.agency.cipher_data_key.clone()),
                sm_crypto: topology.chain.cert_mode(svc.kind()).is_sm(),
            };
            (svc.server_name(), security)
        })
        .collect()
}

const PROBE: &str = "tarsform storage-security probe";

impl<C: TarsApi> TarsRunner<C> {
    /// Sets the key centers apply encrypts key files with.
    pub fn with_storage_security(mut self, storage: BTreeMap<String, StorageSecurity>) -> Self {
        self.storage = storage;
        self
    }

    /// Probes each key center a pushed key file needs: encrypt, `decDataKey`, decrypt.
    pub(super) async fn preflight_storage_security(&self) -> StepResult<()> {
        let mut probed = std::collections::BTreeSet::new();
        for change in &self.plan.changes {
            let keys = change.address.keys();
            let is_key_push = change.address.kind() == ResourceKind::Config
                && matches!(change.action, Action::Create | Action::Update | Action::Replace)
                && keys.get(2).is_some_and(|f| SECRET_FILES.contains(&f.as_str()));
            let Some(security) = keys
                .first()
                .filter(|_| is_key_push)
                .and_then(|s| self.storage.get(s))
            else {
                continue;
            };
            if probed.insert(keys[0].clone()) {
                security
                    .client
                    .encrypt_checked(
                        PROBE,
                        &Secret::new(PROBE),
                        &security.cipher_data_key,
                        security.sm_crypto,
                    )
                    .await
                    .map_err(|e| plan_err(format!("storage security of `{}`: {e}", keys[0])))?;
            }
        }
        Ok(())
    }

    /// The text to upload for `file` of `server`: the key encrypted through the key center
    /// when storage security is on (checked by a round trip), else `content` as is.
    pub(super) async fn upload_text(
        &self,
        server: &str,
        file: &str,
        content: &str,
    ) -> StepResult<Option<String>> {
        let Some(security) = self.storage.get(server).filter(|_| SECRET_FILES.contains(&file)) else {
            return Ok(None);
        };
        let encrypted = security
            .client
            .encrypt_checked(
                file,
                &Secret::new(content),
                &security.cipher_data_key,
                security.sm_crypto,
            )
            .await
            .map_err(|e| plan_err(format!("storage security of `{server}`: {e}")))?;
        Ok(Some(encrypted))
    }
}
