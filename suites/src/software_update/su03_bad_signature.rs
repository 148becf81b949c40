use hilt_image::Image;
use sha2::{Digest, Sha256};

use super::forgery::{meta, ForgedSpec};

pub(super) static BAD_SIGNATURE: ForgedSpec = ForgedSpec {
    meta: meta(
        "bad_signature",
        "SU-03",
        "Image with an invalid signature is rejected",
        &["5.3-10"],
        &["5.3-10-2"],
    ),
    make: bad_signature,
};

fn bad_signature(golden: &[u8]) -> Result<Vec<u8>, String> {
    // The golden image with its payload changed and the hash TLV fixed to
    // match: only the (genuine) signature no longer fits.
    let image = Image::parse(golden).map_err(|e| format!("golden image: {e}"))?;
    let mut bytes = golden.to_vec();
    let at = image.payload.end.checked_sub(1).ok_or("empty payload")?;
    bytes[at] ^= 0x5a;
    let digest = Sha256::digest(&bytes[image.hashed_range()]);
    let hash_tlv = image
        .tlvs()
        .find(|t| t.kind == hilt_image::tlv::SHA256)
        .ok_or("golden image has no SHA256 TLV")?;
    bytes[hash_tlv.data_range()].copy_from_slice(&digest);
    Ok(bytes)
}
