//! The fixed encodings of a secret a device could print: hex and base64.
//! (Encodings that vary from one encoder to the next, such as URL or JSON
//! escaping, are decoded from the data instead: see `views`.)

/// Hex of the whole secret, lower and upper case.
pub(super) fn hex_forms(secret: &[u8]) -> [Vec<u8>; 2] {
    let lower = hex::encode(secret).into_bytes();
    let upper = lower.to_ascii_uppercase();
    [lower, upper]
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The base64 characters determined by `secret` alone when it starts at
/// byte offset 0, 1 or 2 of a base64 group (the characters around it also
/// depend on its neighbours), in the standard and the URL-safe alphabet.
/// Cores shorter than 4 characters are skipped: they would mask ordinary
/// text.
pub(super) fn base64_cores(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut cores = Vec::new();
    for alphabet in [STANDARD, URL_SAFE] {
        for offset in 0..3usize {
            if let Some(core) = base64_core(secret, offset, alphabet) {
                if !cores.contains(&core) {
                    cores.push(core);
                }
            }
        }
    }
    cores
}

fn base64_core(secret: &[u8], offset: usize, alphabet: &[u8; 64]) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; offset];
    bytes.extend_from_slice(secret);
    // Plain base64 without padding: one character per 6 bits.
    let bits = bytes.len() * 8;
    let chars: Vec<u8> = (0..bits / 6)
        .map(|i| {
            let bit = i * 6;
            let (byte, shift) = (bit / 8, bit % 8);
            let word =
                (u16::from(bytes[byte]) << 8) | u16::from(*bytes.get(byte + 1).unwrap_or(&0));
            alphabet[usize::from((word >> (10 - shift)) & 0x3f)]
        })
        .collect();
    let first = (offset * 8).div_ceil(6);
    let last = (offset + secret.len()) * 8 / 6;
    (last > first && last - first >= 4).then(|| chars[first..last].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn every_alignment_has_a_core_inside_the_encoding() {
        let secret = b"s3cret!";
        let cores = base64_cores(secret);
        for prefix in ["", "a", "ab", "user:", "root:x"] {
            let mut plain = prefix.as_bytes().to_vec();
            plain.extend_from_slice(secret);
            for engine in [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE,
            ] {
                let encoded = engine.encode(&plain);
                assert!(
                    cores
                        .iter()
                        .any(|c| encoded.as_bytes().windows(c.len()).any(|w| w == c)),
                    "prefix {prefix:?}: {encoded}"
                );
            }
        }
    }

    #[test]
    fn hex_in_both_cases() {
        assert_eq!(hex_forms(b"a\"")[0], b"6122");
        assert_eq!(hex_forms(b"\xab")[1], b"AB");
    }
}
