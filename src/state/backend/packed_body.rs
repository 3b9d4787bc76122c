//! How the MySQL backend stores a state body: gzip-compressed JSON (schema 2), a tenth
//! of the bytes each save and history row would otherwise carry. Schema-1 rows hold the
//! JSON as is; both are read.

use std::borrow::Cow;
use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// The gzip magic bytes; a JSON body starts with `{`.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The largest state a stored body may expand to (a hostile row cannot fill memory).
pub const MAX_UNPACKED: u64 = 1 << 30;

/// The stored form of a state's JSON.
pub fn pack(json: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 8), Compression::fast());
    encoder
        .write_all(json)
        .and_then(|()| encoder.finish())
        .expect("gzip into memory does not fail")
}

/// The JSON of a stored body, compressed or not.
pub fn unpack(stored: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if !stored.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(stored));
    }
    let mut json = Vec::new();
    GzDecoder::new(stored)
        .take(MAX_UNPACKED + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("the stored state is not valid gzip ({e})"))?;
    if json.len() as u64 > MAX_UNPACKED {
        return Err(format!(
            "the stored state expands beyond {} GiB",
            MAX_UNPACKED >> 30
        ));
    }
    Ok(Cow::Owned(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_body_unpacks_to_its_json_and_plain_json_reads_as_is() {
        let json = br#"{"lineage":"l","serial":3,"resources":{}}"#.repeat(50);
        let packed = pack(&json);
        assert!(
            packed.len() < json.len() / 4,
            "{} of {}",
            packed.len(),
            json.len()
        );
        assert_eq!(unpack(&packed).unwrap().as_ref(), json.as_slice());
        assert_eq!(unpack(&json).unwrap().as_ref(), json.as_slice());
    }

    #[test]
    fn a_torn_body_is_an_error_not_a_panic() {
        let packed = pack(br#"{"serial":1}"#);
        let err = unpack(&packed[..packed.len() - 6]).unwrap_err();
        assert!(err.contains("not valid gzip"), "{err}");
    }
}
