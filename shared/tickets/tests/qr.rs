//! The QR SVG is well-formed XML that scales, and its drawing decodes back to
//! the ticket code.
#![allow(clippy::unwrap_used)]

use tg_tickets::code::{CODE_LEN, EventKey, TicketClaims};
use tg_tickets::qr::{self, QUIET_ZONE, QrMatrix};
use uuid::Uuid;

fn a_code() -> String {
    EventKey::generate().unwrap().sign(&TicketClaims {
        ticket_id: Uuid::now_v7(),
        event_id: Uuid::now_v7(),
        ticket_type_id: Uuid::now_v7(),
    })
}

/// Decodes a module grid (without quiet zone) with an independent decoder.
fn decode(width: usize, dark: impl Fn(usize, usize) -> bool) -> (rqrr::MetaData, String) {
    let grid = rqrr::SimpleGrid::from_func(width, dark);
    rqrr::Grid::new(grid).decode().unwrap()
}

/// Reads the dark modules back out of the SVG path (`M x y h len v1 h-len z`
/// per run), in module units including the quiet zone.
fn modules_from_path(d: &str, n: usize) -> Vec<bool> {
    let mut grid = vec![false; n * n];
    for seg in d.split('M').filter(|s| !s.is_empty()) {
        let (xy, rest) = seg.split_once('h').unwrap();
        let (x, y) = xy.split_once(' ').unwrap();
        let (len, tail) = rest.split_once('v').unwrap();
        let len: usize = len.parse().unwrap();
        let lenr = format!("1h-{len}z");
        assert_eq!(tail, lenr, "unexpected segment {seg:?}");
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        for dx in 0..len {
            assert!(x + dx < n && y < n);
            grid[y * n + x + dx] = true;
        }
    }
    grid
}

#[test]
fn svg_is_well_formed_and_decodes_to_the_code() {
    let code = a_code();
    assert_eq!(code.len(), CODE_LEN);
    let svg = qr::svg(&code).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.len() < 16 * 1024, "{} bytes", svg.len());

    let doc = roxmltree::Document::parse(&svg).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    // Scales: a viewBox in module units and no fixed size.
    let matrix = QrMatrix::encode(&code).unwrap();
    let n = matrix.width_with_quiet_zone();
    assert_eq!(
        root.attribute("viewBox"),
        Some(format!("0 0 {n} {n}").as_str())
    );
    assert_eq!(root.attribute("width"), None);
    assert_eq!(root.attribute("height"), None);

    let children: Vec<_> = root.children().filter(|c| c.is_element()).collect();
    assert_eq!(children.len(), 2);
    let background = children[0];
    assert_eq!(background.tag_name().name(), "rect");
    assert_eq!(background.attribute("fill"), Some("#fff"));
    assert_eq!(background.attribute("width"), Some(n.to_string().as_str()));
    let path = children[1];
    assert_eq!(path.tag_name().name(), "path");
    assert_eq!(path.attribute("fill"), Some("#000"));

    // The drawing, read back from the SVG, is the encoder's matrix with a
    // clear quiet zone, and an independent decoder reads the code from it.
    let drawn = modules_from_path(path.attribute("d").unwrap(), n);
    for y in 0..n {
        for x in 0..n {
            let inside = (QUIET_ZONE..QUIET_ZONE + matrix.width()).contains(&x)
                && (QUIET_ZONE..QUIET_ZONE + matrix.width()).contains(&y);
            let expected = inside && matrix.is_dark(x - QUIET_ZONE, y - QUIET_ZONE);
            assert_eq!(drawn[y * n + x], expected, "module ({x}, {y})");
        }
    }
    let (meta, text) = decode(matrix.width(), |x, y| {
        drawn[(y + QUIET_ZONE) * n + x + QUIET_ZONE]
    });
    assert_eq!(text, code);
    assert_eq!(meta.version.0, usize::try_from(matrix.version()).unwrap());
    // Format bits 00 are error correction level M.
    assert_eq!(meta.ecc_level, 0);
}

#[test]
fn matrix_size_follows_the_version() {
    let code = a_code();
    let m = QrMatrix::encode(&code).unwrap();
    // 155 bytes at level M: version 9, 53 x 53 modules.
    assert_eq!(m.version(), 9);
    assert_eq!(m.width(), 53);
    assert_eq!(m.width_with_quiet_zone(), 61);
    for data in ["x", "TG1.short", &"a".repeat(500)] {
        let m = QrMatrix::encode(data).unwrap();
        assert_eq!(m.width(), 17 + 4 * usize::try_from(m.version()).unwrap());
        let (_, text) = decode(m.width(), |x, y| m.is_dark(x, y));
        assert_eq!(text, data);
        // Runs cover exactly the dark modules.
        let dark = (0..m.width())
            .flat_map(|y| (0..m.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| m.is_dark(x, y))
            .count();
        assert_eq!(m.dark_runs().iter().map(|r| r.len).sum::<usize>(), dark);
    }
    assert!(!m.is_dark(m.width(), 0));
    assert!(qr::svg(&"x".repeat(5000)).is_err());
}
