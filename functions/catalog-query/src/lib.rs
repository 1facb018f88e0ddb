//! `catalog-query`: the public catalog. Lists published events (text
//! search, city/category/date filters, keyset pagination, soonest first)
//! and reads one event with its ticket types and live availability.
//! Read-heavy and anonymous, so it scales apart from the organizer writes.

mod cache;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use tg_auth::MaybeCaller;
use tg_catalog::{EventCursor, EventView, ListEventsQuery};
use tg_http::{ApiError, Json, PageParams, Paged, Path, ProblemDoc, Query};
use tg_platform::{AppState, FunctionSpec};
use tg_store::{EventFilter, EventStatus, Scope};
use utoipa::OpenApi;
use uuid::Uuid;

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "catalog-query",
    router,
    openapi,
};

#[derive(Clone)]
struct QueryState {
    app: AppState,
    cache: Arc<cache::EventCache>,
}

impl FromRef<QueryState> for AppState {
    fn from_ref(s: &QueryState) -> AppState {
        s.app.clone()
    }
}

impl FromRef<QueryState> for Arc<tg_auth::Authenticator> {
    fn from_ref(s: &QueryState) -> Self {
        s.app.auth.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let cache = Arc::new(cache::EventCache::new(
        state.config.catalog_cache_ms,
        state.catalog_generation.clone(),
    ));
    Router::new()
        .route("/v1/events", get(list_events))
        .route("/v1/events/{id}", get(get_event))
        .with_state(QueryState { app: state, cache })
}

#[derive(OpenApi)]
#[openapi(
    paths(list_events, get_event),
    components(schemas(EventView, ProblemDoc, Paged<EventView>)),
    tags((name = "catalog", description = "Events and ticket types"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// List published events, soonest first.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "catalog",
    params(ListEventsQuery),
    responses(
        (status = 200, description = "A page of events", body = Paged<EventView>),
        (status = 400, description = "Bad filter or cursor", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state))]
async fn list_events(
    State(state): State<AppState>,
    Query(query): Query<ListEventsQuery>,
) -> Result<Json<Paged<EventView>>, ApiError> {
    query.check()?;
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse::<EventCursor>()?;
    let non_empty = |s: &Option<String>| {
        s.as_ref()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let filter = EventFilter {
        q: non_empty(&query.q),
        city: non_empty(&query.city),
        category: non_empty(&query.category),
        from: query
            .from
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now),
        to: query.to.map(|t| t.with_timezone(&Utc)),
        status: EventStatus::Published,
        organizer_id: None,
        after: page.after,
        limit: page.limit,
    };
    let rows = state.store.list_events(&filter).await?;
    let page = Paged::from_rows(rows, page.limit, |e| (e.starts_at, e.id));
    Ok(Json(page.map(EventView::from)))
}

/// Read one event with its ticket types and live availability. Drafts are
/// visible only to their organizer and admins (404 for everyone else).
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = "catalog",
    params(("id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 400, description = "The id is not a UUID", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such event (or a draft you may not see)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, caller))]
async fn get_event(
    State(state): State<QueryState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let json = [(header::CONTENT_TYPE, "application/json")];
    if let Some(body) = state.cache.get(&id) {
        return Ok((json, body).into_response());
    }
    let generation = state.cache.generation();
    let event = state.app.store.get_event(id, Scope::All).await?;
    if event.status == EventStatus::Draft {
        let may_see = caller
            .as_ref()
            .is_some_and(|c| c.is_admin() || c.user_id == event.organizer_id);
        if !may_see {
            return Err(ApiError::not_found("event"));
        }
        return Ok(Json(EventView::from(event)).into_response());
    }
    let body = bytes::Bytes::from(
        serde_json::to_vec(&EventView::from(event)).map_err(ApiError::internal)?,
    );
    if state.cache.enabled() {
        state.cache.put(id, generation, body.clone());
    }
    Ok((json, body).into_response())
}
