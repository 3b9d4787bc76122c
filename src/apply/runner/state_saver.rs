//! State saves on the storage thread. The store (which holds the lock) and the serial
//! of its last save live where that thread can reach them, so a save always finishes
//! and the next one starts from the serial it wrote.

use std::sync::{Arc, Mutex};

use super::storage_thread::{StorageThread, locked};
use crate::state::{State, StateStore};

struct Saved {
    /// `None` once handed back by [`StateSaver::into_store`].
    store: Option<StateStore>,
    /// The serial of the last save, once one succeeded.
    serial: Option<u64>,
}

pub struct StateSaver {
    saved: Arc<Mutex<Saved>>,
    storage: Arc<StorageThread>,
}

impl StateSaver {
    pub fn new(store: StateStore, storage: Arc<StorageThread>) -> StateSaver {
        StateSaver {
            saved: Arc::new(Mutex::new(Saved {
                store: Some(store),
                serial: None,
            })),
            storage,
        }
    }

    /// Saves `snapshot`; returns the serial it was saved as.
    pub async fn save(&self, mut snapshot: State) -> Result<u64, String> {
        let saved = self.saved.clone();
        self.storage
            .run(move || {
                let mut saved = locked(&saved);
                let serial = saved.serial;
                let store = saved
                    .store
                    .as_mut()
                    .ok_or("the state store was closed before this save")?;
                if let Some(serial) = serial {
                    snapshot.serial = serial;
                }
                let started = std::time::Instant::now();
                store.save(&mut snapshot).map_err(|e| e.to_string())?;
                tracing::debug!(
                    serial = snapshot.serial,
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "state saved"
                );
                saved.serial = Some(snapshot.serial);
                Ok(snapshot.serial)
            })
            .await?
    }

    /// The store and the serial of the last save (waits for a save in progress).
    pub fn into_store(self) -> (StateStore, Option<u64>) {
        let mut saved = locked(&self.saved);
        let store = saved.store.take().expect("the store is handed back once");
        (store, saved.serial)
    }
}
