//! The PDF ticket: one A6 portrait page with the event, its local start time,
//! the venue, the holder's name, the ticket type and price, the ticket id and
//! the QR code drawn as vector squares (sharp at any print resolution).
//!
//! Text uses the standard Helvetica, Helvetica-Bold and Courier fonts in
//! WinAnsiEncoding, so nothing is embedded and the file stays a few KiB.
//! Characters the encoding lacks are replaced with `?`, control characters
//! become spaces, and every line is cut (with an ellipsis) to the width it
//! has. The content stream is left uncompressed.

mod text;

use crate::qr::{QUIET_ZONE, QrError, QrMatrix};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use text::Font;
use uuid::Uuid;

/// What is printed on a ticket. All strings are display text, already
/// formatted (`starts_at_local` in the venue's time zone, `price` with its
/// currency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfTicket {
    pub code: String,
    pub event_title: String,
    pub venue: String,
    pub city: String,
    pub starts_at_local: String,
    pub ticket_type: String,
    pub holder_name: String,
    pub ticket_id: Uuid,
    pub price: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error(transparent)]
    Qr(#[from] QrError),
}

/// A6 portrait, in points.
const PAGE_W: f32 = 297.64;
const PAGE_H: f32 = 419.53;
const MARGIN: f32 = 20.0;
const TEXT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// The QR symbol including its quiet zone.
const QR_SIZE: f32 = 176.0;
const QR_BOTTOM: f32 = 104.0;
/// Characters read from any one field (more is cut anyway).
const MAX_FIELD_CHARS: usize = 300;

const F_REGULAR: Name<'static> = Name(b"F1");
const F_BOLD: Name<'static> = Name(b"F2");
const F_MONO: Name<'static> = Name(b"F3");

fn font_name(font: Font) -> Name<'static> {
    match font {
        Font::Regular => F_REGULAR,
        Font::Bold => F_BOLD,
        Font::Mono => F_MONO,
    }
}

/// One line of text at (`x`, `y`) (baseline), already encoded and fitted.
fn line(content: &mut Content, font: Font, size: f32, x: f32, y: f32, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    content
        .begin_text()
        .set_font(font_name(font), size)
        .next_line(x, y)
        .show(Str(bytes))
        .end_text();
}

/// One field on one line, cut to the text width.
fn field(content: &mut Content, font: Font, size: f32, y: f32, value: &str) {
    let bytes = text::encode(value, MAX_FIELD_CHARS);
    let bytes = text::fit(&bytes, font, size, TEXT_W);
    line(content, font, size, MARGIN, y, &bytes);
}

/// The QR symbol with its quiet zone, `size` points square, lower left
/// corner at (`x`, `y`): a white square and one filled path of module runs.
/// The graphics state is left as it was.
fn qr(content: &mut Content, matrix: &QrMatrix, x: f32, y: f32, size: f32) {
    content
        .save_state()
        .set_fill_gray(1.0)
        .rect(x, y, size, size)
        .fill_nonzero();
    // Module units with y growing downwards from the symbol's top left corner.
    let n = matrix.width_with_quiet_zone() as f32;
    let s = size / n;
    content
        .transform([s, 0.0, 0.0, -s, x, y + size])
        .set_fill_gray(0.0);
    for run in matrix.dark_runs() {
        content.rect(
            (run.x + QUIET_ZONE) as f32,
            (run.y + QUIET_ZONE) as f32,
            run.len as f32,
            1.0,
        );
    }
    content.fill_nonzero().restore_state();
}

