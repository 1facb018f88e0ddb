//! Demo data for a newcomer's first start: a few organizers and several
//! published events with ticket types on sale, all in the future relative
//! to the day the data is loaded. Loaded once per database
//! (`TICKETGW_DEMO=0` skips it).

use chrono::{Duration, DurationRound, Utc};
use tg_store::{
    Currency, DEFAULT_HOLD_MINUTES, NewEvent, NewLocalUser, NewTicketType, Role, Scope, Store,
};
use uuid::Uuid;

/// A built-in provider account (found again if it already exists).
async fn account(
    store: &dyn Store,
    email: &str,
    name: &str,
    password: &str,
    role: Role,
) -> anyhow::Result<Uuid> {
    if let Some((user, _)) = store
        .local_credentials(tg_store::BUILTIN_ISSUER, email)
        .await?
    {
        return Ok(user.id);
    }
    let user = store
        .create_local_user(&NewLocalUser {
            iss: tg_store::BUILTIN_ISSUER.into(),
            email: email.into(),
            name: name.into(),
            password_hash: tg_platform::hash_password(password).await?,
            roles: vec![Role::User, role],
        })
        .await?;
    Ok(user.id)
}

const MARKER: &str = "demo_loaded";

struct DemoEvent {
    organizer: usize,
    title: &'static str,
    description: &'static str,
    venue: &'static str,
    city: &'static str,
    category: &'static str,
    timezone: &'static str,
    days_ahead: i64,
    hours: i64,
    currency: &'static str,
    /// (name, price in minor units, capacity, max per order)
    tickets: &'static [(&'static str, i64, i64, i32)],
}

/// (email, name, password): organizer accounts of the built-in provider.
const ORGANIZERS: &[(&str, &str, &str)] = &[
    (
        "organizer@demo.test",
        "Demo Organizer",
        "demo-organizer-pass",
    ),
    (
        "live@nightowl.demo.test",
        "Night Owl Live",
        "demo-organizer-pass",
    ),
    (
        "hello@techconf.demo.test",
        "TechConf Collective",
        "demo-organizer-pass",
    ),
];

/// A buyer account.
const BUYER: (&str, &str, &str) = ("buyer@demo.test", "Demo Buyer", "demo-buyer-pass");

const EVENTS: &[DemoEvent] = &[
    DemoEvent {
        organizer: 0,
        title: "Rust Meetup Berlin",
        description: "Talks on async Rust, embedded and WebAssembly, followed by pizza.",
        venue: "c-base",
        city: "Berlin",
        category: "tech",
        timezone: "Europe/Berlin",
        days_ahead: 9,
        hours: 3,
        currency: "EUR",
        tickets: &[("Free admission", 0, 120, 2), ("Supporter", 1500, 30, 4)],
    },
    DemoEvent {
        organizer: 1,
        title: "Midnight Jazz Quartet",
        description: "An evening of modal jazz in an intimate club setting.",
        venue: "Hot Clube",
        city: "Lisbon",
        category: "music",
        timezone: "Europe/Lisbon",
        days_ahead: 14,
        hours: 3,
        currency: "EUR",
        tickets: &[("Standing", 2500, 200, 6), ("Table for two", 9000, 20, 1)],
    },
    DemoEvent {
        organizer: 1,
        title: "Festival of Lights Open Air",
        description: "Two stages, twelve acts, one long summer night.",
        venue: "Victoria Park",
        city: "London",
        category: "music",
        timezone: "Europe/London",
        days_ahead: 30,
        hours: 10,
        currency: "GBP",
        tickets: &[
            ("Early bird", 4500, 1000, 8),
            ("General admission", 6500, 5000, 8),
            ("VIP", 15000, 200, 4),
        ],
    },
    DemoEvent {
        organizer: 2,
        title: "Cloud Native Summit",
        description: "Kubernetes, serverless and platform engineering, two days of talks and workshops.",
        venue: "Javits Center",
        city: "New York",
        category: "tech",
        timezone: "America/New_York",
        days_ahead: 45,
        hours: 32,
        currency: "USD",
        tickets: &[
            ("Conference pass", 49900, 1500, 5),
            ("Workshop add-on", 19900, 300, 5),
        ],
    },
    DemoEvent {
        organizer: 0,
        title: "Improv Comedy Night",
        description: "Unscripted scenes built from the audience's suggestions.",
        venue: "Comedy Café",
        city: "Berlin",
        category: "comedy",
        timezone: "Europe/Berlin",
        days_ahead: 6,
        hours: 2,
        currency: "EUR",
        tickets: &[("Seat", 1800, 80, 6)],
    },
    DemoEvent {
        organizer: 2,
        title: "Tokyo Street Food Tour",
        description: "A guided evening walk through Shinjuku's alleys, tastings included.",
        venue: "Omoide Yokocho",
        city: "Tokyo",
        category: "food",
        timezone: "Asia/Tokyo",
        days_ahead: 21,
        hours: 4,
        currency: "JPY",
        tickets: &[("Tour", 8500, 24, 4)],
    },
    DemoEvent {
        organizer: 1,
        title: "City Marathon 10K",
        description: "A flat, fast 10 km course through the old town. Chip timing included.",
        venue: "Praça do Comércio",
        city: "Lisbon",
        category: "sports",
        timezone: "Europe/Lisbon",
        days_ahead: 60,
        hours: 4,
        currency: "EUR",
        tickets: &[("Runner", 3500, 3000, 1)],
    },
];

/// Loads the demo once; returns true when it loaded now.
pub async fn load(store: &dyn Store) -> anyhow::Result<bool> {
    if store.get_meta(MARKER).await?.is_some() {
        return Ok(false);
    }
    let mut organizers = Vec::new();
    for (email, name, password) in ORGANIZERS {
        organizers.push(account(store, email, name, password, Role::Organizer).await?);
    }
    let (email, name, password) = BUYER;
    account(store, email, name, password, Role::User).await?;
    let today = Utc::now().duration_trunc(Duration::days(1))?;
    for e in EVENTS {
        let starts_at = today + Duration::days(e.days_ahead) + Duration::hours(19);
        let event = store
            .create_event(
                organizers[e.organizer],
                &NewEvent {
                    title: e.title.into(),
                    description: e.description.into(),
                    venue: e.venue.into(),
                    city: e.city.into(),
                    category: e.category.into(),
                    timezone: e.timezone.into(),
                    image_url: None,
                    starts_at,
                    ends_at: starts_at + Duration::hours(e.hours),
                    hold_minutes: DEFAULT_HOLD_MINUTES,
                    refund_cutoff_hours: Some(48),
                },
            )
            .await?;
        let currency = Currency::parse(e.currency)
            .ok_or_else(|| anyhow::anyhow!("demo currency {}", e.currency))?;
        for (name, price, capacity, max) in e.tickets {
            store
                .add_ticket_type(
                    event.id,
                    Scope::All,
                    &NewTicketType {
                        name: (*name).into(),
                        price_cents: *price,
                        currency: currency.clone(),
                        capacity: *capacity,
                        max_per_order: *max,
                        sales_start: None,
                        sales_end: Some(starts_at),
                    },
                )
                .await?;
        }
        store
            .publish_event(event.id, Scope::All, Utc::now())
            .await?;
    }
    store.claim_meta(MARKER, &Utc::now().to_rfc3339()).await?;
    tracing::info!(events = EVENTS.len(), "demo data loaded");
    Ok(true)
}
