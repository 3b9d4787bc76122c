//! The key files' encryption of FISCO BCOS storage security (bcos-security
//! `BcosKmsKeyEncryption` and `BcosKms::uniformDataKey`): the key center's `dataKey` (hex)
//! becomes a symmetric key — AES-256 with keccak256(dataKey), or SM4 with the first 16
//! bytes of sm3(dataKey) when `sm_crypto` is on — and a key file is stored as
//! hex(CBC-PKCS#7(base64(file text))) with the key's first 16 bytes as IV. Pure.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha3::{Digest, Keccak256};

use crate::secret::Secret;

/// AES (RSA chains) or SM4 (`sm_crypto = true`), as the node picks from its config.ini.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Aes256,
    Sm4,
}

impl Algorithm {
    pub fn of(sm_crypto: bool) -> Self {
        if sm_crypto {
            Algorithm::Sm4
        } else {
            Algorithm::Aes256
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Aes256 => "AES-256-CBC",
            Algorithm::Sm4 => "SM4-CBC",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("the key center's data key is not hex")]
    DataKeyNotHex,
    #[error("the encrypted file is not hex")]
    NotHex,
    #[error("the encrypted file does not decrypt with this data key ({0})")]
    Decrypt(&'static str),
}

/// The symmetric key (and IV source) the node derives from the hex `data_key`.
fn uniform_key(data_key: &Secret, algorithm: Algorithm) -> Result<Vec<u8>, CipherError> {
    let readable = hex::decode(data_key.expose().trim()).map_err(|_| CipherError::DataKeyNotHex)?;
    Ok(match algorithm {
        Algorithm::Aes256 => Keccak256::digest(&readable).to_vec(),
        Algorithm::Sm4 => sm3::Sm3::digest(&readable)[..16].to_vec(),
    })
}

/// Raw CBC-PKCS#7 encryption with `key`, IV = its first 16 bytes. `key` must be 32
/// bytes (AES-256) or 16 (SM4).
pub fn encrypt_bytes(plain: &[u8], key: &[u8], algorithm: Algorithm) -> Vec<u8> {
    let iv = &key[..16.min(key.len())];
    let out = match algorithm {
        Algorithm::Aes256 => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map(|c| c.encrypt_padded_vec::<Pkcs7>(plain)),
        Algorithm::Sm4 => {
            cbc::Encryptor::<sm4::Sm4>::new_from_slices(key, iv).map(|c| c.encrypt_padded_vec::<Pkcs7>(plain))
        }
    };
    out.unwrap_or_default()
}

/// Raw CBC-PKCS#7 decryption, the inverse of [`encrypt_bytes`].
pub fn decrypt_bytes(cipher: &[u8], key: &[u8], algorithm: Algorithm) -> Result<Vec<u8>, CipherError> {
    let iv = &key[..16.min(key.len())];
    let bad_key = |_| CipherError::Decrypt("bad key length");
    let bad = |_| CipherError::Decrypt("bad padding");
    match algorithm {
        Algorithm::Aes256 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(bad_key)?
            .decrypt_padded_vec::<Pkcs7>(cipher)
            .map_err(bad),
        Algorithm::Sm4 => cbc::Decryptor::<sm4::Sm4>::new_from_slices(key, iv)
            .map_err(bad_key)?
            .decrypt_padded_vec::<Pkcs7>(cipher)
            .map_err(bad),
    }
}

/// What the node stores for a key file: hex of the encrypted base64 text.
pub fn encrypt_file(text: &str, data_key: &Secret, algorithm: Algorithm) -> Result<String, CipherError> {
    let key = uniform_key(data_key, algorithm)?;
    let b64 = STANDARD.encode(text.as_bytes());
    Ok(hex::encode(encrypt_bytes(b64.as_bytes(), &key, algorithm)))
}

/// The node's decryption of a stored key file: the original text.
pub fn decrypt_file(hex_text: &str, data_key: &Secret, algorithm: Algorithm) -> Result<Secret, CipherError> {
    let key = uniform_key(data_key, algorithm)?;
    let cipher = hex::decode(hex_text.trim()).map_err(|_| CipherError::NotHex)?;
    let b64 = decrypt_bytes(&cipher, &key, algorithm)?;
    let plain = STANDARD
        .decode(&b64)
        .map_err(|_| CipherError::Decrypt("not base64 inside"))?;
    String::from_utf8(plain)
        .map(Secret::new)
        .map_err(|_| CipherError::Decrypt("not text inside"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";

    #[test]
    fn files_round_trip_with_both_algorithms_and_fail_with_the_other() {
        let data_key = Secret::new("313233343536");
        for alg in [Algorithm::Aes256, Algorithm::Sm4] {
            let enc = encrypt_file(KEY, &data_key, alg).unwrap();
            assert!(enc.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(!enc.contains("PRIVATE"));
            assert_eq!(decrypt_file(&enc, &data_key, alg).unwrap().expose(), KEY);
            let other = if alg == Algorithm::Sm4 {
                Algorithm::Aes256
            } else {
                Algorithm::Sm4
            };
            assert!(
                decrypt_file(&enc, &data_key, other)
                    .map(|s| s.expose() != KEY)
                    .unwrap_or(true)
            );
            let wrong = Secret::new("313233343537");
            assert!(
                decrypt_file(&enc, &wrong, alg)
                    .map(|s| s.expose() != KEY)
                    .unwrap_or(true)
            );
        }
    }

    #[test]
    fn the_uniform_keys_follow_bcos_kms() {
        // keccak256("") and the first half of sm3("") (known vectors) for an empty data key.
        let aes = uniform_key(&Secret::new(""), Algorithm::Aes256).unwrap();
        assert_eq!(
            hex::encode(aes),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        let sm4 = uniform_key(&Secret::new(""), Algorithm::Sm4).unwrap();
        assert_eq!(hex::encode(sm4), "1ab21d8355cfa17f8e61194831e81a8f");
        assert_eq!(
            uniform_key(&Secret::new("zz"), Algorithm::Sm4),
            Err(CipherError::DataKeyNotHex)
        );
    }
}
