//! The authorization (BOLA) matrix, generated from the OpenAPI document:
//! every operation of `ticketgw::openapi()` x {anonymous, buyer A, buyer B,
//! organizer X, organizer Y, door staff of X's event, admin}, on every
//! backend.
//!
//! * `TABLE` has one row per operation (method, path template, the expected
//!   outcome per identity). An operation of the document without a row, or
//!   a row naming an operation the document no longer has, fails
//!   `every_operation_has_exactly_one_row`: a new route must declare who may
//!   call it.
//! * Every object belongs to someone: X's published event (A's paid booking
//!   with tickets and its payment, A's held bookings, X's door staff) and
//!   X's draft, a pending organizer application, a user an admin may act on.
//!   Writes get a fresh scene per cell, so one identity's success never
//!   changes what the next one meets.
//! * A write whose expected outcome is not `Ok` re-reads the scene (as
//!   admin, and the outbox) and proves nothing changed.
//! * Negative controls: a router whose refund and booking-read ownership
//!   checks are bypassed by a wrapper layer is caught by the same checker;
//!   the row check catches a missing and a stale row.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use reqwest::Method;
use serde_json::{Value, json};
use tg_store::{DynStore, Role, Scope};
use tg_testkit::{Backend, TestApp, TestDb, days_from_now, spawn_router, user_with_token};
use uuid::Uuid;

const ACTORS: [&str; 7] = [
    "anon", "buyerA", "buyerB", "orgX", "orgY", "staffX", "admin",
];

/// What one identity gets from one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// 2xx: the caller may do this.
    Ok,
    /// 401 `unauthorized`.
    Unauthorized,
    /// 403 `forbidden` (a role the caller lacks).
    Forbidden,
    /// 404 (a resource the caller may not see).
    NotFound,
    /// A problem+json with this status and `code`.
    Code(u16, &'static str),
    /// This status, not a success: a write must have changed nothing.
    Status(u16),
}
use Want::{Code, Forbidden, NotFound, Ok, Status, Unauthorized};

struct Row {
    method: &'static str,
    path: &'static str,
    /// In `ACTORS` order.
    want: [Want; 7],
}

const fn row(method: &'static str, path: &'static str, want: [Want; 7]) -> Row {
    Row { method, path, want }
}

const U: Want = Unauthorized;
const F: Want = Forbidden;
const N: Want = NotFound;
const O: Want = Ok;

