//! `admin`: platform administration. Users and their roles, suspensions
//! (which end every session at once), organizer applications, and the
//! audit log. Every route needs the `admin` role.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::Deserialize;
use tg_auth::Caller;
use tg_http::{ApiError, Json, PageParams, Paged, Path, ProblemDoc, Query};
use tg_platform::{AppState, FunctionSpec};
use tg_store::{ApplicationStatus, AuditEntry, OrganizerApplication, Role, UserStatus};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "admin",
    router,
    openapi,
};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/admin/users", get(list_users))
        .route("/v1/admin/users/{id}/roles", post(set_roles))
        .route("/v1/admin/users/{id}/suspend", post(suspend))
        .route("/v1/admin/users/{id}/reinstate", post(reinstate))
        .route("/v1/admin/audit-log", get(audit_log))
        .route("/v1/organizer-applications", get(list_applications))
        .route("/v1/organizer-applications/{id}/approve", post(approve))
        .route("/v1/organizer-applications/{id}/reject", post(reject))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(list_users, set_roles, suspend, reinstate, audit_log, list_applications, approve, reject),
    components(schemas(AdminUserView, SetRolesRequest, AuditEntry, OrganizerApplication, ProblemDoc)),
    tags((name = "admin", description = "Platform administration"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("this action needs the `admin` role"))
    }
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AdminUserView {
    pub id: Uuid,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: String,
    pub roles: Vec<Role>,
    pub status: UserStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<tg_store::User> for AdminUserView {
    fn from(u: tg_store::User) -> Self {
        Self {
            id: u.id,
            issuer: u.iss,
            subject: u.sub,
            email: u.email,
            name: u.name,
            roles: u.roles,
            status: u.status,
            created_at: u.created_at,
        }
    }
}

/// All users, in creation order.
#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of users", body = Paged<AdminUserView>),
              (status = 403, description = "Not an admin", body = ProblemDoc, content_type = "application/problem+json")))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<AdminUserView>>, ApiError> {
    require_admin(&caller)?;
    let page = page.parse::<Uuid>()?;
    let rows = state.store.list_users(page.after, page.limit).await?;
    Ok(Json(
        Paged::from_rows(rows, page.limit, |u| u.id).map(AdminUserView::from),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRolesRequest {
    /// The complete set (`user` is always kept).
    pub roles: Vec<Role>,
}

/// Replace a user's roles.
#[utoipa::path(post, path = "/v1/admin/users/{id}/roles", tag = "admin", request_body = SetRolesRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = AdminUserView),
              (status = 404, description = "No such user", body = ProblemDoc, content_type = "application/problem+json")))]
async fn set_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<SetRolesRequest>,
) -> Result<Json<AdminUserView>, ApiError> {
    require_admin(&caller)?;
    if id == caller.user_id && !body.roles.contains(&Role::Admin) {
        return Err(ApiError::conflict(
            "cannot_demote_self",
            "an admin cannot remove their own admin role",
        ));
    }
    let user = state
        .store
        .set_roles(id, &body.roles, Some(caller.user_id))
        .await?;
    Ok(Json(user.into()))
}

/// Suspend a user: every session ends at once and new logins are refused.
#[utoipa::path(post, path = "/v1/admin/users/{id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = AdminUserView)))]
async fn suspend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<AdminUserView>, ApiError> {
    require_admin(&caller)?;
    if id == caller.user_id {
        return Err(ApiError::conflict(
            "cannot_suspend_self",
            "an admin cannot suspend themselves",
        ));
    }
    Ok(Json(
        state
            .store
            .set_user_status(id, UserStatus::Suspended, Some(caller.user_id))
            .await?
            .into(),
    ))
}

/// Lift a suspension.
#[utoipa::path(post, path = "/v1/admin/users/{id}/reinstate", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = AdminUserView)))]
async fn reinstate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<AdminUserView>, ApiError> {
    require_admin(&caller)?;
    Ok(Json(
        state
            .store
            .set_user_status(id, UserStatus::Active, Some(caller.user_id))
            .await?
            .into(),
    ))
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/v1/admin/audit-log", tag = "admin", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of entries", body = Paged<AuditEntry>)))]
async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<AuditEntry>>, ApiError> {
    require_admin(&caller)?;
    let page = page.parse::<Uuid>()?;
    let rows = state.store.list_audit(page.after, page.limit).await?;
    Ok(Json(Paged::from_rows(rows, page.limit, |e| e.id)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApplicationsQuery {
    pub status: Option<ApplicationStatus>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Organizer applications (filter by `status`).
#[utoipa::path(get, path = "/v1/organizer-applications", tag = "admin", params(ApplicationsQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of applications", body = Paged<OrganizerApplication>)))]
async fn list_applications(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ApplicationsQuery>,
) -> Result<Json<Paged<OrganizerApplication>>, ApiError> {
    require_admin(&caller)?;
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse::<Uuid>()?;
    let rows = state
        .store
        .list_applications(q.status, page.after, page.limit)
        .await?;
    Ok(Json(Paged::from_rows(rows, page.limit, |a| a.id)))
}

/// Approve an application: the user becomes an organizer.
#[utoipa::path(post, path = "/v1/organizer-applications/{id}/approve", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Application id")),
    responses((status = 200, description = "The decided application", body = OrganizerApplication),
              (status = 409, description = "Already decided", body = ProblemDoc, content_type = "application/problem+json")))]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<OrganizerApplication>, ApiError> {
    require_admin(&caller)?;
    Ok(Json(
        state
            .store
            .decide_application(id, true, caller.user_id)
            .await?,
    ))
}

/// Reject an application.
#[utoipa::path(post, path = "/v1/organizer-applications/{id}/reject", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Application id")),
    responses((status = 200, description = "The decided application", body = OrganizerApplication)))]
async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<OrganizerApplication>, ApiError> {
    require_admin(&caller)?;
    Ok(Json(
        state
            .store
            .decide_application(id, false, caller.user_id)
            .await?,
    ))
}
