//! A key-center emulator: a stand-in for FISCO-BCOS/key-manager for the demo and tests.
//! It serves JSON-RPC 2.0 on `POST /` with the methods the chain uses:
//!
//! - `encDataKey([data_key_hex])` → `{"dataKey": cipher_data_key}`: makes a cipher data key
//!   (the data key encrypted with the emulator's super key);
//! - `decDataKey([cipher_data_key])` → `{"error": 0, "dataKey": data_key_hex, "info": …}`;
//! - `encWithCipherKey([base64(file), cipher_data_key])` → `{"dataKey": hex(encrypted)}`:
//!   the file encrypted as the node decrypts it (AES-256-CBC, or SM4-CBC with `sm`).
//!
//! A cipher data key it cannot decrypt gives a JSON-RPC error. Real AES/SM4 throughout.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use sha3::{Digest, Keccak256};

use crate::keycenter::cipher::{self, Algorithm};
use crate::secret::Secret;

/// How the emulator encrypts: its super key and AES (default) or SM4.
#[derive(Debug, Clone)]
pub struct KeyCenterConfig {
    pub listen: SocketAddr,
    pub super_key: Secret,
    pub sm: bool,
}

/// A running emulator; dropped or [`RunningKeyCenter::shutdown`] to stop it.
pub struct RunningKeyCenter {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningKeyCenter {
    /// `ip:port`, as `key_center_url` is written.
    pub fn url(&self) -> String {
        self.addr.to_string()
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

struct Shared {
    super_key: Vec<u8>,
    algorithm: Algorithm,
}

impl Shared {
    fn new(super_key: &Secret, sm: bool) -> Self {
        Shared {
            super_key: Keccak256::digest(super_key.expose().as_bytes()).to_vec(),
            algorithm: Algorithm::of(sm),
        }
    }
}

/// What `encDataKey([data_key])` answers at a key center with this super key and mode.
pub fn cipher_data_key(super_key: &Secret, sm: bool, data_key: &str) -> String {
    Shared::new(super_key, sm).seal(data_key)
}

/// Binds and serves in the background.
pub async fn start(config: KeyCenterConfig) -> anyhow::Result<RunningKeyCenter> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared::new(&config.super_key, config.sm));
    let app = Router::new().route("/", post(rpc)).with_state(shared);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(RunningKeyCenter {
        addr,
        stop: Some(stop),
        task,
    })
}

/// Any content type is accepted (curl's default form type too): the body must be JSON.
async fn rpc(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Json<Value> {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return Json(
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}}),
        );
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request.get("method").and_then(Value::as_str).unwrap_or_default();
    let params: Vec<&str> = request
        .get("params")
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let result = match (method, params.as_slice()) {
        ("encDataKey", [data_key]) => Ok(json!({"dataKey": shared.seal(data_key)})),
        ("decDataKey", [cipher_key]) => shared
            .open(cipher_key)
            .map(|data_key| json!({"error": 0, "dataKey": data_key, "info": "success"})),
        ("encWithCipherKey", [file_b64, cipher_key]) => shared.open(cipher_key).and_then(|data_key| {
            shared
                .encrypt_b64(file_b64, &data_key)
                .map(|enc| json!({"dataKey": enc, "info": "success"}))
        }),
        ("encDataKey" | "decDataKey" | "encWithCipherKey", _) => Err((-32602, "invalid params")),
        _ => Err((-32601, "method not found")),
    };
    Json(match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        }
    })
}

impl Shared {
    /// The cipher data key of `data_key`: hex(AES/SM4 with the super key).
    fn seal(&self, data_key: &str) -> String {
        hex::encode(cipher::encrypt_bytes(
            data_key.as_bytes(),
            self.key(),
            self.algorithm,
        ))
    }

    fn open(&self, cipher_key: &str) -> Result<String, (i64, &'static str)> {
        let bad = (
            -32000,
            "cannot decrypt the cipher data key with this key center's super key",
        );
        let bytes = hex::decode(cipher_key.trim()).map_err(|_| bad)?;
        let plain = cipher::decrypt_bytes(&bytes, self.key(), self.algorithm).map_err(|_| bad)?;
        String::from_utf8(plain).map_err(|_| bad)
    }

    fn encrypt_b64(&self, file_b64: &str, data_key: &str) -> Result<String, (i64, &'static str)> {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD
            .decode(file_b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or((-32602, "the file is not base64 text"))?;
        cipher::encrypt_file(&text, &Secret::new(data_key), self.algorithm)
            .map_err(|_| (-32000, "the data key is not hex"))
    }

    fn key(&self) -> &[u8] {
        match self.algorithm {
            Algorithm::Aes256 => &self.super_key,
            Algorithm::Sm4 => &self.super_key[..16],
        }
    }
}