/// One row per operation:                       anon  A  B  X  Y  staff admin
#[rustfmt::skip]
const TABLE: &[Row] = &[
    // identity: anyone
    row("GET", "/.well-known/openid-configuration", [O, O, O, O, O, O, O]),
    row("GET", "/v1/auth/jwks",                     [O, O, O, O, O, O, O]),
    row("POST", "/v1/auth/register",                [O, O, O, O, O, O, O]),
    row("POST", "/v1/auth/login",                   [O, O, O, O, O, O, O]),
    row("POST", "/v1/auth/refresh",                 [O, O, O, O, O, O, O]),
    row("POST", "/v1/auth/logout",                  [O, O, O, O, O, O, O]),
    // the provider's OAuth 2.0 / OIDC endpoints: anyone (the browser's flow)
    row("GET", "/v1/auth/authorize",                [O, O, O, O, O, O, O]),
    row("POST", "/v1/auth/authorize",               [Status(400); 7]),
    // (a refresh-token grant; a bearer token on the request is client
    // authentication, which the public client may not use: 400)
    row("POST", "/v1/auth/token",                   [O, Status(400), Status(400), Status(400), Status(400), Status(400), Status(400)]),
    row("GET", "/v1/auth/end-session",              [Status(303); 7]),
    // email verification and password reset: whoever holds the mailed token
    row("POST", "/v1/auth/verify-email",            [Code(400, "invalid_token"); 7]),
    row("POST", "/v1/auth/verify-email/resend",     [U, O, O, O, O, O, O]),
    row("POST", "/v1/auth/password-reset",          [O, O, O, O, O, O, O]),
    row("POST", "/v1/auth/password-reset/confirm",  [Code(400, "invalid_token"); 7]),
    // accounts: one's own profile
    row("GET", "/v1/me",                            [U, O, O, O, O, O, O]),
    row("PATCH", "/v1/me",                          [U, O, O, O, O, O, O]),
    row("POST", "/v1/organizer-applications",       [U, O, O, Code(409, "already_organizer"), Code(409, "already_organizer"), O, Code(409, "already_organizer")]),
    // admin
    row("GET", "/v1/admin/users",                   [U, F, F, F, F, F, O]),
    row("POST", "/v1/admin/users/{id}/roles",       [U, F, F, F, F, F, O]),
    row("POST", "/v1/admin/users/{id}/suspend",     [U, F, F, F, F, F, O]),
    row("POST", "/v1/admin/users/{id}/reinstate",   [U, F, F, F, F, F, O]),
    row("GET", "/v1/admin/audit-log",               [U, F, F, F, F, F, O]),
    row("GET", "/v1/organizer-applications",        [U, F, F, F, F, F, O]),
    row("POST", "/v1/organizer-applications/{id}/approve", [U, F, F, F, F, F, O]),
    row("POST", "/v1/organizer-applications/{id}/reject",  [U, F, F, F, F, F, O]),
    // catalog: published events public, drafts owner and admin
    row("GET", "/v1/events",                        [O, O, O, O, O, O, O]),
    // (the object is X's draft: published events are public, `GET /v1/events`)
    row("GET", "/v1/events/{id}",                   [N, N, N, O, N, N, O]),
    row("POST", "/v1/events",                       [U, F, F, O, O, F, O]),
    row("PATCH", "/v1/events/{id}",                 [U, F, F, O, N, F, O]),
    row("POST", "/v1/events/{id}/ticket-types",     [U, F, F, O, N, F, O]),
    row("PATCH", "/v1/events/{id}/ticket-types/{ticket_type_id}", [U, F, F, O, N, F, O]),
    row("POST", "/v1/events/{id}/publish",          [U, F, F, O, N, F, O]),
    row("POST", "/v1/events/{id}/cancel",           [U, F, F, O, N, F, O]),
    // bookings: the buyer's own; the event's organizer and admins read
    row("POST", "/v1/bookings",                     [U, O, O, O, O, O, O]),
    row("GET", "/v1/bookings/{id}",                 [U, O, N, O, N, N, O]),
    row("POST", "/v1/bookings/{id}/cancel",         [U, O, N, N, N, N, N]),
    row("GET", "/v1/me/bookings",                   [U, O, O, O, O, O, O]),
    row("GET", "/v1/events/{id}/bookings",          [U, F, F, O, N, F, O]),
    // payments
    row("POST", "/v1/bookings/{id}/checkout",       [U, O, N, N, N, N, N]),
    row("POST", "/v1/payments/webhooks/{provider}", [Code(400, "invalid_signature"); 7]),
    row("GET", "/v1/payments/{id}",                 [U, O, N, O, N, N, O]),
    row("POST", "/v1/payments/{id}/refund",         [U, F, F, O, N, F, O]),
    // the simulated provider's pay page: whoever holds its id (local mode only)
    row("POST", "/v1/payments/simulated/{id}/succeed", [O, O, O, O, O, O, O]),
    row("POST", "/v1/payments/simulated/{id}/fail",    [O, O, O, O, O, O, O]),
    // tickets and the door
    row("GET", "/v1/bookings/{id}/tickets",         [U, O, N, O, N, N, O]),
    row("GET", "/v1/tickets/{id}/qr.svg",           [U, O, N, O, N, N, O]),
    row("GET", "/v1/tickets/{id}.pdf",              [U, O, N, O, N, N, O]),
    row("PATCH", "/v1/tickets/{id}",                [U, O, N, N, N, N, N]),
    row("POST", "/v1/checkins",                     [U, F, F, O, F, O, O]),
    row("POST", "/v1/checkins/batch",               [U, F, F, O, F, O, O]),
    row("GET", "/v1/events/{id}/door",              [U, N, N, O, N, O, O]),
    row("GET", "/v1/events/{id}/ticket-key",        [U, N, N, O, N, O, O]),
    row("GET", "/v1/events/{id}/staff",             [U, F, F, O, N, F, O]),
    row("POST", "/v1/events/{id}/staff",            [U, F, F, O, N, F, O]),
    row("DELETE", "/v1/events/{id}/staff/{user_id}", [U, F, F, O, N, F, O]),
];

