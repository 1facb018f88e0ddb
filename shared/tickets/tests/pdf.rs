//! The PDF ticket: a complete small file whose (uncompressed) page content
//! shows the event and holder, escapes and limits text, and draws a QR code
//! that decodes to the ticket code.
#![allow(clippy::unwrap_used)]

use tg_tickets::code::{EventKey, TicketClaims};
use tg_tickets::pdf::{self, PdfError, PdfTicket};
use tg_tickets::qr::{QUIET_ZONE, QrMatrix};
use uuid::Uuid;

fn ticket() -> PdfTicket {
    let ticket_id = Uuid::now_v7();
    let code = EventKey::generate().unwrap().sign(&TicketClaims {
        ticket_id,
        event_id: Uuid::now_v7(),
        ticket_type_id: Uuid::now_v7(),
    });
    PdfTicket {
        code,
        event_title: "RustFest Lisbon 2027".into(),
        venue: "Coliseu dos Recreios".into(),
        city: "Lisbon".into(),
        starts_at_local: "Sat 12 Jun 2027, 19:30 (WEST)".into(),
        ticket_type: "General admission".into(),
        holder_name: "Ada Lovelace".into(),
        ticket_id,
        price: "EUR 45.00".into(),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The page's content stream (the file's only stream).
fn content(pdf: &[u8]) -> &[u8] {
    let start = find(pdf, b">>\nstream\n").unwrap() + b">>\nstream\n".len();
    let len = find(&pdf[start..], b"\nendstream").unwrap();
    assert!(find(&pdf[start + len..], b">>\nstream\n").is_none());
    &pdf[start..start + len]
}

/// A content stream as tokens: operators/numbers, and strings decoded from
/// literal `( )` (with escapes) or hex `< >` form.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(Vec<u8>),
}

fn tokens(c: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            b'(' => {
                let mut s = Vec::new();
                let mut depth = 1;
                i += 1;
                loop {
                    let b = c[i];
                    i += 1;
                    match b {
                        b'\\' => {
                            let e = c[i];
                            i += 1;
                            match e {
                                b'n' => s.push(b'\n'),
                                b'r' => s.push(b'\r'),
                                b't' => s.push(b'\t'),
                                b'b' => s.push(8),
                                b'f' => s.push(12),
                                b'0'..=b'7' => {
                                    let mut v = u32::from(e - b'0');
                                    for _ in 0..2 {
                                        if (b'0'..=b'7').contains(&c[i]) {
                                            v = v * 8 + u32::from(c[i] - b'0');
                                            i += 1;
                                        }
                                    }
                                    s.push(v as u8);
                                }
                                other => s.push(other),
                            }
                        }
                        b'(' => {
                            depth += 1;
                            s.push(b);
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            s.push(b);
                        }
                        _ => s.push(b),
                    }
                }
                out.push(Token::Str(s));
            }
            b'<' => {
                let end = i + c[i..].iter().position(|&b| b == b'>').unwrap();
                let hex: Vec<u8> = c[i + 1..end]
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                let s = hex
                    .chunks(2)
                    .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
                    .collect();
                out.push(Token::Str(s));
                i = end + 1;
            }
            _ => {
                let end = c[i..]
                    .iter()
                    .position(|b| b" \n\r\t(<".contains(b))
                    .map_or(c.len(), |p| i + p);
                out.push(Token::Word(String::from_utf8(c[i..end].to_vec()).unwrap()));
                i = end;
            }
        }
    }
    out
}

