//! Certificates for rpc and gateway nodes: the chain-level CA per service type and the
//! `ssl`/`sdk` leaves it signs, compatible with BcosBuilder's `generate_cert.sh` (RSA-2048,
//! SHA-256, 36500 days; CA `basicConstraints CA:TRUE`, leaves `CA:FALSE`), and in SM mode
//! the SM2/SM3 CA with its `sm_ssl`/`sm_enssl` (and `sm_sdk`/`sm_ensdk`) leaves ([`sm2`]).
//!
//! Pure: PEM text in, PEM text out. Keys, serial numbers and the validity start come from
//! an injected [`KeySource`] so tests are fast and deterministic. No filesystem
//! (`crate::workspace` stores the files). Private keys are only ever held in
//! [`Secret`](crate::secret::Secret) or `rcgen::KeyPair`, neither of which prints them.

mod ca;
mod cnf;
mod keys;
mod leaf;
mod parse;
pub mod sm2;

pub use ca::{Ca, CaMaterial, load_ca, new_ca, new_ca_for};
pub use cnf::cert_cnf;
pub use keys::{FixedKeys, KeySource, SystemKeys};
pub use leaf::{LeafMaterial, issue_leaf, verify_leaf};
pub use parse::cert_digest;

/// Validity of every certificate, as BcosBuilder's `-days 36500`.
pub const VALIDITY_DAYS: i64 = 36500;

/// RSA modulus size of every key.
pub const RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate an RSA-2048 key: {0}")]
    KeyGeneration(String),
    #[error(
        "{what} is not a usable private key ({reason})\nhint: give an unencrypted key in PEM: RSA (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`), or SM2 (`BEGIN PRIVATE KEY` or `BEGIN EC PRIVATE KEY`) when `*_sm_ssl = true`"
    )]
    BadKey { what: String, reason: String },
    #[error("{what} is not a PEM certificate ({reason})")]
    BadCert { what: String, reason: String },
    #[error(
        "{what} has the wrong key type (found {found})\nhint: RSA-{RSA_BITS} when `rpc_sm_ssl`/`gateway_sm_ssl` is false, SM2 when it is true"
    )]
    WrongKeyType { what: String, found: String },
    #[error(
        "{key} does not belong to {cert}\nhint: restore the matching pair, or remove both files to create new ones"
    )]
    KeyMismatch { key: String, cert: String },
    #[error(
        "{what} is not signed by this CA\nhint: remove the leaf's .crt and .key to issue new ones from the current CA"
    )]
    NotSignedByCa { what: String },
    #[error(
        "the `{purpose}` certificate cannot be signed by {ca} CA\nhint: `rpc_sm_ssl`/`gateway_sm_ssl` must match the CA files at the CA path (`sm_ca.*` for SM, `ca.*` for RSA)"
    )]
    ModeMismatch { purpose: String, ca: &'static str },
    #[error(
        "unknown certificate purpose `{0}` (expected `ssl`, `sdk`, `sm_ssl`, `sm_enssl`, `sm_sdk` or `sm_ensdk`)"
    )]
    UnknownPurpose(String),
    #[error("cannot sign the {what} certificate: {reason}")]
    Sign { what: String, reason: String },
}

#[cfg(test)]
mod tests;