// ---- the operations of the document ------------------------------------------

fn document_operations(doc: &utoipa::openapi::OpenApi) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
            ("HEAD", item.head.is_some()),
            ("OPTIONS", item.options.is_some()),
            ("TRACE", item.trace.is_some()),
        ];
        for (m, present) in methods {
            if present {
                ops.insert((m.to_string(), path.clone()));
            }
        }
    }
    ops
}

/// Operations without a row, rows without an operation, duplicate rows.
fn row_problems(doc: &BTreeSet<(String, String)>, table: &[Row]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut rows = BTreeSet::new();
    for r in table {
        if !rows.insert((r.method.to_string(), r.path.to_string())) {
            problems.push(format!("duplicate row {} {}", r.method, r.path));
        }
    }
    for (m, p) in doc.difference(&rows) {
        problems.push(format!("no row for {m} {p}: declare who may call it"));
    }
    for (m, p) in rows.difference(doc) {
        problems.push(format!("row {m} {p} names no operation of the document"));
    }
    problems
}

#[test]
fn every_operation_has_exactly_one_row() {
    let ops = document_operations(&ticketgw::openapi());
    assert!(
        ops.len() >= 40,
        "only {} operations in the document",
        ops.len()
    );
    let problems = row_problems(&ops, TABLE);
    assert!(problems.is_empty(), "{problems:#?}");

    // Negative controls: a new operation without a row, and a row whose
    // operation is gone, are both reported.
    let mut more = ops.clone();
    more.insert(("POST".into(), "/v1/events/{id}/clone".into()));
    let p = row_problems(&more, TABLE);
    assert_eq!(
        p,
        vec!["no row for POST /v1/events/{id}/clone: declare who may call it"]
    );
    let mut fewer = ops.clone();
    fewer.remove(&("GET".to_string(), "/v1/events/{id}/door".to_string()));
    let p = row_problems(&fewer, TABLE);
    assert_eq!(
        p,
        vec!["row GET /v1/events/{id}/door names no operation of the document"]
    );
}

// ---- the world and its scenes --------------------------------------------------

struct World {
    app: TestApp,
    store: DynStore,
    tokens: HashMap<&'static str, String>,
    ids: HashMap<&'static str, Uuid>,
    /// The web app's base URL (the built-in provider's registered client).
    web_url: String,
    /// Redirects are outcomes here, not followed.
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn world(db: TestDb, widen: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("TICKETGW_DATA_DIR", dir.path().display().to_string()),
        ("TICKETGW_AUTH_RATE_PER_IP", "1000000".to_string()),
        ("TICKETGW_AUTH_RATE_PER_ACCOUNT", "1000000".to_string()),
        ("TICKETGW_HOLD_RATE_PER_IP", "0".to_string()),
        ("TICKETGW_PAYMENT_PROVIDER", "simulated".to_string()),
    ]);
    let config = ticketgw::local_config(|k| env.get(k).cloned()).unwrap();
    let state = tg_platform::build_state(config).await.unwrap();
    let mut tokens = HashMap::new();
    let mut ids = HashMap::new();
    for (name, roles) in [
        ("buyerA", vec![Role::User]),
        ("buyerB", vec![Role::User]),
        ("orgX", vec![Role::User, Role::Organizer]),
        ("orgY", vec![Role::User, Role::Organizer]),
        ("staffX", vec![Role::User]),
        ("admin", vec![Role::User, Role::Organizer, Role::Admin]),
    ] {
        let (id, token) = user_with_token(&state, &format!("{name}@bola.test"), &roles).await;
        tokens.insert(name, token);
        ids.insert(name, id);
    }
    let mut router = ticketgw::app(&state);
    if widen {
        router = widened(router, tokens["admin"].clone(), tokens["buyerA"].clone());
    }
    let store = state.store.clone();
    let web_url = state.config.web_url.clone();
    let app = spawn_router(router, state, db).await;
    World {
        app,
        store,
        tokens,
        ids,
        web_url,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _dir: dir,
    }
}

