//! `accounts`: what a signed-in user does with their own account. The
//! profile (`GET/PATCH /v1/me`: name, phone in E.164, notification
//! preferences), created on the first authenticated call whichever the
//! issuer, and applying to become an organizer.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tg_auth::Caller;
use tg_http::{ApiError, FieldError, Json, ProblemDoc};
use tg_platform::{AppState, FunctionSpec};
use tg_store::{OrganizerApplication, ProfilePatch, Role, User, UserStatus};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

pub const FUNCTION: FunctionSpec = FunctionSpec {
    name: "accounts",
    router,
    openapi,
};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/me", get(me).patch(update_me))
        .route("/v1/organizer-applications", post(apply))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(me, update_me, apply),
    components(schemas(ProfileView, UpdateProfileRequest, ApplyRequest, OrganizerApplication, ProblemDoc)),
    tags((name = "accounts", description = "Your account"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub id: Uuid,
    pub email: Option<String>,
    /// The address was confirmed through the built-in provider's
    /// verification link.
    pub email_verified: bool,
    pub name: String,
    pub phone: Option<String>,
    pub roles: Vec<Role>,
    pub notify_email: bool,
    pub notify_sms: bool,
    /// Language of emails and SMS (`en`, `de`).
    pub language: String,
    pub status: UserStatus,
    /// The identity provider that vouches for this account.
    pub issuer: String,
}

impl ProfileView {
    /// `roles` are the caller's effective roles (storage and token).
    pub fn new(u: User, roles: Vec<Role>) -> Self {
        Self {
            id: u.id,
            email: u.email,
            email_verified: u.email_verified,
            name: u.name,
            phone: u.phone,
            roles,
            notify_email: u.notify_email,
            notify_sms: u.notify_sms,
            language: u.language,
            status: u.status,
            issuer: u.iss,
        }
    }
}

/// Absent fields stay; `phone: null` removes the number. Roles, email and
/// status cannot be changed here.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// 1 to 100 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "tg_http::patch::nullable")]
    #[schema(value_type = Option<String>, example = "+4930123456")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub notify_email: Option<bool>,
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub notify_sms: Option<bool>,
    /// Language of notifications: `en` or `de`.
    #[schema(pattern = "^(en|de)$")]
    #[serde(default, deserialize_with = "tg_http::patch::present")]
    #[schema(nullable = false)]
    pub language: Option<String>,
}

/// Languages the notification templates exist in.
pub const LANGUAGES: [&str; 2] = ["en", "de"];

/// `+` then 8 to 15 digits, the first not 0 (ITU-T E.164).
pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// Your profile.
#[utoipa::path(get, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "Your profile", body = ProfileView),
              (status = 401, description = "No or invalid token", body = ProblemDoc, content_type = "application/problem+json")))]
async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<ProfileView>, ApiError> {
    let user = state.store.get_user(caller.user_id).await?;
    Ok(Json(ProfileView::new(user, caller.roles)))
}

/// Change your name, phone number, notification preferences or language.
#[utoipa::path(patch, path = "/v1/me", tag = "accounts", request_body = UpdateProfileRequest, security(("bearer" = [])),
    responses((status = 200, description = "Your profile", body = ProfileView),
              (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json")))]
async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<UpdateProfileRequest>,
) -> Result<Json<ProfileView>, ApiError> {
    let mut errors = Vec::new();
    let name = body.name.map(|n| n.trim().to_string());
    if let Some(n) = &name
        && (n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control))
    {
        errors.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    let phone = body.phone.map(|p| p.map(|p| p.replace([' ', '-'], "")));
    if let Some(Some(p)) = &phone
        && !is_e164(p)
    {
        errors.push(FieldError::new(
            "phone",
            "must be in E.164 form, e.g. +4930123456",
        ));
    }
    if let Some(l) = &body.language
        && !LANGUAGES.contains(&l.as_str())
    {
        errors.push(FieldError::new("language", "must be one of en, de"));
    }
    if name.is_none()
        && phone.is_none()
        && body.notify_email.is_none()
        && body.notify_sms.is_none()
        && body.language.is_none()
    {
        errors.push(FieldError::new("body", "name at least one field to change"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let patch = ProfilePatch {
        name,
        phone,
        notify_email: body.notify_email,
        notify_sms: body.notify_sms,
        language: body.language,
    };
    let user = state.store.update_profile(caller.user_id, &patch).await?;
    Ok(Json(ProfileView::new(user, caller.roles)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// What you organize (shown to the admin who decides).
    #[serde(default)]
    pub note: String,
}

/// Apply to become an organizer; an admin approves or rejects.
#[utoipa::path(post, path = "/v1/organizer-applications", tag = "accounts", request_body = ApplyRequest, security(("bearer" = [])),
    responses((status = 201, description = "The pending application", body = OrganizerApplication),
              (status = 409, description = "Already pending, or already an organizer", body = ProblemDoc, content_type = "application/problem+json")))]
async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ApplyRequest>,
) -> Result<Response, ApiError> {
    let note = body.note.trim();
    if note.chars().count() > 2000 {
        return Err(ApiError::invalid_field(
            "note",
            "must be at most 2000 characters",
        ));
    }
    let app = state
        .store
        .apply_for_organizer(caller.user_id, note)
        .await?;
    Ok((StatusCode::CREATED, Json(app)).into_response())
}
