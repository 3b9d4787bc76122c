//! Sealing secrets kept in a shared backend (the undo sidecar, CA and node keys) with
//! `age`: an X25519 identity (`AGE-SECRET-KEY-1…`, from `age-keygen`) or a passphrase.
//! Pure: the shell reads the identity from the environment or a file.

use std::fmt;

use age::secrecy::{ExposeSecret, SecretString};

/// scrypt work factor for passphrase sealing: 2^16 (64 MiB, a fraction of a second),
/// so a run that seals several keys stays quick; opening accepts up to 2^20.
const PASSPHRASE_LOG_N: u8 = 16;
const PASSPHRASE_MAX_LOG_N: u8 = 20;

/// Where the shell looks for the key, for hints.
pub const IDENTITY_HINT: &str = "set TARSFORM_AGE_IDENTITY_FILE (or `[backend] identity_file`) to an age identity file from `age-keygen`, or TARSFORM_AGE_PASSPHRASE";

/// The key that seals and opens secrets in the backend.
pub enum Custody {
    Identity(age::x25519::Identity),
    Passphrase(SecretString),
}

impl fmt::Debug for Custody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Custody::Identity(id) => write!(f, "Custody::Identity({})", id.to_public()),
            Custody::Passphrase(_) => write!(f, "Custody::Passphrase(***)"),
        }
    }
}

impl PartialEq for Custody {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Custody::Identity(a), Custody::Identity(b)) => {
                a.to_public().to_string() == b.to_public().to_string()
            }
            (Custody::Passphrase(a), Custody::Passphrase(b)) => a.expose_secret() == b.expose_secret(),
            _ => false,
        }
    }
}

impl Eq for Custody {}

/// Why a sealed secret could not be opened (never holds secret bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Sealed for another identity or passphrase.
    WrongKey,
    /// Not an age file, or damaged.
    Damaged(String),
}

impl Custody {
    /// Reads an identity file's text: comment lines (`#`) and blanks are skipped, the
    /// first `AGE-SECRET-KEY-1…` line is used.
    pub fn from_identity_text(text: &str) -> Result<Custody, String> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or("it holds no identity line")?;
        line.parse::<age::x25519::Identity>()
            .map(Custody::Identity)
            .map_err(|_| {
                "it is not an age X25519 identity (`AGE-SECRET-KEY-1…`, from `age-keygen`)".to_string()
            })
    }

    pub fn from_passphrase(passphrase: &str) -> Result<Custody, String> {
        if passphrase.trim().is_empty() {
            return Err("the passphrase is empty".into());
        }
        Ok(Custody::Passphrase(SecretString::from(passphrase.to_string())))
    }

    /// Encrypts `plain` to this identity (or passphrase).
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let sealed = match self {
            Custody::Identity(id) => age::encrypt(&id.to_public(), plain),
            Custody::Passphrase(p) => {
                let mut recipient = age::scrypt::Recipient::new(p.clone());
                recipient.set_work_factor(PASSPHRASE_LOG_N);
                age::encrypt(&recipient, plain)
            }
        };
        sealed.expect("age encryption to a native recipient does not fail")
    }

    /// Decrypts what [`Self::seal`] produced.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let opened = match self {
            Custody::Identity(id) => age::decrypt(id, sealed),
            Custody::Passphrase(p) => {
                let mut identity = age::scrypt::Identity::new(p.clone());
                identity.set_max_work_factor(PASSPHRASE_MAX_LOG_N);
                age::decrypt(&identity, sealed)
            }
        };
        opened.map_err(|e| match e {
            age::DecryptError::NoMatchingKeys
            | age::DecryptError::DecryptionFailed
            | age::DecryptError::KeyDecryptionFailed => OpenError::WrongKey,
            other => OpenError::Damaged(other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &[u8] = b"-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n";

    #[test]
    fn sealed_bytes_are_not_pem_and_open_only_with_the_same_key() {
        let id = age::x25519::Identity::generate();
        let text = format!("# created: now\n{}\n", id.to_string().expose_secret());
        let custody = Custody::from_identity_text(&text).unwrap();
        let sealed = custody.seal(PEM);
        assert!(!sealed.windows(10).any(|w| w == b"-----BEGIN"));
        assert_eq!(custody.open(&sealed).unwrap(), PEM);
        let other = Custody::Identity(age::x25519::Identity::generate());
        assert_eq!(other.open(&sealed), Err(OpenError::WrongKey));
        assert!(matches!(custody.open(b"not age"), Err(OpenError::Damaged(_))));
    }

    #[test]
    fn passphrases_seal_and_a_wrong_one_is_refused() {
        let custody = Custody::from_passphrase("correct horse").unwrap();
        let sealed = custody.seal(PEM);
        assert_eq!(custody.open(&sealed).unwrap(), PEM);
        let wrong = Custody::from_passphrase("battery staple").unwrap();
        assert_eq!(wrong.open(&sealed), Err(OpenError::WrongKey));
        assert!(Custody::from_passphrase("  ").is_err());
        let err = Custody::from_identity_text("# only a comment\n").unwrap_err();
        assert!(err.contains("no identity"), "{err}");
        let err = Custody::from_identity_text("AGE-SECRET-KEY-1NOPE").unwrap_err();
        assert!(err.contains("age-keygen") && !err.contains("NOPE"), "{err}");
    }
}
