//! Store-level fixtures: an organizer's published event, buyers, and
//! confirmed bookings (with tickets and outbox events), made through the
//! storage interface as the functions make them.

use chrono::{Duration, Utc};
use tg_store::{
    Currency, DynStore, HoldItem, NewEvent, NewHold, NewTicketType, NewUser, ProfilePatch, Role,
    Scope, model::truncate_micros,
};
use uuid::Uuid;

/// A published event with one ticket type of `capacity` at EUR 25.00.
/// Returns (event id, ticket type id).
pub async fn published_event(store: &DynStore, title: &str, capacity: i64) -> (Uuid, Uuid) {
    let org = store
        .upsert_user(&NewUser {
            iss: "https://fixtures.test".into(),
            sub: format!("org-{}", Uuid::new_v4()),
            email: Some(format!("org-{}@fixtures.test", Uuid::new_v4().simple())),
            name: "Organizer".into(),
            roles: vec![Role::User, Role::Organizer],
        })
        .await
        .expect("organizer");
    let starts_at = truncate_micros(Utc::now() + Duration::days(20));
    let e = store
        .create_event(
            org.id,
            &NewEvent {
                title: title.into(),
                description: format!("About {title}"),
                venue: "Main Hall".into(),
                city: "Berlin".into(),
                category: "music".into(),
                timezone: "Europe/Berlin".into(),
                image_url: None,
                starts_at,
                ends_at: starts_at + Duration::hours(3),
                hold_minutes: tg_store::DEFAULT_HOLD_MINUTES,
                refund_cutoff_hours: None,
            },
        )
        .await
        .expect("event");
    let tt = store
        .add_ticket_type(
            e.id,
            Scope::All,
            &NewTicketType {
                name: "General admission".into(),
                price_cents: 2500,
                currency: Currency::parse("EUR").expect("EUR"),
                capacity,
                max_per_order: 10,
                sales_start: None,
                sales_end: None,
            },
        )
        .await
        .expect("ticket type");
    store
        .publish_event(e.id, Scope::All, Utc::now())
        .await
        .expect("publish");
    (e.id, tt.id)
}

/// A buyer with an email address (and a phone number for SMS when given).
pub async fn buyer(store: &DynStore, email: &str, phone: Option<&str>) -> Uuid {
    let u = store
        .upsert_user(&NewUser {
            iss: "https://fixtures.test".into(),
            sub: format!("buyer-{}", Uuid::new_v4()),
            email: Some(email.into()),
            name: email.split('@').next().unwrap_or("buyer").into(),
            roles: vec![Role::User],
        })
        .await
        .expect("buyer");
    if let Some(p) = phone {
        store
            .update_profile(
                u.id,
                &ProfilePatch {
                    phone: Some(Some(p.into())),
                    notify_sms: Some(true),
                    ..Default::default()
                },
            )
            .await
            .expect("profile");
    }
    u.id
}

/// A booking of `quantity` tickets, held and confirmed (tickets issued,
/// `booking.held` and `booking.confirmed` in the outbox).
pub async fn confirmed_booking(
    store: &DynStore,
    user: Uuid,
    event: Uuid,
    ticket_type: Uuid,
    quantity: i64,
) -> Uuid {
    let b = store
        .hold(&NewHold {
            user_id: user,
            event_id: event,
            items: vec![HoldItem {
                ticket_type_id: ticket_type,
                quantity,
            }],
            max_held_per_user: 100,
            now: Utc::now(),
        })
        .await
        .expect("hold");
    store
        .confirm_booking(b.id, Utc::now())
        .await
        .expect("confirm");
    b.id
}
