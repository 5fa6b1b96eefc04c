//! Minimal lowercase hex encoding, used for signatures in human-readable formats and for the
//! binary fields of the keystore file.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Why a hex string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HexError {
    /// A character outside `0-9a-fA-F`.
    #[error("invalid hex character at index {index}")]
    InvalidChar { index: usize },
    /// The string does not encode exactly the expected number of bytes.
    #[error("expected {expected} hex-encoded bytes, got {actual} characters")]
    WrongLength { expected: usize, actual: usize },
}

/// Encodes `bytes` as lowercase hex.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes exactly `N` bytes from a hex string (either case).
pub(crate) fn decode_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let raw = s.as_bytes();
    if raw.len() != N * 2 {
        return Err(HexError::WrongLength {
            expected: N,
            actual: raw.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in raw.chunks_exact(2).enumerate() {
        let hi = nibble(pair[0]).ok_or(HexError::InvalidChar { index: 2 * i })?;
        let lo = nibble(pair[1]).ok_or(HexError::InvalidChar { index: 2 * i + 1 })?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vector() {
        assert_eq!(encode(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(decode_array::<4>("000FA5ff"), Ok([0x00, 0x0f, 0xa5, 0xff]));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            decode_array::<2>("abc"),
            Err(HexError::WrongLength {
                expected: 2,
                actual: 3
            })
        );
        assert_eq!(
            decode_array::<2>("ab0g"),
            Err(HexError::InvalidChar { index: 3 })
        );
        // A multi-byte UTF-8 character is never a hex digit, whatever its byte length.
        assert!(decode_array::<2>("éé").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::array::uniform16(any::<u8>())) {
            prop_assert_eq!(decode_array::<16>(&encode(&bytes)), Ok(bytes));
        }
    }
}
