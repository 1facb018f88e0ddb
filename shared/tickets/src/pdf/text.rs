//! Text for the standard Type 1 fonts: WinAnsiEncoding (Windows-1252) bytes,
//! widths, truncation and wrapping.
//!
//! Widths are the AFM advance widths of Helvetica and Helvetica-Bold (the
//! larger of the two per glyph, so one table serves both and text measured
//! with it never overflows), in thousandths of the font size. Courier is
//! monospaced at 600.

/// The fonts the ticket uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Font {
    /// Helvetica.
    Regular,
    /// Helvetica-Bold.
    Bold,
    /// Courier.
    Mono,
}

/// Horizontal ellipsis in WinAnsiEncoding.
const ELLIPSIS: u8 = 0x85;
const REPLACEMENT: u8 = b'?';

/// Helvetica / Helvetica-Bold widths for 0x20..=0x7E (max of the two).
const ASCII_WIDTHS: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584,
    611, // '0'..'?'
    1015, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722,
    778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584,
    556, // 'P'..'_'
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611,
    611, // '`'..'o'
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // 'p'..'~'
];

/// Width of one WinAnsi byte in Helvetica (either weight), 1/1000 em.
/// Letters with diacritics take their base letter's width; other symbols
/// above 0x7F count as a full em (an upper bound).
fn helvetica_width(b: u8) -> u16 {
    match b {
        0x20..=0x7E => ASCII_WIDTHS[usize::from(b - 0x20)],
        0xA0 => 278,
        0xC0..=0xC5 | 0xC7 | 0xD0 | 0xD1 | 0xD9..=0xDC => 722,
        0xC8..=0xCB | 0xDD | 0xDE | 0x8A | 0x9F => 667,
        0xCC..=0xCF => 278,
        0xD2..=0xD6 | 0xD8 => 778,
        0xD7 | 0xF7 => 584,
        0xDF | 0xF0 | 0xF1..=0xF6 | 0xF8..=0xFC | 0xFE | 0x8E => 611,
        0xE0..=0xE5 | 0xE7..=0xEB | 0xFD | 0xFF | 0x80 | 0x96 | 0x9A => 556,
        0xE6 => 889,
        0xEC..=0xEF => 278,
        0x9E => 500,
        0xB7 => 278,
        _ => 1000,
    }
}

fn byte_width(b: u8, font: Font) -> u16 {
    match font {
        Font::Regular | Font::Bold => helvetica_width(b),
        Font::Mono => 600,
    }
}

/// Width of `text` at `size` points, with a 3 % allowance for rounding.
pub(crate) fn width(text: &[u8], font: Font, size: f32) -> f32 {
    let units: u32 = text.iter().map(|&b| u32::from(byte_width(b, font))).sum();
    // Glyph widths are at most 1015 and text is capped, so this is exact in f32.
    units as f32 * size / 1000.0 * 1.03
}

/// The WinAnsiEncoding byte for `c`, if the encoding has it.
fn winansi(c: char) -> Option<u8> {
    let b = match c {
        ' '..='~' | '\u{A0}'..='\u{FF}' => return u8::try_from(u32::from(c)).ok(),
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '\u{2018}' => 0x91,
        '\u{2019}' => 0x92,
        '\u{201C}' => 0x93,
        '\u{201D}' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    };
    Some(b)
}

/// Characters that draw nothing: combining accents (their base letter is
/// kept), soft hyphen, zero-width and bidi controls, variation selectors.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{00AD}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}')
}

/// `s` as one line of WinAnsi bytes: at most `max_chars` characters are
/// read, whitespace and control characters become single spaces (trimmed at
/// both ends), invisible characters are dropped and anything the encoding
/// lacks becomes `?`.
pub(crate) fn encode(s: &str, max_chars: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().min(max_chars));
    let mut pending_space = false;
    for c in s.chars().take(max_chars) {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if invisible(c) {
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(winansi(c).unwrap_or(REPLACEMENT));
    }
    out
}