/// The strings shown with `Tj`, in order.
fn shown(pdf: &[u8]) -> Vec<Vec<u8>> {
    let t = tokens(content(pdf));
    t.windows(2)
        .filter_map(|w| match w {
            [Token::Str(s), Token::Word(op)] if op == "Tj" => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// The fill gray in force at each `Tj` (tracking `g`, `q` and `Q`).
fn text_fill(pdf: &[u8]) -> Vec<f32> {
    let t = tokens(content(pdf));
    let mut stack = vec![0.0f32];
    let mut out = Vec::new();
    for (i, tok) in t.iter().enumerate() {
        match tok {
            Token::Word(w) if w == "q" => stack.push(*stack.last().unwrap()),
            Token::Word(w) if w == "Q" => {
                stack.pop().unwrap();
            }
            Token::Word(w) if w == "g" => *stack.last_mut().unwrap() = num(&t[i - 1]),
            Token::Word(w) if w == "Tj" => out.push(*stack.last().unwrap()),
            _ => {}
        }
    }
    out
}

fn num(t: &Token) -> f32 {
    match t {
        Token::Word(w) => w.parse().unwrap(),
        Token::Str(_) => panic!("expected a number, got {t:?}"),
    }
}

/// The QR drawing: the `re` rectangles between the module-unit `cm` and the
/// `f` that fills them, as a module grid including the quiet zone, plus the
/// transform.
fn qr_from_content(pdf: &[u8], n: usize) -> (Vec<bool>, [f32; 6]) {
    let t = tokens(content(pdf));
    let cm = t
        .iter()
        .position(|x| *x == Token::Word("cm".into()))
        .unwrap();
    let matrix: [f32; 6] = std::array::from_fn(|k| num(&t[cm - 6 + k]));
    let mut grid = vec![false; n * n];
    let mut i = cm + 1;
    while t[i] != Token::Word("f".into()) {
        if t[i] == Token::Word("re".into()) {
            let (x, y, w, h) = (
                num(&t[i - 4]),
                num(&t[i - 3]),
                num(&t[i - 2]),
                num(&t[i - 1]),
            );
            assert_eq!(h, 1.0);
            for dx in 0..w as usize {
                grid[y as usize * n + x as usize + dx] = true;
            }
        }
        i += 1;
    }
    (grid, matrix)
}

#[test]
fn a_complete_small_one_page_pdf() {
    let t = ticket();
    let pdf = pdf::render(&t).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
    assert!(pdf.len() < 50 * 1024, "{} bytes", pdf.len());
    assert!(find(&pdf, b"/MediaBox [0 0 297.64 419.53]").is_some());
    assert!(find(&pdf, b"/Count 1").is_some());
    for font in [&b"/Helvetica"[..], b"/Helvetica-Bold", b"/Courier"] {
        assert!(find(&pdf, font).is_some());
    }
    assert!(find(&pdf, b"/WinAnsiEncoding").is_some());
    // Uncompressed: the text is there to read.
    assert!(find(&pdf, b"/Filter").is_none());

    // Every line of text is printed dark enough to read on white.
    let fills = text_fill(&pdf);
    assert!(fills.len() >= 9, "{fills:?}");
    assert!(fills.iter().all(|&g| g <= 0.5), "{fills:?}");

    let shown = shown(&pdf);
    for expected in [
        &b"RustFest Lisbon 2027"[..],
        b"Ada Lovelace",
        b"Sat 12 Jun 2027, 19:30 (WEST)",
        b"Coliseu dos Recreios",
        b"Lisbon",
        b"General admission \xB7 EUR 45.00",
        format!("Ticket {}", t.ticket_id).as_bytes(),
    ] {
        assert!(
            shown.iter().any(|s| s == expected),
            "{:?} not in {shown:?}",
            String::from_utf8_lossy(expected)
        );
    }
}

#[test]
fn the_drawn_qr_decodes_to_the_code() {
    let t = ticket();
    let pdf = pdf::render(&t).unwrap();
    let m = QrMatrix::encode(&t.code).unwrap();
    let n = m.width_with_quiet_zone();
    let (grid, [a, b, c, d, e, f]) = qr_from_content(&pdf, n);
    // Square modules, y flipped, the whole symbol on the page.
    assert!(a > 2.0 && b == 0.0 && c == 0.0 && d == -a);
    assert!(e >= 0.0 && e + a * n as f32 <= 297.64);
    assert!(f - a * n as f32 >= 0.0 && f <= 419.53);
    let (_, text) = rqrr::Grid::new(rqrr::SimpleGrid::from_func(m.width(), |x, y| {
        grid[(y + QUIET_ZONE) * n + x + QUIET_ZONE]
    }))
    .decode()
    .unwrap();
    assert_eq!(text, t.code);
}

#[test]
fn text_is_encoded_escaped_and_limited() {
    let mut t = ticket();
    t.holder_name = "Zoë Ångström-Łukasz 山田\n\t".into();
    t.venue = "Eve) Tj (pwned \\ ) ET".into();
    t.city = "São Paulo – “Centro”".into();
    t.price = "€ 45,00".into();
    t.event_title = "An Extraordinarily Long Festival Name That Goes On ".repeat(10);
    t.starts_at_local = "W".repeat(1000);
    let pdf = pdf::render(&t).unwrap();
    assert!(pdf.len() < 50 * 1024);
    let shown = shown(&pdf);

    // Latin-1 and Windows-1252 characters kept, others replaced, whitespace
    // and control characters folded.
    assert!(
        shown.contains(&b"Zo\xEB \xC5ngstr\xF6m-?ukasz ??".to_vec()),
        "{shown:?}"
    );
    assert!(shown.contains(&b"S\xE3o Paulo \x96 \x93Centro\x94".to_vec()));
    assert!(shown.contains(&b"General admission \xB7 \x80 45,00".to_vec()));
    // Delimiters in text stay text.
    assert!(shown.contains(&b"Eve) Tj (pwned \\ ) ET".to_vec()));
    let c = content(&pdf);
    assert!(find(c, "山".as_bytes()).is_none());
    assert!(find(c, b"pwned \\ ) ET").is_none());

    // The title wraps onto two lines (after the brand line), the second
    // ending in an ellipsis; then the start time.
    assert_eq!(shown[0], b"TICKET GATEWAY");
    assert!(shown[1].starts_with(b"An Extraordinarily"));
    assert!(!shown[1].ends_with(b"\x85"));
    assert!(shown[2].ends_with(b"\x85"));
    assert!(shown[3].starts_with(b"WWW"));
    // A line of W's is cut to the page width (about 30 at 10 pt bold).
    let ws = shown.iter().find(|s| s.starts_with(b"WWW")).unwrap();
    assert!(ws.len() < 40 && ws.ends_with(b"\x85"), "{}", ws.len());
}

#[test]
fn long_holder_names_are_cut() {
    let mut t = ticket();
    t.holder_name = "Maximiliane Wilhelmina ".repeat(20);
    let pdf = pdf::render(&t).unwrap();
    let name = shown(&pdf)
        .into_iter()
        .find(|s| s.starts_with(b"Maximiliane"))
        .unwrap();
    assert!(name.ends_with(b"\x85"));
    assert!(name.len() < 50, "{}", name.len());
}

#[test]
fn a_code_too_long_for_a_qr_symbol_is_an_error() {
    let mut t = ticket();
    t.code = "x".repeat(5000);
    assert!(matches!(pdf::render(&t), Err(PdfError::Qr(_))));
}