fn content(t: &PdfTicket, matrix: &QrMatrix) -> Vec<u8> {
    let mut c = Content::new();

    // Header: brand, event title (up to two lines), time, venue, city.
    let mut y = PAGE_H - MARGIN - 8.0;
    c.set_fill_gray(0.45);
    line(&mut c, Font::Regular, 8.0, MARGIN, y, b"TICKET GATEWAY");
    c.set_fill_gray(0.0);

    let title = text::encode(&t.event_title, MAX_FIELD_CHARS);
    y -= 22.0;
    for (i, l) in text::wrap(&title, Font::Bold, 15.0, TEXT_W, 2)
        .iter()
        .enumerate()
    {
        if i > 0 {
            y -= 18.0;
        }
        line(&mut c, Font::Bold, 15.0, MARGIN, y, l);
    }
    y -= 17.0;
    field(&mut c, Font::Bold, 10.0, y, &t.starts_at_local);
    y -= 14.0;
    field(&mut c, Font::Regular, 10.0, y, &t.venue);
    y -= 14.0;
    field(&mut c, Font::Regular, 10.0, y, &t.city);

    c.set_stroke_gray(0.8)
        .set_line_width(0.5)
        .move_to(MARGIN, 290.0)
        .line_to(PAGE_W - MARGIN, 290.0)
        .stroke();

    qr(&mut c, matrix, (PAGE_W - QR_SIZE) / 2.0, QR_BOTTOM, QR_SIZE);

    // Footer: holder, type and price, ticket id, the rule of entry.
    field(&mut c, Font::Bold, 13.0, 90.0, &t.holder_name);
    let ticket_type = text::encode(&t.ticket_type, MAX_FIELD_CHARS);
    let price = text::encode(&t.price, MAX_FIELD_CHARS);
    // The price always shows in full; the type name gives way.
    let price_w = text::width(&price, Font::Regular, 10.0);
    let sep: &[u8] = if price.is_empty() { b"" } else { b" \xB7 " };
    let type_w = TEXT_W - price_w - text::width(sep, Font::Regular, 10.0);
    let mut type_line = text::fit(&ticket_type, Font::Regular, 10.0, type_w.max(0.0));
    type_line.extend_from_slice(sep);
    type_line.extend_from_slice(&price);
    let type_line = text::fit(&type_line, Font::Regular, 10.0, TEXT_W);
    line(&mut c, Font::Regular, 10.0, MARGIN, 74.0, &type_line);
    let id = format!("Ticket {}", t.ticket_id);
    line(&mut c, Font::Mono, 7.5, MARGIN, 58.0, id.as_bytes());

    c.set_fill_gray(0.45);
    line(
        &mut c,
        Font::Regular,
        7.0,
        MARGIN,
        MARGIN + 6.0,
        b"Valid for one entry. The code is checked at the door; do not share it.",
    );

    c.finish().into_vec()
}

/// The ticket as a one-page PDF.
pub fn render(ticket: &PdfTicket) -> Result<Vec<u8>, PdfError> {
    let matrix = QrMatrix::encode(&ticket.code)?;

    let catalog_id = Ref::new(1);
    let pages_id = Ref::new(2);
    let page_id = Ref::new(3);
    let content_id = Ref::new(4);
    let info_id = Ref::new(5);
    let fonts = [
        (F_REGULAR, Ref::new(6), Name(b"Helvetica")),
        (F_BOLD, Ref::new(7), Name(b"Helvetica-Bold")),
        (F_MONO, Ref::new(8), Name(b"Courier")),
    ];

    let mut pdf = Pdf::new();
    pdf.catalog(catalog_id).pages(pages_id);
    pdf.pages(pages_id).kids([page_id]).count(1);
    {
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(pages_id)
            .contents(content_id);
        let mut resources = page.resources();
        let mut font_dict = resources.fonts();
        for (name, id, _) in fonts {
            font_dict.pair(name, id);
        }
        font_dict.finish();
        resources.finish();
        page.finish();
    }
    for (_, id, base) in fonts {
        pdf.type1_font(id)
            .base_font(base)
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.stream(content_id, &content(ticket, &matrix));

    // Document title: Unicode is fine here (UTF-16 text string); control
    // characters are not.
    let title: String = ticket
        .event_title
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let title = format!("Ticket: {}", title.trim());
    pdf.document_info(info_id)
        .title(TextStr(&title))
        .producer(TextStr("Ticket Gateway"));

    Ok(pdf.finish())
}
