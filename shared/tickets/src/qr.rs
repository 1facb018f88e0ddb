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

/// The code as an SVG QR code (see the module docs).
pub fn svg(code: &str) -> Result<String, QrError> {
    Ok(QrMatrix::encode(code)?.to_svg())
}
