//! The storage conformance ("story") suite: every scenario runs against
//! SQLite and, when `TEST_DATABASE_URL` is set (always in CI), PostgreSQL,
//! and must give the same results on both.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use tg_store::*;
use tg_testkit::TestDb;
use uuid::Uuid;

/// Runs `scenario` on a fresh migrated database of every backend.
macro_rules! on_every_backend {
    ($scenario:ident) => {
        for db in TestDb::all().await {
            let store = db.store().await;
            eprintln!("scenario {} on {:?}", stringify!($scenario), db.backend);
            $scenario(store).await;
        }
    };
}

fn organizer(n: &str) -> NewUser {
    NewUser {
        iss: "https://idp.test".into(),
        sub: n.into(),
        email: Some(format!("{n}@example.test")),
        name: n.into(),
        roles: vec![Role::User, Role::Organizer],
    }
}

fn new_event(title: &str, city: &str, category: &str, days: i64) -> NewEvent {
    let starts_at = truncate_micros(Utc::now() + Duration::days(days));
    NewEvent {
        title: title.into(),
        description: format!("About {title}"),
        venue: "Main Hall".into(),
        city: city.into(),
        category: category.into(),
        timezone: "Europe/Berlin".into(),
        image_url: Some("https://img.example.test/a.png".into()),
        starts_at,
        ends_at: starts_at + Duration::hours(3),
        hold_minutes: DEFAULT_HOLD_MINUTES,
        refund_cutoff_hours: None,
    }
}

fn ticket(name: &str, currency: &str, capacity: i64) -> NewTicketType {
    NewTicketType {
        name: name.into(),
        price_cents: 1999,
        currency: Currency::parse(currency).unwrap(),
        capacity,
        max_per_order: 4,
        sales_start: None,
        sales_end: None,
    }
}