/// `text` cut to fit `max_width`, ending in an ellipsis when cut.
pub(crate) fn fit(text: &[u8], font: Font, size: f32, max_width: f32) -> Vec<u8> {
    if width(text, font, size) <= max_width {
        return text.to_vec();
    }
    with_ellipsis(text, font, size, max_width)
}

/// The longest prefix of `text` that fits `max_width` with an ellipsis
/// after it (trailing spaces dropped), plus the ellipsis.
fn with_ellipsis(text: &[u8], font: Font, size: f32, max_width: f32) -> Vec<u8> {
    let mut keep = text.len();
    loop {
        while keep > 0 && text[keep - 1] == b' ' {
            keep -= 1;
        }
        let mut out = Vec::with_capacity(keep + 1);
        out.extend_from_slice(&text[..keep]);
        out.push(ELLIPSIS);
        if keep == 0 || width(&out, font, size) <= max_width {
            return out;
        }
        keep -= 1;
    }
}

/// The longest prefix of `word` (at least one byte) that fits.
fn split_fitting(word: &[u8], font: Font, size: f32, max_width: f32) -> usize {
    let mut n = word.len();
    while n > 1 && width(&word[..n], font, size) > max_width {
        n -= 1;
    }
    n
}

/// `text` wrapped at spaces into at most `max_lines` lines of `max_width`;
/// a word wider than a line is broken; what does not fit ends the last line
/// with an ellipsis.
pub(crate) fn wrap(
    text: &[u8],
    font: Font,
    size: f32,
    max_width: f32,
    max_lines: usize,
) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for word in text.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        let mut word = word;
        loop {
            let mut candidate = line.clone();
            if !candidate.is_empty() {
                candidate.push(b' ');
            }
            candidate.extend_from_slice(word);
            if width(&candidate, font, size) <= max_width {
                line = candidate;
                break;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            let n = split_fitting(word, font, size, max_width);
            lines.push(word[..n].to_vec());
            word = &word[n..];
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    if lines.len() > max_lines && max_lines > 0 {
        // The last line keeps what fits of the rest and an ellipsis.
        let rest = lines.split_off(max_lines - 1).join(&b' ');
        lines.push(with_ellipsis(&rest, font, size, max_width));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_latin1_and_cp1252_and_replaces_the_rest() {
        assert_eq!(encode("Zoë  Müller\n", 100), b"Zo\xEB M\xFCller");
        assert_eq!(encode("€ 12 – “VIP”", 100), b"\x80 12 \x96 \x93VIP\x94");
        assert_eq!(encode("山田 太郎", 100), b"?? ??");
        // Decomposed accent: the base letter stays, the combining mark goes.
        assert_eq!(encode("Jose\u{301}", 100), b"Jose");
        assert_eq!(encode("a\u{200B}b\u{202E}c", 100), b"abc");
        assert_eq!(encode("  \t x \u{0} y  ", 100), b"x y");
        assert_eq!(encode("abcdef", 3), b"abc");
    }

    #[test]
    fn fit_truncates_with_ellipsis() {
        let long = [b'W'; 200];
        let out = fit(&long, Font::Bold, 12.0, 100.0);
        assert_eq!(out.last(), Some(&ELLIPSIS));
        assert!(width(&out, Font::Bold, 12.0) <= 100.0);
        assert_eq!(fit(b"short", Font::Regular, 10.0, 100.0), b"short");
    }

    #[test]
    fn wrap_breaks_words_and_limits_lines() {
        let lines = wrap(b"The Quick Brown Fox Jumps", Font::Bold, 15.0, 120.0, 2);
        assert_eq!(lines.len(), 2);
        for l in &lines {
            assert!(width(l, Font::Bold, 15.0) <= 120.0, "{l:?}");
        }
        assert_eq!(lines[1].last(), Some(&ELLIPSIS));

        let lines = wrap(&[b'M'; 60], Font::Bold, 15.0, 120.0, 3);
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| width(l, Font::Bold, 15.0) <= 120.0));

        assert_eq!(
            wrap(b"Two words", Font::Bold, 15.0, 250.0, 2),
            vec![b"Two words".to_vec()]
        );
        assert!(wrap(b"", Font::Bold, 15.0, 250.0, 2).is_empty());
    }
}