/// The negative control's broken platform: a wrapper layer in front of the
/// real router that skips two ownership checks. Refunds run as the admin
/// whoever asks, and any signed-in caller reads a booking as its buyer.
fn widened(router: axum::Router, admin: String, buyer_a: String) -> axum::Router {
    use axum::http::{HeaderValue, Request, header::AUTHORIZATION};
    router.layer(axum::middleware::map_request(
        move |mut req: Request<axum::body::Body>| {
            let (admin, buyer_a) = (admin.clone(), buyer_a.clone());
            async move {
                let path = req.uri().path().to_string();
                let signed_in = req.headers().contains_key(AUTHORIZATION);
                let as_whom = if path.starts_with("/v1/payments/") && path.ends_with("/refund") {
                    Some(admin)
                } else if req.method() == axum::http::Method::GET
                    && path.starts_with("/v1/bookings/")
                    && path.matches('/').count() == 3
                {
                    Some(buyer_a)
                } else {
                    None
                };
                if let (true, Some(t)) = (signed_in, as_whom) {
                    req.headers_mut().insert(
                        AUTHORIZATION,
                        HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
                    );
                }
                req
            }
        },
    ))
}

/// The objects one cell acts on; every one belongs to someone.
struct Scene {
    /// X's published event and its ticket type.
    event: Uuid,
    tt: Uuid,
    /// X's draft event and its ticket type.
    draft: Uuid,
    draft_tt: Uuid,
    /// A's paid booking, its payment and its first ticket.
    paid: Uuid,
    payment: Uuid,
    ticket: Uuid,
    code: String,
    /// A's held booking (no payment yet).
    held: Uuid,
    /// A's held booking with a simulated payment open: its provider id.
    sim: String,
    /// A pending organizer application of `applicant`.
    application: Uuid,
    applicant: Uuid,
    /// A user an admin acts on (roles, suspension).
    victim: Uuid,
}

