//! The key center's JSON-RPC (`http://<key_center_url>`), as BcosBuilder and the node call
//! it: `encWithCipherKey` to encrypt a key file, `decDataKey` to get the data key back.
//! Every encryption is checked by a round trip before its result may be uploaded.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::cipher::{self, Algorithm};
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum KeyCenterError {
    #[error(
        "the key center at {url} is unreachable ({reason})\nhint: start it (FISCO-BCOS key-manager, or `tarsform keycenter` for tests) or fix `key_center_url`; nothing was uploaded"
    )]
    Unreachable { url: String, reason: String },
    #[error(
        "the key center at {url} refused `{method}`: {message}\nhint: check `cipher_data_key` (it must come from this key center); nothing was uploaded"
    )]
    Refused {
        url: String,
        method: String,
        message: String,
    },
    #[error(
        "the key center at {url} gave an encryption of {file} that does not decrypt back with {algorithm} ({reason})\nhint: the node would fail at start; check that the key center runs in the mode of `sm_crypto` (SM4 for SM chains, AES otherwise); nothing was uploaded"
    )]
    RoundTrip {
        url: String,
        file: String,
        algorithm: &'static str,
        reason: String,
    },
}

/// One key center.
#[derive(Debug, Clone)]
pub struct KeyCenterClient {
    url: String,
    http: reqwest::Client,
}

impl KeyCenterClient {
    /// `url` as in the topology: `ip:port` (`http://` is added, as BcosBuilder does).
    pub fn new(url: &str) -> Self {
        let url = if url.starts_with("http://") || url.starts_with("https://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        KeyCenterClient { url, http }
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, KeyCenterError> {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 83});
        let unreachable = |e: reqwest::Error| KeyCenterError::Unreachable {
            url: self.url.clone(),
            reason: e.without_url().to_string(),
        };
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        let refused = |message: String| KeyCenterError::Refused {
            url: self.url.clone(),
            method: method.to_string(),
            message,
        };
        if !response.status().is_success() {
            return Err(refused(format!("HTTP {}", response.status())));
        }
        let reply: Value = response
            .json()
            .await
            .map_err(|_| refused("the reply is not JSON".into()))?;
        if let Some(error) = reply.get("error").filter(|e| !e.is_null()) {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("error");
            return Err(refused(message.chars().take(200).collect()));
        }
        let result = reply.get("result").cloned().unwrap_or(Value::Null);
        if result
            .get("error")
            .and_then(Value::as_i64)
            .is_some_and(|code| code != 0)
        {
            let info = result.get("info").and_then(Value::as_str).unwrap_or("error");
            return Err(refused(info.chars().take(200).collect()));
        }
        Ok(result)
    }

    fn data_key(&self, method: &str, result: &Value) -> Result<String, KeyCenterError> {
        result
            .get("dataKey")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| KeyCenterError::Refused {
                url: self.url.clone(),
                method: method.to_string(),
                message: "the reply has no `result.dataKey`".into(),
            })
    }

    /// Encrypts the key file `file` (its text) with `cipher_data_key`, then checks the
    /// result: `decDataKey`, local decryption with AES or SM4 (`sm_crypto`), compare.
    /// Returns the text to upload in place of the key.
    pub async fn encrypt_checked(
        &self,
        file: &str,
        text: &Secret,
        cipher_data_key: &Secret,
        sm_crypto: bool,
    ) -> Result<String, KeyCenterError> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(text.expose().as_bytes());
        let result = self
            .call("encWithCipherKey", json!([b64, cipher_data_key.expose()]))
            .await?;
        let encrypted = self.data_key("encWithCipherKey", &result)?;
        let result = self.call("decDataKey", json!([cipher_data_key.expose()])).await?;
        let data_key = Secret::new(self.data_key("decDataKey", &result)?);
        let algorithm = Algorithm::of(sm_crypto);
        let round_trip = |reason: String| KeyCenterError::RoundTrip {
            url: self.url.clone(),
            file: file.to_string(),
            algorithm: algorithm.name(),
            reason,
        };
        match cipher::decrypt_file(&encrypted, &data_key, algorithm) {
            Ok(plain) if plain.expose() == text.expose() => Ok(encrypted),
            Ok(_) => Err(round_trip("the decrypted text differs".into())),
            Err(e) => Err(round_trip(e.to_string())),
        }
    }
}
