//! sha256 digests used in plans and state.

use std::io::Write;

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    lower_hex(&Sha256::digest(bytes))
}

/// `hex::encode`, by table: digests are made by the ten thousand in a large plan.
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    text
}

/// Digest of a serializable value's canonical JSON (maps are BTreeMaps, so stable).
pub fn json_sha256<T: serde::Serialize>(value: &T) -> String {
    let mut hasher = Sha256::new();
    // serde_json writes a few bytes at a time: hashed in blocks instead.
    let mut writer = std::io::BufWriter::with_capacity(1 << 16, HashWriter(&mut hasher));
    serde_json::to_writer(&mut writer, value).expect("plan inputs serialize");
    writer.flush().expect("hashing never fails");
    drop(writer);
    lower_hex(&hasher.finalize())
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Digest of a PEM text, insensitive to line endings and surrounding blank space, so the
/// `ca.crt` Tars serves compares equal to the local file.
pub fn pem_sha256(pem: &str) -> String {
    let pem = pem.trim();
    // Already normalized (ASCII, no blank space or `\r` at line ends, no empty line):
    // hashed as it is.
    let ends_blank = |(at, _): (usize, &str)| pem.as_bytes()[at - 1].is_ascii_whitespace();
    if pem.is_ascii() && !pem.match_indices('\n').any(ends_blank) {
        return sha256_hex(pem.as_bytes());
    }
    let mut hasher = Sha256::new();
    for (i, line) in pem.lines().enumerate() {
        if i > 0 {
            hasher.update(b"\n");
        }
        hasher.update(line.trim_end().as_bytes());
    }
    lower_hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_digest_ignores_line_endings_and_trailing_space() {
        let a = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n";
        let b = "-----BEGIN CERTIFICATE-----\r\nabc\r\n-----END CERTIFICATE-----";
        assert_eq!(pem_sha256(a), pem_sha256(b));
        assert_ne!(pem_sha256(a), pem_sha256("other"));
        for odd in ["x \ny", "x\n\ny\n", "x\t\r\ny", " x\ny\n\n"] {
            let joined: Vec<&str> = odd.trim().lines().map(str::trim_end).collect();
            assert_eq!(
                pem_sha256(odd),
                sha256_hex(joined.join("\n").as_bytes()),
                "{odd:?}"
            );
        }
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