impl World {
    async fn send(&self, actor: &str, req: &Req) -> (u16, String, Value) {
        let mut b = self
            .client
            .request(req.method.clone(), format!("{}{}", self.app.base, req.path));
        if let Some(t) = self.tokens.get(actor) {
            b = b.bearer_auth(t);
        }
        for (k, v) in &req.headers {
            b = b.header(*k, v);
        }
        if let Some(body) = &req.body {
            b = b.json(body);
        } else if let Some(form) = &req.form {
            b = b
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone());
        } else if let Some(raw) = &req.raw {
            b = b
                .header("content-type", "application/json")
                .body(raw.clone());
        }
        let r = b.send().await.unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = r.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, ct, body)
    }

    async fn as_(&self, actor: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, _, v) = self
            .send(
                actor,
                &Req {
                    method: method.clone(),
                    path: path.to_string(),
                    body,
                    ..Req::default()
                },
            )
            .await;
        assert!((200..300).contains(&s), "{actor} {method} {path}: {s} {v}");
        v
    }

    async fn scene(&self) -> Scene {
        let s = &self.store;
        let x = self.ids["orgX"];
        let event = |title: &str| tg_store::NewEvent {
            title: title.into(),
            description: "d".into(),
            venue: "Hall".into(),
            city: "Berlin".into(),
            category: "music".into(),
            timezone: "Europe/Berlin".into(),
            image_url: None,
            starts_at: tg_store::truncate_micros(chrono::Utc::now() + chrono::Duration::days(20)),
            ends_at: tg_store::truncate_micros(chrono::Utc::now() + chrono::Duration::days(21)),
            hold_minutes: tg_store::DEFAULT_HOLD_MINUTES,
            refund_cutoff_hours: Some(1),
        };
        let tt = tg_store::NewTicketType {
            name: "GA".into(),
            price_cents: 2500,
            currency: tg_store::Currency::parse("EUR").unwrap(),
            capacity: 50,
            max_per_order: 10,
            sales_start: None,
            sales_end: None,
        };
        let e = s.create_event(x, &event("X's show")).await.unwrap();
        let t = s.add_ticket_type(e.id, Scope::All, &tt).await.unwrap();
        s.publish_event(e.id, Scope::All, chrono::Utc::now())
            .await
            .unwrap();
        let d = s.create_event(x, &event("X's draft")).await.unwrap();
        let dt = s.add_ticket_type(d.id, Scope::All, &tt).await.unwrap();
        s.add_staff(e.id, Scope::All, self.ids["staffX"], x)
            .await
            .unwrap();
        let hold = json!({"event_id": e.id, "items": [{"ticket_type_id": t.id, "quantity": 2}]});
        let booking = || {
            let hold = hold.clone();
            async move {
                let b = self
                    .as_("buyerA", Method::POST, "/v1/bookings", Some(hold))
                    .await;
                b["id"].as_str().unwrap().parse::<Uuid>().unwrap()
            }
        };
        let paid = booking().await;
        let held = booking().await;
        let open = booking().await;
        let checkout = |b: Uuid| async move {
            self.as_(
                "buyerA",
                Method::POST,
                &format!("/v1/bookings/{b}/checkout"),
                None,
            )
            .await
        };
        let c = checkout(paid).await;
        let sim_paid = c["redirect_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        self.as_(
            "anon",
            Method::POST,
            &format!("/v1/payments/simulated/{sim_paid}/succeed"),
            None,
        )
        .await;
        let payment = c["payment_id"].as_str().unwrap().parse().unwrap();
        let c = checkout(open).await;
        let sim = c["redirect_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let tickets = s.tickets_of_booking(paid).await.unwrap();
        assert_eq!(tickets.len(), 2);
        let fresh = |name: &str| tg_store::NewUser {
            iss: "https://bola.test".into(),
            sub: Uuid::new_v4().to_string(),
            email: Some(format!("{name}-{}@bola.test", Uuid::new_v4().simple())),
            name: name.into(),
            roles: vec![Role::User],
        };
        let applicant = s.upsert_user(&fresh("applicant")).await.unwrap().id;
        let application = s
            .apply_for_organizer(applicant, "I run a jazz club")
            .await
            .unwrap()
            .id;
        let victim = s.upsert_user(&fresh("victim")).await.unwrap().id;
        Scene {
            event: e.id,
            tt: t.id,
            draft: d.id,
            draft_tt: dt.id,
            paid,
            payment,
            ticket: tickets[0].id,
            code: tickets[0].code.clone(),
            held,
            sim,
            application,
            applicant,
            victim,
        }
    }

    /// Everything a forbidden write could have touched, as the admin and the
    /// store see it.
    async fn snapshot(&self, sc: &Scene) -> Vec<String> {
        let mut out = Vec::new();
        for path in [
            format!("/v1/events/{}", sc.event),
            format!("/v1/events/{}", sc.draft),
            format!("/v1/bookings/{}", sc.paid),
            format!("/v1/bookings/{}", sc.held),
            format!("/v1/payments/{}", sc.payment),
            format!("/v1/bookings/{}/tickets", sc.paid),
            format!("/v1/events/{}/staff", sc.event),
            format!("/v1/events/{}/door", sc.event),
            format!("/v1/events/{}/bookings", sc.event),
        ] {
            let (s, _, v) = self
                .send(
                    "admin",
                    &Req {
                        method: Method::GET,
                        path: path.clone(),
                        ..Req::default()
                    },
                )
                .await;
            out.push(format!("{path} {s} {v}"));
        }
        let st = &self.store;
        for u in [sc.applicant, sc.victim] {
            let u = st.get_user(u).await.unwrap();
            out.push(format!("{:?} {:?} {:?}", u.id, u.roles, u.status));
        }
        let apps = st.list_applications(None, None, 10_000).await.unwrap();
        let a = apps.iter().find(|a| a.id == sc.application).unwrap();
        out.push(format!("application {:?}", a.status));
        for name in ACTORS.iter().skip(1) {
            let u = st.get_user(self.ids[name]).await.unwrap();
            out.push(format!("{name} {} {:?} {:?}", u.name, u.roles, u.status));
        }
        out.push(format!(
            "outbox {}",
            st.outbox_after(0, 1_000_000).await.unwrap().len()
        ));
        out
    }
}

