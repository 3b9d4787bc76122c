//! RSA keys generated ahead of the certificate steps, on background threads (one per
//! CPU), so key generation overlaps the Tars calls instead of holding step slots.

use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use rcgen::KeyPair;

use super::runner::KeyFactory;
use crate::addr::ResourceKind;
use crate::pki::{KeySource, PkiError, SystemKeys};
use crate::plan::{Action, Plan};

/// How many keys `plan` needs: one per CA or certificate it creates or re-issues.
pub fn keys_needed(plan: &Plan) -> usize {
    plan.changes
        .iter()
        .filter(|c| matches!(c.address.kind(), ResourceKind::Ca | ResourceKind::Cert))
        .filter(|c| matches!(c.action, Action::Create | Action::Update | Action::Replace))
        .count()
}

/// A factory whose sources hand out `count` keys made in the background, then fresh ones.
pub fn pooled_keys(count: usize) -> KeyFactory {
    let (tx, rx) = sync_channel::<Result<KeyPair, PkiError>>(count.max(1));
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count);
    for t in 0..threads {
        let tx = tx.clone();
        let share = count / threads + usize::from(t < count % threads);
        std::thread::spawn(move || {
            let mut keys = SystemKeys::new();
            for _ in 0..share {
                if tx.send(keys.next_key()).is_err() {
                    break;
                }
            }
        });
    }
    let rx = Arc::new(Mutex::new(rx));
    Box::new(move || Box::new(PooledKeys { rx: rx.clone() }))
}

struct PooledKeys {
    rx: Arc<Mutex<Receiver<Result<KeyPair, PkiError>>>>,
}

impl KeySource for PooledKeys {
    fn next_key(&mut self) -> Result<KeyPair, PkiError> {
        let pooled = self
            .rx
            .lock()
            .map_err(|_| PkiError::KeyGeneration("key pool poisoned".into()))?
            .recv();
        match pooled {
            Ok(key) => key,
            // The pool is used up: make one now.
            Err(_) => SystemKeys::new().next_key(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_hands_out_distinct_keys_and_then_fresh_ones() {
        let factory = pooled_keys(2);
        let mut a = factory();
        let mut b = factory();
        let k1 = a.next_key().unwrap().public_key_pem();
        let k2 = b.next_key().unwrap().public_key_pem();
        let k3 = a.next_key().unwrap().public_key_pem();
        assert!(k1 != k2 && k2 != k3 && k1 != k3);
    }
}
