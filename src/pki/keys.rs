//! Where keys, serial numbers and validity start times come from: the system
//! ([`SystemKeys`]) or a fixed list of keys and a fixed clock ([`FixedKeys`], for tests).

use rcgen::{KeyPair, PKCS_RSA_SHA256, PublicKeyData, SerialNumber};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::PkiError;

/// Supplies the randomness of certificate issuance.
pub trait KeySource {
    /// A fresh RSA-2048 key pair.
    fn next_key(&mut self) -> Result<KeyPair, PkiError>;

    /// The serial number of the certificate for `key`: by default the first 16 bytes of
    /// sha256(SubjectPublicKeyInfo), positive, so unique as long as keys are.
    fn serial_for(&mut self, key: &KeyPair) -> SerialNumber {
        serial_from(&key.subject_public_key_info(), 0)
    }

    /// A fresh SM2 key pair: by default from the operating system's random source.
    fn next_sm2_key(&mut self) -> sm2::SecretKey {
        super::sm2::random_key()
    }

    /// The serial number of an SM certificate for the DER `spki`, like [`Self::serial_for`].
    fn sm_serial(&mut self, spki: &[u8]) -> Vec<u8> {
        serial_from(spki, 0).to_bytes()
    }

    /// Start of the validity period: by default now (UTC, whole seconds).
    fn not_before(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}

/// Fresh RSA-2048 keys from aws-lc.
#[derive(Debug, Default)]
pub struct SystemKeys {
    /// Keys made ahead of time by [`SystemKeys::prefetch`], used first.
    ready: Vec<KeyPair>,
}

impl SystemKeys {
    pub fn new() -> Self {
        SystemKeys::default()
    }

    /// Generates `count` keys on all CPUs now, so later [`KeySource::next_key`] calls are
    /// instant (RSA key generation dominates the cost of issuing certificates).
    pub fn prefetch(&mut self, count: usize) -> Result<(), PkiError> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(count.max(1));
        let per_thread = count.div_ceil(threads);
        let batches: Vec<Result<Vec<KeyPair>, PkiError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let n = per_thread.min(count.saturating_sub(t * per_thread));
                    scope.spawn(move || (0..n).map(|_| generate()).collect())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(PkiError::KeyGeneration("key generation thread panicked".into()))
                    })
                })
                .collect()
        });
        for batch in batches {
            self.ready.extend(batch?);
        }
        Ok(())
    }
}

impl KeySource for SystemKeys {
    fn next_key(&mut self) -> Result<KeyPair, PkiError> {
        match self.ready.pop() {
            Some(key) => Ok(key),
            None => generate(),
        }
    }
}

fn generate() -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(|e| PkiError::KeyGeneration(e.to_string()))
}

/// Cycles through the PKCS#8 PEM keys it was given, with a fixed clock and serial numbers
/// that count up: the same calls give byte-identical certificates.
#[derive(Debug, Clone)]
pub struct FixedKeys {
    pems: Vec<String>,
    next: usize,
    issued: u64,
    not_before: OffsetDateTime,
}

impl FixedKeys {
    /// `pems` must not be empty; each must be an RSA-2048 private key.
    pub fn new(pems: Vec<String>) -> Self {
        FixedKeys {
            pems,
            next: 0,
            issued: 0,
            not_before: time::macros::datetime!(2024-01-01 00:00:00 UTC),
        }
    }
}

impl KeySource for FixedKeys {
    fn next_key(&mut self) -> Result<KeyPair, PkiError> {
        if self.pems.is_empty() {
            return Err(PkiError::KeyGeneration("FixedKeys holds no keys".into()));
        }
        let pem = &self.pems[self.next % self.pems.len()];
        self.next += 1;
        super::parse::parse_rsa_key(pem, "fixed test key")
    }

    fn serial_for(&mut self, key: &KeyPair) -> SerialNumber {
        self.issued += 1;
        serial_from(&key.subject_public_key_info(), self.issued)
    }

    fn sm_serial(&mut self, spki: &[u8]) -> Vec<u8> {
        self.issued += 1;
        serial_from(spki, self.issued).to_bytes()
    }

    fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }
}

/// 16 bytes of sha256(spki ‖ counter), with the top bit cleared (serials are positive).
fn serial_from(spki: &[u8], counter: u64) -> SerialNumber {
    let mut hasher = Sha256::new();
    hasher.update(spki);
    hasher.update(counter.to_be_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 0x01;
    }
    SerialNumber::from_slice(&bytes)
}
