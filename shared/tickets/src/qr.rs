//! The QR code of a ticket: the module matrix (from the `qrcode` crate) and
//! an SVG drawn from it.
//!
//! Error correction level M (15 % of the symbol can be lost): a 155-character
//! ticket code becomes a version 9 symbol, 53 x 53 modules, plus the 4-module
//! quiet zone on every side. The SVG works in module units (`viewBox` 0 0 61
//! 61 for that symbol) with no fixed size, so it scales to whatever box it is
//! put in; dark modules are merged into horizontal runs, one path for all.

use qrcode::{Color, EcLevel, QrCode, Version};
use std::fmt::Write as _;

/// Light modules around the symbol, on every side (the standard's minimum).
pub const QUIET_ZONE: usize = 4;

const EC_LEVEL: EcLevel = EcLevel::M;

/// The data cannot be put in a QR code (in practice: longer than about
/// 2,300 bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode as a QR code: {0}")]
pub struct QrError(String);

/// A QR symbol's modules, row by row, without the quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    width: usize,
    version: i16,
    dark: Vec<bool>,
}

/// `len` dark modules in a row starting at (`x`, `y`), in module units from
/// the symbol's top left corner (quiet zone not included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub x: usize,
    pub y: usize,
    pub len: usize,
}

impl QrMatrix {
    /// Encodes `data` (byte mode where needed) at error correction level M in
    /// the smallest version that holds it.
    pub fn encode(data: &str) -> Result<Self, QrError> {
        let code = QrCode::with_error_correction_level(data.as_bytes(), EC_LEVEL)
            .map_err(|e| QrError(e.to_string()))?;
        let version = match code.version() {
            Version::Normal(v) => v,
            Version::Micro(_) => return Err(QrError("unexpected Micro QR symbol".into())),
        };
        let width = code.width();
        let dark: Vec<bool> = code
            .into_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        if dark.len() != width * width {
            return Err(QrError("inconsistent module matrix".into()));
        }
        Ok(QrMatrix {
            width,
            version,
            dark,
        })
    }

    /// Modules per side, without the quiet zone (17 + 4 x version).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Modules per side including the quiet zone.
    pub fn width_with_quiet_zone(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// The QR version (1 to 40).
    pub fn version(&self) -> i16 {
        self.version
    }

    /// Whether the module at column `x`, row `y` is dark; anything outside
    /// the symbol is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// The dark modules as horizontal runs, row by row.
    pub fn dark_runs(&self) -> Vec<Run> {
        let mut runs = Vec::new();
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < self.width && self.is_dark(x, y) {
                        x += 1;
                    }
                    runs.push(Run {
                        x: start,
                        y,
                        len: x - start,
                    });
                } else {
                    x += 1;
                }
            }
        }
        runs
    }

    /// A standalone SVG document (also fine inline in HTML): a white square
    /// with the quiet zone and one black path, in module units.
    pub fn to_svg(&self) -> String {
        let n = self.width_with_quiet_zone();
        let runs = self.dark_runs();
        let mut out = String::with_capacity(300 + runs.len() * 16);
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            concat!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 {n} {n}""#,
                r#" shape-rendering="crispEdges" role="img" aria-label="Ticket QR code">"#,
                r##"<rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d=""##,
            ),
            n = n
        );
        for r in runs {
            let _ = write!(
                out,
                "M{} {}h{}v1h-{}z",
                r.x + QUIET_ZONE,
                r.y + QUIET_ZONE,
                r.len,
                r.len
            );
        }
        out.push_str("\"/></svg>");
        out
    }
}

impl QrMatrix {
    /// A 1-bit grayscale PNG, `scale` pixels per module, quiet zone
    /// included: what email clients show inline (most do not render SVG).
    /// The image data is stored uncompressed (zlib "stored" blocks): a
    /// 61-module symbol at 4 px is about 8 KiB.
    pub fn to_png(&self, scale: usize) -> Vec<u8> {
        let scale = scale.clamp(1, 32);
        let side = self.width_with_quiet_zone() * scale;
        let row_bytes = side.div_ceil(8);
        let mut raw = Vec::with_capacity((row_bytes + 1) * side);
        for py in 0..side {
            raw.push(0); // filter: none
            let my = py / scale;
            let mut byte = 0u8;
            for px in 0..side {
                let mx = px / scale;
                let dark = mx >= QUIET_ZONE
                    && my >= QUIET_ZONE
                    && mx - QUIET_ZONE < self.width
                    && my - QUIET_ZONE < self.width
                    && self.is_dark(mx - QUIET_ZONE, my - QUIET_ZONE);
                // 1 bit per pixel, 1 = white.
                if !dark {
                    byte |= 0x80 >> (px % 8);
                }
                if px % 8 == 7 || px == side - 1 {
                    raw.push(byte);
                    byte = 0;
                }
            }
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend_from_slice(&(side as u32).to_be_bytes());
        ihdr.extend_from_slice(&(side as u32).to_be_bytes());
        ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // depth 1, grayscale
        png_chunk(&mut png, b"IHDR", &ihdr);
        png_chunk(&mut png, b"IDAT", &zlib_stored(&raw));
        png_chunk(&mut png, b"IEND", &[]);
        png
    }
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    let last = chunks.len() - 1;
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i == last));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// The code as a PNG QR code, `scale` pixels per module.
pub fn png(code: &str, scale: usize) -> Result<Vec<u8>, QrError> {
    Ok(QrMatrix::encode(code)?.to_png(scale))
}

/// The code as an SVG QR code (see the module docs).
pub fn svg(code: &str) -> Result<String, QrError> {
    Ok(QrMatrix::encode(code)?.to_svg())
}