#[derive(Default)]
struct Req {
    method: Method,
    path: String,
    body: Option<Value>,
    raw: Option<String>,
    form: Option<String>,
    headers: Vec<(&'static str, String)>,
}

/// The request a cell sends: the operation applied to the scene's object.
async fn request(w: &World, sc: &Scene, method: &str, template: &str) -> Req {
    let m: Method = method.parse().unwrap();
    let ids = |p: &str| {
        p.replace("{provider}", "simulated")
            .replace("{ticket_type_id}", &sc.draft_tt.to_string())
            .replace("{user_id}", &w.ids["staffX"].to_string())
    };
    let id: String = match (method, template) {
        ("POST", "/v1/admin/users/{id}/roles")
        | ("POST", "/v1/admin/users/{id}/suspend")
        | ("POST", "/v1/admin/users/{id}/reinstate") => sc.victim.to_string(),
        (_, p) if p.starts_with("/v1/organizer-applications/") => sc.application.to_string(),
        ("GET", "/v1/events/{id}") | ("PATCH", "/v1/events/{id}") => sc.draft.to_string(),
        (_, "/v1/events/{id}/ticket-types")
        | (_, "/v1/events/{id}/ticket-types/{ticket_type_id}")
        | (_, "/v1/events/{id}/publish") => sc.draft.to_string(),
        (_, p) if p.starts_with("/v1/events/") => sc.event.to_string(),
        (_, "/v1/bookings/{id}/cancel") | (_, "/v1/bookings/{id}/checkout") => sc.held.to_string(),
        (_, p) if p.starts_with("/v1/bookings/") => sc.paid.to_string(),
        (_, p) if p.starts_with("/v1/payments/simulated/") => sc.sim.clone(),
        (_, p) if p.starts_with("/v1/payments/") => sc.payment.to_string(),
        (_, p) if p.starts_with("/v1/tickets/") => sc.ticket.to_string(),
        _ => String::new(),
    };
    let path = ids(template).replace("{id}", &id);
    let mut req = Req {
        method: m,
        path,
        ..Req::default()
    };
    let fresh_email = || format!("reg-{}@bola.test", Uuid::new_v4().simple());
    let password = "correct horse battery staple";
    req.body = match (method, template) {
        ("POST", "/v1/auth/register") => {
            Some(json!({"email": fresh_email(), "password": password, "name": "New"}))
        }
        ("POST", "/v1/auth/login") | ("POST", "/v1/auth/refresh") | ("POST", "/v1/auth/logout") => {
            let email = fresh_email();
            w.as_(
                "anon",
                Method::POST,
                "/v1/auth/register",
                Some(json!({"email": email, "password": password, "name": "Login"})),
            )
            .await;
            if template == "/v1/auth/login" {
                Some(json!({"email": email, "password": password}))
            } else {
                let t = w
                    .as_(
                        "anon",
                        Method::POST,
                        "/v1/auth/login",
                        Some(json!({"email": email, "password": password})),
                    )
                    .await;
                Some(json!({"refresh_token": t["refresh_token"]}))
            }
        }
        ("PATCH", "/v1/me") => Some(json!({"name": "Renamed"})),
        ("POST", "/v1/organizer-applications") => Some(json!({"note": "I run a venue"})),
        ("POST", "/v1/admin/users/{id}/roles") => Some(json!({"roles": ["user", "organizer"]})),
        ("POST", "/v1/events") => Some(json!({"title": "t", "venue": "v", "city": "c",
            "category": "music", "timezone": "UTC", "starts_at": days_from_now(5), "ends_at": days_from_now(6)})),
        ("PATCH", "/v1/events/{id}") => Some(json!({"title": "renamed"})),
        ("POST", "/v1/events/{id}/ticket-types") => {
            Some(json!({"name": "VIP", "price_cents": 9900, "currency": "EUR", "capacity": 5}))
        }
        ("PATCH", "/v1/events/{id}/ticket-types/{ticket_type_id}") => Some(json!({"capacity": 9})),
        ("POST", "/v1/bookings") => {
            Some(json!({"event_id": sc.event, "items": [{"ticket_type_id": sc.tt, "quantity": 1}]}))
        }
        ("POST", "/v1/payments/{id}/refund") => Some(json!({"amount_cents": 100})),
        ("PATCH", "/v1/tickets/{id}") => Some(json!({"attendee_name": "Ada Lovelace"})),
        ("POST", "/v1/checkins") => Some(json!({"code": sc.code, "gate": "A"})),
        ("POST", "/v1/checkins/batch") => Some(json!({"gate": "B", "scans": [
            {"code": sc.code, "scanned_at": chrono::Utc::now().to_rfc3339(), "nonce": Uuid::new_v4().to_string()}]})),
        ("POST", "/v1/events/{id}/staff") => Some(json!({"user_id": w.ids["buyerB"]})),
        _ => None,
    };
    let web = w.web_url.trim_end_matches('/').to_string();
    let enc = |v: &str| -> String { form_encode(v) };
    match (method, template) {
        ("GET", "/v1/auth/authorize") => {
            req.path = format!(
                "{}?response_type=code&client_id=ticketgw-web&redirect_uri={}&scope=openid%20email&state=st&code_challenge={}&code_challenge_method=S256",
                req.path,
                enc(&format!("{web}/auth/callback")),
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            );
        }
        ("POST", "/v1/auth/authorize") => {
            // A sealed authorization request the provider never issued.
            req.form = Some(format!(
                "request=forged&email={}&password={}",
                enc("someone@bola.test"),
                enc(password)
            ));
        }
        ("POST", "/v1/auth/token") => {
            let email = fresh_email();
            w.as_(
                "anon",
                Method::POST,
                "/v1/auth/register",
                Some(json!({"email": email, "password": password, "name": "Token"})),
            )
            .await;
            let t = w
                .as_(
                    "anon",
                    Method::POST,
                    "/v1/auth/login",
                    Some(json!({"email": email, "password": password})),
                )
                .await;
            req.form = Some(format!(
                "grant_type=refresh_token&client_id=ticketgw-web&refresh_token={}",
                enc(t["refresh_token"].as_str().unwrap())
            ));
        }
        ("GET", "/v1/auth/end-session") => {
            req.path = format!(
                "{}?client_id=ticketgw-web&post_logout_redirect_uri={}&state=st",
                req.path,
                enc(&format!("{web}/"))
            );
        }
        ("POST", "/v1/auth/verify-email") => req.body = Some(json!({"token": "forged-token"})),
        ("POST", "/v1/auth/password-reset") => req.body = Some(json!({"email": fresh_email()})),
        ("POST", "/v1/auth/password-reset/confirm") => {
            req.body = Some(json!({"token": "forged-token", "password": "another long password"}))
        }
        _ => {}
    }
    if template == "/v1/payments/webhooks/{provider}" {
        // A provider event with a signature made without the secret.
        req.raw = Some(
            json!({"id": "evt_forged", "type": "payment_intent.succeeded",
                "data": {"object": {"id": sc.sim, "object": "payment_intent"}}})
            .to_string(),
        );
        req.headers.push((
            "stripe-signature",
            format!(
                "t={},v1={}",
                chrono::Utc::now().timestamp(),
                "ab".repeat(32)
            ),
        ));
    }
    req
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---- the checker ---------------------------------------------------------------

fn judge(want: Want, status: u16, ct: &str, body: &Value) -> bool {
    let problem = |s: u16, code: &str| {
        status == s && ct.starts_with("application/problem+json") && body["code"] == code
    };
    match want {
        Ok => (200..300).contains(&status),
        Unauthorized => problem(401, "unauthorized"),
        Forbidden => problem(403, "forbidden"),
        NotFound => status == 404 && ct.starts_with("application/problem+json"),
        Code(s, code) => problem(s, code),
        Status(s) => status == s,
    }
}

fn describe(status: u16, body: &Value) -> String {
    match body["code"].as_str() {
        Some(c) => format!("{status} {c}"),
        None => format!("{status}"),
    }
}

/// Runs the rows of `table` for every identity; returns the wrong cells and
/// the outcome counts.
async fn run_matrix(w: &World, table: &[Row]) -> (Vec<String>, BTreeMap<String, usize>) {
    let mut wrong = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let shared = w.scene().await;
    for r in table {
        for (i, actor) in ACTORS.iter().enumerate() {
            let want = r.want[i];
            let write = r.method != "GET";
            let fresh;
            let sc = if write {
                fresh = w.scene().await;
                &fresh
            } else {
                &shared
            };
            let req = request(w, sc, r.method, r.path).await;
            let before = if write && want != Ok {
                Some(w.snapshot(sc).await)
            } else {
                None
            };
            let (status, ct, body) = w.send(actor, &req).await;
            let cell = format!("{actor:>6} {} {}", r.method, r.path);
            if !judge(want, status, &ct, &body) {
                wrong.push(format!(
                    "{cell}: got {}, want {want:?}",
                    describe(status, &body)
                ));
            }
            if let Some(before) = before {
                let after = w.snapshot(sc).await;
                let changed: Vec<_> = before
                    .iter()
                    .zip(&after)
                    .filter(|(a, b)| a != b)
                    .map(|(a, b)| format!("{a}\n      -> {b}"))
                    .collect();
                if !changed.is_empty() {
                    wrong.push(format!("{cell}: a refused write changed {changed:#?}"));
                }
            }
            let label = match want {
                Code(s, c) => format!("{s} {c}"),
                Status(s) => format!("{s} without effect"),
                other => format!("{other:?}"),
            };
            *counts.entry(label).or_default() += 1;
        }
    }
    (wrong, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_read_or_write_crosses_owners() {
    for db in TestDb::all().await {
        let backend: Backend = db.backend;
        let w = world(db, false).await;
        let (wrong, counts) = run_matrix(&w, TABLE).await;
        eprintln!(
            "{backend:?}: {} operations x {} identities = {} cells; {counts:?}",
            TABLE.len(),
            ACTORS.len(),
            TABLE.len() * ACTORS.len()
        );
        assert!(wrong.is_empty(), "{backend:?}: {wrong:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_a_bypassed_ownership_check_is_caught() {
    let db = TestDb::sqlite().await;
    let w = world(db, true).await;
    let rows: Vec<Row> = TABLE
        .iter()
        .filter(|r| {
            (r.method == "POST" && r.path == "/v1/payments/{id}/refund")
                || (r.method == "GET" && r.path == "/v1/bookings/{id}")
        })
        .map(|r| row(r.method, r.path, r.want))
        .collect();
    assert_eq!(rows.len(), 2);
    let (wrong, _) = run_matrix(&w, &rows).await;
    let text = wrong.join("\n");
    for cell in [
        "buyerB GET /v1/bookings/{id}: got 200",
        "orgY GET /v1/bookings/{id}: got 200",
        "staffX GET /v1/bookings/{id}: got 200",
        "orgY POST /v1/payments/{id}/refund: got 201",
        "buyerB POST /v1/payments/{id}/refund: got 201",
    ] {
        assert!(text.contains(cell), "not caught: {cell}\n{text}");
    }
    assert!(
        text.contains("orgY POST /v1/payments/{id}/refund: a refused write changed"),
        "{text}"
    );
}
