//! Tickets without a database.
//!
//! - [`code`]: a ticket's code, signed with its event's Ed25519 key so a door
//!   scanner holding only the event's public key verifies it offline.
//! - [`qr`]: the code as a QR module matrix and as a scalable SVG.
//! - [`pdf`]: the one-page PDF ticket (A6) with the QR drawn as vector squares.

pub mod code;
pub mod pdf;
pub mod qr;

pub use code::{CodeError, EventKey, TicketClaims};
pub use pdf::{PdfError, PdfTicket};
pub use qr::{QrError, QrMatrix};