fn conflict_code(e: StoreError) -> &'static str {
    match e {
        StoreError::Conflict { code, .. } => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn published(
    store: &DynStore,
    org: Uuid,
    title: &str,
    city: &str,
    category: &str,
    days: i64,
) -> Event {
    let e = store
        .create_event(org, &new_event(title, city, category, days))
        .await
        .unwrap();
    store
        .add_ticket_type(e.id, Scope::All, &ticket("GA", "EUR", 10))
        .await
        .unwrap();
    store
        .publish_event(e.id, Scope::All, Utc::now())
        .await
        .unwrap()
}

fn filter() -> EventFilter {
    EventFilter {
        q: None,
        city: None,
        category: None,
        from: Utc::now(),
        to: None,
        status: EventStatus::Published,
        organizer_id: None,
        after: None,
        limit: 100,
    }
}

// ------------------------------------------------------------- scenarios --

async fn migrations_are_idempotent(store: DynStore) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

#[tokio::test]
async fn migrations() {
    on_every_backend!(migrations_are_idempotent);
}

async fn users_scenario(store: DynStore) {
    let a = store.upsert_user(&organizer("alice")).await.unwrap();
    let again = store
        .upsert_user(&NewUser {
            roles: vec![Role::Admin],
            ..organizer("alice")
        })
        .await
        .unwrap();
    assert_eq!(a.id, again.id, "(iss, sub) identifies a user");
    assert_eq!(again.roles, vec![Role::User, Role::Organizer, Role::Admin]);
    let other_issuer = store
        .upsert_user(&NewUser {
            iss: "https://other.test".into(),
            ..organizer("alice")
        })
        .await
        .unwrap();
    assert_ne!(
        other_issuer.id, a.id,
        "the same sub at another issuer is another user"
    );
    assert_eq!(
        store.get_user(a.id).await.unwrap().email.as_deref(),
        Some("alice@example.test")
    );
    assert!(matches!(
        store.get_user(Uuid::now_v7()).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn users() {
    on_every_backend!(users_scenario);
}

async fn meta_scenario(store: DynStore) {
    assert_eq!(store.get_meta("k").await.unwrap(), None);
    assert!(store.claim_meta("k", "1").await.unwrap());
    assert!(!store.claim_meta("k", "2").await.unwrap());
    assert_eq!(store.get_meta("k").await.unwrap().as_deref(), Some("1"));
}

#[tokio::test]
async fn meta() {
    on_every_backend!(meta_scenario);
}

async fn event_round_trip_scenario(store: DynStore) {
    let org = store.upsert_user(&organizer("org")).await.unwrap();
    let input = new_event("Jazz Night", "Lisbon", "music", 10);
    let created = store.create_event(org.id, &input).await.unwrap();
    assert_eq!(created.status, EventStatus::Draft);
    assert_eq!(
        created.starts_at, input.starts_at,
        "times round-trip at microsecond precision"
    );
    assert_eq!(created.ends_at, input.ends_at);
    assert_eq!(created.image_url, input.image_url);
    assert_eq!(created.organizer_id, org.id);
    let tt = store
        .add_ticket_type(created.id, Scope::All, &ticket("Standing", "eur", 150))
        .await
        .unwrap();
    assert_eq!(tt.currency.as_str(), "EUR");
    assert_eq!(tt.available(), 150);
    let read = store
        .get_event(created.id, Scope::Organizer(org.id))
        .await
        .unwrap();
    assert_eq!(read.ticket_types, vec![tt]);
    assert_eq!(read.title, "Jazz Night");
    assert!(matches!(
        store.get_event(Uuid::now_v7(), Scope::All).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn event_round_trip() {
    on_every_backend!(event_round_trip_scenario);
}

async fn ownership_scenario(store: DynStore) {
    let a = store.upsert_user(&organizer("a")).await.unwrap();
    let b = store.upsert_user(&organizer("b")).await.unwrap();
    let e = store
        .create_event(a.id, &new_event("A's", "Berlin", "tech", 5))
        .await
        .unwrap();
    let as_b = Scope::Organizer(b.id);
    assert!(matches!(
        store.get_event(e.id, as_b).await,
        Err(StoreError::NotFound(_))
    ));
    let patch = EventPatch {
        title: Some("hijacked".into()),
        ..Default::default()
    };
    assert!(matches!(
        store.update_event(e.id, as_b, &patch).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .add_ticket_type(e.id, as_b, &ticket("x", "EUR", 1))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.publish_event(e.id, as_b, Utc::now()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.cancel_event(e.id, as_b, Utc::now()).await,
        Err(StoreError::NotFound(_))
    ));
    let unchanged = store.get_event(e.id, Scope::All).await.unwrap();
    assert_eq!(unchanged.title, "A's");
    assert_eq!(unchanged.status, EventStatus::Draft);
    assert!(unchanged.ticket_types.is_empty());
    // The owner and the platform can.
    store
        .update_event(e.id, Scope::Organizer(a.id), &patch)
        .await
        .unwrap();
    assert_eq!(
        store.get_event(e.id, Scope::All).await.unwrap().title,
        "hijacked"
    );
}

#[tokio::test]
async fn ownership_is_part_of_the_query() {
    on_every_backend!(ownership_scenario);
}

async fn ticket_type_rules_scenario(store: DynStore) {
    let org = store.upsert_user(&organizer("o")).await.unwrap();
    let e = store
        .create_event(org.id, &new_event("E", "Berlin", "tech", 5))
        .await
        .unwrap();
    let tt = store
        .add_ticket_type(e.id, Scope::All, &ticket("GA", "EUR", 10))
        .await
        .unwrap();
    let err = store
        .add_ticket_type(e.id, Scope::All, &ticket("GA", "EUR", 10))
        .await
        .unwrap_err();
    assert_eq!(conflict_code(err), "duplicate_name");
    match store
        .add_ticket_type(e.id, Scope::All, &ticket("VIP", "USD", 10))
        .await
    {
        Err(StoreError::Invalid {
            field: "currency", ..
        }) => {}
        other => panic!("expected currency mismatch, got {other:?}"),
    }
    let patch = TicketTypePatch {
        capacity: Some(25),
        price_cents: Some(0),
        ..Default::default()
    };
    let updated = store
        .update_ticket_type(e.id, tt.id, Scope::All, &patch)
        .await
        .unwrap();
    assert_eq!(
        (updated.capacity, updated.price_cents, updated.available()),
        (25, 0, 25)
    );
    let start = truncate_micros(Utc::now());
    let bad_window = TicketTypePatch {
        sales_start: Some(Some(start)),
        sales_end: Some(Some(start - Duration::hours(1))),
        ..Default::default()
    };
    assert!(matches!(
        store
            .update_ticket_type(e.id, tt.id, Scope::All, &bad_window)
            .await,
        Err(StoreError::Invalid {
            field: "sales_end",
            ..
        })
    ));
    let clear = TicketTypePatch {
        sales_end: Some(None),
        sales_start: Some(Some(start)),
        ..Default::default()
    };
    let cleared = store
        .update_ticket_type(e.id, tt.id, Scope::All, &clear)
        .await
        .unwrap();
    assert_eq!(
        (cleared.sales_start, cleared.sales_end),
        (Some(start), None)
    );
    // A ticket type of another event is not reachable through this event.
    let other = store
        .create_event(org.id, &new_event("F", "Berlin", "tech", 6))
        .await
        .unwrap();
    assert!(matches!(
        store
            .update_ticket_type(other.id, tt.id, Scope::All, &patch)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn ticket_type_rules() {
    on_every_backend!(ticket_type_rules_scenario);
}

async fn lifecycle_scenario(store: DynStore) {
    let org = store.upsert_user(&organizer("o")).await.unwrap();
    let e = store
        .create_event(org.id, &new_event("E", "Berlin", "tech", 5))
        .await
        .unwrap();
    let err = store
        .publish_event(e.id, Scope::All, Utc::now())
        .await
        .unwrap_err();
    assert_eq!(conflict_code(err), "no_ticket_types");
    store
        .add_ticket_type(e.id, Scope::All, &ticket("GA", "EUR", 10))
        .await
        .unwrap();
    let p = store
        .publish_event(e.id, Scope::All, Utc::now())
        .await
        .unwrap();
    assert_eq!(p.status, EventStatus::Published);
    assert!(p.published_at.is_some());
    let again = store
        .publish_event(e.id, Scope::All, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        again.published_at, p.published_at,
        "publishing twice changes nothing"
    );
    let c = store
        .cancel_event(e.id, Scope::All, Utc::now())
        .await
        .unwrap();
    assert_eq!(c.status, EventStatus::Cancelled);
    assert_eq!(
        store
            .cancel_event(e.id, Scope::All, Utc::now())
            .await
            .unwrap()
            .status,
        EventStatus::Cancelled
    );
    assert_eq!(
        conflict_code(
            store
                .publish_event(e.id, Scope::All, Utc::now())
                .await
                .unwrap_err()
        ),
        "event_cancelled"
    );
    let patch = EventPatch {
        title: Some("x".into()),
        ..Default::default()
    };
    assert_eq!(
        conflict_code(
            store
                .update_event(e.id, Scope::All, &patch)
                .await
                .unwrap_err()
        ),
        "event_cancelled"
    );
    assert_eq!(
        conflict_code(
            store
                .add_ticket_type(e.id, Scope::All, &ticket("VIP", "EUR", 1))
                .await
                .unwrap_err()
        ),
        "event_cancelled"
    );
    // An event that has ended cannot be published.
    let past = store
        .create_event(org.id, &new_event("Past", "Berlin", "tech", -3))
        .await
        .unwrap();
    store
        .add_ticket_type(past.id, Scope::All, &ticket("GA", "EUR", 1))
        .await
        .unwrap();
    assert_eq!(
        conflict_code(
            store
                .publish_event(past.id, Scope::All, Utc::now())
                .await
                .unwrap_err()
        ),
        "event_ended"
    );
    // ends_at must stay after starts_at through patches.
    let e2 = store
        .create_event(org.id, &new_event("E2", "Berlin", "tech", 5))
        .await
        .unwrap();
    let bad = EventPatch {
        ends_at: Some(e2.starts_at - Duration::hours(1)),
        ..Default::default()
    };
    assert!(matches!(
        store.update_event(e2.id, Scope::All, &bad).await,
        Err(StoreError::Invalid {
            field: "ends_at",
            ..
        })
    ));
}

#[tokio::test]
async fn event_lifecycle() {
    on_every_backend!(lifecycle_scenario);
}

async fn listing_scenario(store: DynStore) {
    let org = store.upsert_user(&organizer("o")).await.unwrap();
    let other = store.upsert_user(&organizer("p")).await.unwrap();
    let jazz = published(&store, org.id, "Jazz Night", "Lisbon", "music", 3).await;
    let rust = published(&store, org.id, "Rust Meetup", "Berlin", "tech", 1).await;
    let pct = published(&store, other.id, "100% Comedy", "berlin", "Comedy", 2).await;
    let _draft = store
        .create_event(org.id, &new_event("Secret draft", "Berlin", "tech", 1))
        .await
        .unwrap();
    let cancelled = published(&store, org.id, "Cancelled gig", "Berlin", "music", 1).await;
    store
        .cancel_event(cancelled.id, Scope::All, Utc::now())
        .await
        .unwrap();

    let ids = |v: Vec<Event>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    // Published only, soonest first, with ticket types attached.
    let all = store.list_events(&filter()).await.unwrap();
    assert!(all.iter().all(|e| e.ticket_types.len() == 1));
    assert_eq!(ids(all), vec![rust.id, pct.id, jazz.id]);
    // City and category: exact, case-insensitive.
    let berlin = store
        .list_events(&EventFilter {
            city: Some("BERLIN".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(berlin), vec![rust.id, pct.id]);
    let comedy = store
        .list_events(&EventFilter {
            category: Some("comedy".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(comedy), vec![pct.id]);
    // Text search: substring, case-insensitive, LIKE wildcards are literal.
    let q = |s: &str| EventFilter {
        q: Some(s.into()),
        ..filter()
    };
    assert_eq!(
        ids(store.list_events(&q("jAzZ")).await.unwrap()),
        vec![jazz.id]
    );
    assert_eq!(
        ids(store.list_events(&q("lisb")).await.unwrap()),
        vec![jazz.id],
        "matches the city too"
    );
    assert_eq!(
        ids(store.list_events(&q("100%")).await.unwrap()),
        vec![pct.id]
    );
    assert!(
        store.list_events(&q("%")).await.unwrap().len() == 1,
        "% is not a wildcard"
    );
    assert!(
        store.list_events(&q("_")).await.unwrap().is_empty(),
        "_ is not a wildcard"
    );
    // Date window.
    let to = Utc::now() + Duration::days(2) + Duration::hours(1);
    assert_eq!(
        ids(store
            .list_events(&EventFilter {
                to: Some(to),
                ..filter()
            })
            .await
            .unwrap()),
        vec![rust.id, pct.id]
    );
    let from = Utc::now() + Duration::days(2) + Duration::hours(4);
    assert_eq!(
        ids(store
            .list_events(&EventFilter { from, ..filter() })
            .await
            .unwrap()),
        vec![jazz.id]
    );
    // Organizer filter.
    let mine = store
        .list_events(&EventFilter {
            organizer_id: Some(other.id),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(mine), vec![pct.id]);
}

#[tokio::test]
async fn listing_and_filters() {
    on_every_backend!(listing_scenario);
}

async fn pagination_scenario(store: DynStore) {
    let org = store.upsert_user(&organizer("o")).await.unwrap();
    // Several events at the very same start time: the id breaks the tie.
    let starts_at = truncate_micros(Utc::now() + Duration::days(4));
    let mut expected = Vec::new();
    for i in 0..7 {
        let mut ne = new_event(&format!("E{i}"), "Berlin", "tech", 4);
        ne.starts_at = if i < 4 {
            starts_at
        } else {
            starts_at + Duration::minutes(i)
        };
        ne.ends_at = ne.starts_at + Duration::hours(1);
        let e = store.create_event(org.id, &ne).await.unwrap();
        store
            .add_ticket_type(e.id, Scope::All, &ticket("GA", "EUR", 1))
            .await
            .unwrap();
        store
            .publish_event(e.id, Scope::All, Utc::now())
            .await
            .unwrap();
        expected.push((e.starts_at, e.id));
    }
    expected.sort();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_events(&EventFilter {
                limit: 3,
                after,
                ..filter()
            })
            .await
            .unwrap();
        assert!(page.len() <= 4, "at most limit + 1 rows");
        let more = page.len() > 3;
        let page: Vec<_> = page.into_iter().take(3).collect();
        seen.extend(page.iter().map(|e| (e.starts_at, e.id)));
        if !more {
            break;
        }
        after = page.last().map(|e| (e.starts_at, e.id));
    }
    assert_eq!(seen, expected, "every event once, in order");
}

#[tokio::test]
async fn keyset_pagination() {
    on_every_backend!(pagination_scenario);
}

async fn one_currency_under_concurrency_scenario(store: DynStore) {
    // Many writers race to add ticket types in different currencies: the
    // database lets exactly one currency win.
    let org = store.upsert_user(&organizer("o")).await.unwrap();
    let e = store
        .create_event(org.id, &new_event("Race", "Berlin", "tech", 5))
        .await
        .unwrap();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let cur = if i % 2 == 0 { "EUR" } else { "USD" };
            store
                .add_ticket_type(e.id, Scope::All, &ticket(&format!("T{i}"), cur, 1))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Invalid {
                field: "currency", ..
            }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let event = store.get_event(e.id, Scope::All).await.unwrap();
    assert_eq!(event.ticket_types.len(), ok);
    assert_eq!(ok, 8, "exactly the writers of the winning currency succeed");
    let first = &event.ticket_types[0].currency;
    assert!(event.ticket_types.iter().all(|t| &t.currency == first));
}

#[tokio::test]
async fn one_currency_per_event_under_concurrency() {
    on_every_backend!(one_currency_under_concurrency_scenario);
}

// -------------------------------------------------------------- identity --

fn local(email: &str) -> NewLocalUser {
    NewLocalUser {
        iss: "http://127.0.0.1:8080".into(),
        email: email.into(),
        name: "Local".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        roles: vec![Role::User],
    }
}

fn refresh_row(user_id: Uuid, family_id: Uuid, secret: &str, days: i64) -> NewRefreshToken {
    let now = truncate_micros(Utc::now());
    NewRefreshToken {
        id: Uuid::now_v7(),
        family_id,
        user_id,
        token_hash: secret.as_bytes().to_vec(),
        created_at: now,
        expires_at: now + Duration::days(days),
    }
}

async fn accounts_scenario(store: DynStore) {
    let u = store
        .create_local_user(&local("Ann@Example.test"))
        .await
        .unwrap();
    assert_eq!(
        u.sub,
        u.id.to_string(),
        "local accounts: sub is the user id"
    );
    assert_eq!(u.roles, vec![Role::User]);
    assert_eq!(u.status, UserStatus::Active);
    let err = store
        .create_local_user(&local("ann@example.TEST"))
        .await
        .unwrap_err();
    assert_eq!(
        conflict_code(err),
        "email_taken",
        "emails are unique case-insensitively"
    );
    let (found, hash) = store
        .local_credentials("http://127.0.0.1:8080", "ANN@example.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, hash.starts_with("$argon2id$")), (u.id, true));
    assert!(
        store
            .local_credentials("http://other", "ann@example.test")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.find_user(&u.iss, &u.sub).await.unwrap().map(|x| x.id),
        Some(u.id)
    );

    let p = store
        .update_profile(
            u.id,
            &ProfilePatch {
                phone: Some(Some("+4930123456".into())),
                notify_sms: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (p.phone.as_deref(), p.notify_sms, p.language.as_str()),
        (Some("+4930123456"), true, "en")
    );
    let p = store
        .update_profile(
            u.id,
            &ProfilePatch {
                language: Some("de".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.language, "de");
    assert_eq!(store.get_user(u.id).await.unwrap().language, "de");
    let err = store
        .update_profile(
            u.id,
            &ProfilePatch {
                phone: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Invalid {
                field: "notify_sms",
                ..
            }
        ),
        "SMS needs a phone"
    );

    let admin = store.upsert_user(&organizer("admin")).await.unwrap();
    let r = store
        .set_roles(u.id, &[Role::Organizer], Some(admin.id))
        .await
        .unwrap();
    assert_eq!(
        r.roles,
        vec![Role::User, Role::Organizer],
        "user is always kept"
    );
    let listed = store.list_users(None, 10).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|x| x.id == u.id && x.roles.contains(&Role::Organizer))
    );
    let audit = store.list_audit(None, 10).await.unwrap();
    assert_eq!(audit[0].action, "user.roles_set");
    assert_eq!(audit[0].actor_id, Some(admin.id));
}

#[tokio::test]
async fn accounts_and_roles() {
    on_every_backend!(accounts_scenario);
}

async fn refresh_rotation_scenario(store: DynStore) {
    let u = store
        .create_local_user(&local("r@example.test"))
        .await
        .unwrap();
    let fam = Uuid::now_v7();
    store
        .insert_refresh_token(&refresh_row(u.id, fam, "t1", 30))
        .await
        .unwrap();
    let now = Utc::now();
    let out = store
        .rotate_refresh_token(b"t1", &refresh_row(u.id, Uuid::nil(), "t2", 30), now)
        .await
        .unwrap();
    assert_eq!(
        out,
        RefreshOutcome::Rotated {
            user_id: u.id,
            family_id: fam
        },
        "the next token joins the family"
    );
    let out = store
        .rotate_refresh_token(b"t2", &refresh_row(u.id, Uuid::nil(), "t3", 30), now)
        .await
        .unwrap();
    assert!(matches!(out, RefreshOutcome::Rotated { .. }));
    // t1 is spent: presenting it again revokes the whole family, t3 included.
    let out = store
        .rotate_refresh_token(b"t1", &refresh_row(u.id, Uuid::nil(), "t4", 30), now)
        .await
        .unwrap();
    assert_eq!(out, RefreshOutcome::Reused { family_id: fam });
    assert!(!store.session_active(fam).await.unwrap());
    let out = store
        .rotate_refresh_token(b"t3", &refresh_row(u.id, Uuid::nil(), "t5", 30), now)
        .await
        .unwrap();
    assert_eq!(out, RefreshOutcome::Invalid);
    assert_eq!(
        store
            .rotate_refresh_token(b"nope", &refresh_row(u.id, Uuid::nil(), "t6", 30), now)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    // Expired tokens do not rotate; logout revokes; suspension revokes.
    let fam2 = Uuid::now_v7();
    store
        .insert_refresh_token(&refresh_row(u.id, fam2, "old", -1))
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate_refresh_token(b"old", &refresh_row(u.id, Uuid::nil(), "x", 30), now)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    let fam3 = Uuid::now_v7();
    store
        .insert_refresh_token(&refresh_row(u.id, fam3, "l1", 30))
        .await
        .unwrap();
    assert!(store.revoke_refresh_family(b"l1", now).await.unwrap());
    assert!(!store.session_active(fam3).await.unwrap());
    let fam4 = Uuid::now_v7();
    store
        .insert_refresh_token(&refresh_row(u.id, fam4, "s1", 30))
        .await
        .unwrap();
    assert!(store.session_active(fam4).await.unwrap());
    store
        .set_user_status(u.id, UserStatus::Suspended, None)
        .await
        .unwrap();
    assert!(
        !store.session_active(fam4).await.unwrap(),
        "suspension ends every session"
    );
    assert_eq!(
        store
            .rotate_refresh_token(b"s1", &refresh_row(u.id, Uuid::nil(), "s2", 30), now)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
}

#[tokio::test]
async fn refresh_token_rotation_and_reuse() {
    on_every_backend!(refresh_rotation_scenario);
}

async fn concurrent_refresh_scenario(store: DynStore) {
    // The same refresh token presented 20 times at once: at most one
    // rotation wins; the rest see a spent token.
    let u = store
        .create_local_user(&local("c@example.test"))
        .await
        .unwrap();
    let fam = Uuid::now_v7();
    store
        .insert_refresh_token(&refresh_row(u.id, fam, "race", 30))
        .await
        .unwrap();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .rotate_refresh_token(
                    b"race",
                    &refresh_row(u.id, Uuid::nil(), &format!("next{i}"), 30),
                    Utc::now(),
                )
                .await
                .unwrap()
        }));
    }
    let mut rotated = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), RefreshOutcome::Rotated { .. }) {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1, "exactly one rotation");
}

#[tokio::test]
async fn concurrent_refresh_rotates_once() {
    on_every_backend!(concurrent_refresh_scenario);
}

async fn counters_scenario(store: DynStore) {
    let w = truncate_micros(Utc::now());
    assert_eq!(store.hit_counter("ip:1", w).await.unwrap(), 1);
    assert_eq!(store.hit_counter("ip:1", w).await.unwrap(), 2);
    assert_eq!(store.hit_counter("ip:2", w).await.unwrap(), 1);
    assert_eq!(
        store
            .hit_counter("ip:1", w + Duration::minutes(1))
            .await
            .unwrap(),
        1,
        "a new window"
    );
    assert_eq!(store.login_failures("a").await.unwrap(), None);
    assert_eq!(
        store.record_login_failure("a", Utc::now()).await.unwrap(),
        1
    );
    assert_eq!(
        store.record_login_failure("a", Utc::now()).await.unwrap(),
        2
    );
    assert_eq!(
        store.login_failures("a").await.unwrap().map(|x| x.0),
        Some(2)
    );
    store.clear_login_failures("a").await.unwrap();
    assert_eq!(store.login_failures("a").await.unwrap(), None);
}

#[tokio::test]
async fn abuse_counters() {
    on_every_backend!(counters_scenario);
}

async fn applications_scenario(store: DynStore) {
    let u = store
        .create_local_user(&local("apply@example.test"))
        .await
        .unwrap();
    let admin = store.upsert_user(&organizer("root")).await.unwrap();
    let a = store
        .apply_for_organizer(u.id, "I run a jazz club")
        .await
        .unwrap();
    assert_eq!(a.status, ApplicationStatus::Pending);
    assert_eq!(
        conflict_code(store.apply_for_organizer(u.id, "again").await.unwrap_err()),
        "application_pending"
    );
    let pending = store
        .list_applications(Some(ApplicationStatus::Pending), None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let decided = store
        .decide_application(a.id, true, admin.id)
        .await
        .unwrap();
    assert_eq!(
        (decided.status, decided.decided_by),
        (ApplicationStatus::Approved, Some(admin.id))
    );
    assert!(
        store
            .get_user(u.id)
            .await
            .unwrap()
            .roles
            .contains(&Role::Organizer),
        "approval grants the role"
    );
    assert_eq!(
        conflict_code(
            store
                .decide_application(a.id, false, admin.id)
                .await
                .unwrap_err()
        ),
        "application_decided"
    );
    assert_eq!(
        conflict_code(store.apply_for_organizer(u.id, "more").await.unwrap_err()),
        "already_organizer"
    );
}

#[tokio::test]
async fn organizer_applications() {
    on_every_backend!(applications_scenario);
}

// ---- idempotency keys ------------------------------------------------------

fn stored(status: u16, body: &[u8]) -> StoredResponse {
    StoredResponse {
        status,
        content_type: Some("application/json".into()),
        location: Some("/v1/events/1".into()),
        body: body.to_vec(),
    }
}

async fn idempotency_scenario(store: DynStore) {
    let t0 = truncate_micros(Utc::now());
    let lease = t0 + Duration::seconds(60);
    let (s, k) = ("https://idp.test|alice", "key-1");
    let (fp1, fp2) = ([1u8; 32], [2u8; 32]);
    let begin =
        |scope: &'static str, key: &'static str, fp: [u8; 32], now: chrono::DateTime<Utc>| {
            let store = store.clone();
            async move {
                store
                    .idempotency_begin(scope, key, &fp, now, now + Duration::seconds(60))
                    .await
                    .unwrap()
            }
        };

    // Claim; the same request again while it runs; another request.
    assert_eq!(begin(s, k, fp1, t0).await, IdempotencyBegin::Started);
    let t1 = t0 + Duration::seconds(1);
    assert_eq!(begin(s, k, fp1, t1).await, IdempotencyBegin::InProgress);
    assert_eq!(begin(s, k, fp2, t1).await, IdempotencyBegin::Mismatch);
    // Keys are per scope.
    assert_eq!(
        begin("https://idp.test|bob", k, fp2, t1).await,
        IdempotencyBegin::Started
    );

    // Only the claim's own lease finishes it, and only once.
    let response = stored(201, &[0, 159, 255, b'{', b'}']);
    let expires = t0 + Duration::hours(24);
    assert!(
        !store
            .idempotency_finish(s, k, lease + Duration::seconds(1), &response, expires)
            .await
            .unwrap()
    );
    assert!(
        store
            .idempotency_finish(s, k, lease, &response, expires)
            .await
            .unwrap()
    );
    assert!(
        !store
            .idempotency_finish(s, k, lease, &stored(200, b"other"), expires)
            .await
            .unwrap()
    );

    // Replayed byte for byte; a different request is still a mismatch;
    // abandoning does not touch a stored response.
    let t2 = t0 + Duration::seconds(2);
    assert_eq!(
        begin(s, k, fp1, t2).await,
        IdempotencyBegin::Replay(response.clone())
    );
    assert_eq!(begin(s, k, fp2, t2).await, IdempotencyBegin::Mismatch);
    store.idempotency_abandon(s, k, lease).await.unwrap();
    assert_eq!(
        begin(s, k, fp1, t0 + Duration::hours(23)).await,
        IdempotencyBegin::Replay(response.clone())
    );

    // Once expired, the key is new again (for any request).
    let t3 = t0 + Duration::hours(25);
    assert_eq!(begin(s, k, fp2, t3).await, IdempotencyBegin::Started);
    assert_eq!(
        begin(s, k, fp1, t3 + Duration::seconds(1)).await,
        IdempotencyBegin::Mismatch
    );

    // A response without a content type or location, and an empty body.
    let k2 = "key-2";
    assert_eq!(begin(s, k2, fp1, t0).await, IdempotencyBegin::Started);
    let empty = StoredResponse {
        status: 204,
        content_type: None,
        location: None,
        body: Vec::new(),
    };
    assert!(
        store
            .idempotency_finish(s, k2, lease, &empty, expires)
            .await
            .unwrap()
    );
    assert_eq!(begin(s, k2, fp1, t1).await, IdempotencyBegin::Replay(empty));

    // Abandoning a claim frees the key: the request may run again.
    let k3 = "key-3";
    assert_eq!(begin(s, k3, fp1, t0).await, IdempotencyBegin::Started);
    store.idempotency_abandon(s, k3, lease).await.unwrap();
    assert_eq!(begin(s, k3, fp2, t1).await, IdempotencyBegin::Started);
}

#[tokio::test]
async fn idempotency_claim_replay_mismatch() {
    on_every_backend!(idempotency_scenario);
}

async fn idempotency_lease_scenario(store: DynStore) {
    let t0 = truncate_micros(Utc::now());
    let (s, k, fp) = ("anon:x", "lease", [7u8; 32]);
    let lease1 = t0 + Duration::seconds(60);
    let started = store
        .idempotency_begin(s, k, &fp, t0, lease1)
        .await
        .unwrap();
    assert_eq!(started, IdempotencyBegin::Started);
    // Within the lease the key stays taken.
    let t30 = t0 + Duration::seconds(30);
    assert_eq!(
        store
            .idempotency_begin(s, k, &fp, t30, t30 + Duration::seconds(60))
            .await
            .unwrap(),
        IdempotencyBegin::InProgress
    );
    // The owner died: after its lease another request takes the key over.
    let t61 = t0 + Duration::seconds(61);
    let lease2 = t61 + Duration::seconds(60);
    assert_eq!(
        store
            .idempotency_begin(s, k, &fp, t61, lease2)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    // The first owner, back late, can neither store nor release the key.
    assert!(
        !store
            .idempotency_finish(
                s,
                k,
                lease1,
                &stored(200, b"late"),
                t0 + Duration::hours(24)
            )
            .await
            .unwrap()
    );
    store.idempotency_abandon(s, k, lease1).await.unwrap();
    let t62 = t0 + Duration::seconds(62);
    assert_eq!(
        store
            .idempotency_begin(s, k, &fp, t62, t62 + Duration::seconds(60))
            .await
            .unwrap(),
        IdempotencyBegin::InProgress
    );
    let response = stored(201, b"{\"id\":1}");
    assert!(
        store
            .idempotency_finish(s, k, lease2, &response, t0 + Duration::hours(24))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .idempotency_begin(s, k, &fp, t62, t62 + Duration::seconds(60))
            .await
            .unwrap(),
        IdempotencyBegin::Replay(response)
    );
}

#[tokio::test]
async fn idempotency_lease_takeover() {
    on_every_backend!(idempotency_lease_scenario);
}

async fn idempotency_prune_scenario(store: DynStore) {
    let t0 = truncate_micros(Utc::now());
    let s = "https://idp.test|carol";
    let fp = [3u8; 32];
    let claim = |key: &'static str| {
        let store = store.clone();
        async move {
            let lease = t0 + Duration::seconds(60);
            assert_eq!(
                store
                    .idempotency_begin(s, key, &fp, t0, lease)
                    .await
                    .unwrap(),
                IdempotencyBegin::Started
            );
            lease
        }
    };
    let lease = claim("day").await;
    store
        .idempotency_finish(
            s,
            "day",
            lease,
            &stored(201, b"a"),
            t0 + Duration::hours(24),
        )
        .await
        .unwrap();
    let lease = claim("two-days").await;
    store
        .idempotency_finish(
            s,
            "two-days",
            lease,
            &stored(201, b"b"),
            t0 + Duration::hours(48),
        )
        .await
        .unwrap();
    claim("abandoned-claim").await;

    assert_eq!(
        store
            .idempotency_prune(t0 + Duration::seconds(30))
            .await
            .unwrap(),
        0
    );
    // The lapsed claim goes first, then the responses as they expire.
    assert_eq!(
        store
            .idempotency_prune(t0 + Duration::minutes(2))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .idempotency_prune(t0 + Duration::hours(25))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        store
            .idempotency_begin(
                s,
                "two-days",
                &fp,
                t0 + Duration::hours(25),
                t0 + Duration::hours(25)
            )
            .await
            .unwrap(),
        IdempotencyBegin::Replay(_)
    ));
    assert_eq!(
        store
            .idempotency_prune(t0 + Duration::hours(49))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .idempotency_prune(t0 + Duration::hours(49))
            .await
            .unwrap(),
        0
    );
    // A pruned key is new.
    assert_eq!(
        store
            .idempotency_begin(s, "day", &[4u8; 32], t0, t0 + Duration::seconds(60))
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
}

#[tokio::test]
async fn idempotency_prune() {
    on_every_backend!(idempotency_prune_scenario);
}

async fn idempotency_concurrent_scenario(store: DynStore) {
    // 50 racers for one fresh key: exactly one owns it.
    async fn race(
        store: &DynStore,
        key: &'static str,
        now: chrono::DateTime<Utc>,
    ) -> Vec<IdempotencyBegin> {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .idempotency_begin(
                        "https://idp.test|dave",
                        key,
                        &[9u8; 32],
                        now,
                        now + Duration::seconds(60),
                    )
                    .await
                    .unwrap()
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        results
    }
    let started = |r: &[IdempotencyBegin]| {
        r.iter()
            .filter(|b| **b == IdempotencyBegin::Started)
            .count()
    };

    let t0 = truncate_micros(Utc::now());
    let results = race(&store, "race", t0).await;
    assert_eq!(started(&results), 1, "exactly one claim: {results:?}");
    assert_eq!(
        results
            .iter()
            .filter(|b| **b == IdempotencyBegin::InProgress)
            .count(),
        49
    );

    // 50 racers for a lapsed claim: exactly one takes it over.
    let results = race(&store, "race", t0 + Duration::seconds(61)).await;
    assert_eq!(started(&results), 1, "exactly one takeover: {results:?}");

    // 50 racers after the response is stored: all replay it.
    let response = stored(201, b"{\"ok\":true}");
    assert!(
        store
            .idempotency_finish(
                "https://idp.test|dave",
                "race",
                t0 + Duration::seconds(121),
                &response,
                t0 + Duration::hours(24),
            )
            .await
            .unwrap()
    );
    let results = race(&store, "race", t0 + Duration::seconds(122)).await;
    assert!(
        results
            .iter()
            .all(|b| *b == IdempotencyBegin::Replay(response.clone()))
    );
}

#[tokio::test]
async fn idempotency_concurrent_claim() {
    on_every_backend!(idempotency_concurrent_scenario);
}
