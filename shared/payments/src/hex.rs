//! Lower-case hex, for signatures (the workspace has no hex crate).

pub(crate) fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes exactly `N` bytes from `2 * N` hex digits (either case).
pub(crate) fn decode_exact<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = [0x00, 0x01, 0x7f, 0x80, 0xab, 0xff];
        let s = encode(&bytes);
        assert_eq!(s, "00017f80abff");
        assert_eq!(decode_exact::<6>(&s), Some(bytes));
        assert_eq!(decode_exact::<6>("00017F80ABFF"), Some(bytes));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode_exact::<2>("abc"), None);
        assert_eq!(decode_exact::<2>("abcdef"), None);
        assert_eq!(decode_exact::<2>("abcg"), None);
        assert_eq!(decode_exact::<2>("+bcd"), None);
        assert_eq!(decode_exact::<1>("é"), None);
    }
}
