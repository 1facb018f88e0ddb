//! Who is calling. Every function verifies its caller itself (there is no
//! trusted gateway in front of the functions).
//!
//! Today a caller is identified by the platform's configured admin token
//! (`TICKETGW_ADMIN_TOKEN`); the identity work replaces this with OIDC/JWKS
//! verification behind the same [`Caller`] / [`MaybeCaller`] extractors, so
//! handlers do not change.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use http::{header, request::Parts};
use subtle::ConstantTimeEq;
use tg_http::{ApiError, Secret};
use tg_store::{NewUser, Role, Scope};
use uuid::Uuid;

/// Issuer recorded for the configuration-defined admin principal.
pub const ADMIN_TOKEN_ISSUER: &str = "urn:ticketgw:config";
pub const ADMIN_TOKEN_SUBJECT: &str = "admin-token";

/// Verifies credentials presented by callers.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    admin: Option<(Secret<String>, Uuid)>,
}

impl Authenticator {
    /// No credentials are accepted (every protected route answers 401).
    pub fn none() -> Self {
        Self::default()
    }

    /// Accepts `token` as the admin principal whose user row is `user_id`.
    pub fn with_admin_token(token: Secret<String>, user_id: Uuid) -> Self {
        Self {
            admin: Some((token, user_id)),
        }
    }

    /// The user row that stands for the admin token.
    pub fn admin_principal(name: &str) -> NewUser {
        NewUser {
            iss: ADMIN_TOKEN_ISSUER.into(),
            sub: ADMIN_TOKEN_SUBJECT.into(),
            email: None,
            name: name.into(),
            roles: vec![Role::User, Role::Organizer, Role::Admin],
        }
    }

    /// Checks a bearer token; `Err` is always a 401.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        if let Some((expected, user_id)) = &self.admin {
            let expected = expected.expose().as_bytes();
            if !expected.is_empty() && bool::from(expected.ct_eq(token.as_bytes())) {
                return Ok(Caller {
                    user_id: *user_id,
                    roles: vec![Role::User, Role::Organizer, Role::Admin],
                });
            }
        }
        Err(ApiError::unauthorized("the access token is not valid"))
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub roles: Vec<Role>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has(Role::Admin)
    }

    /// 403 unless the caller has `role` (admins have every role).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.has(role) || self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this action needs the `{}` role",
                role.as_str()
            )))
        }
    }

    /// The data scope for catalog writes: admins see everything, an
    /// organizer only their own events.
    pub fn scope(&self) -> Scope {
        if self.is_admin() {
            Scope::All
        } else {
            Scope::Organizer(self.user_id)
        }
    }
}

/// Reads `Authorization: Bearer <token>` (scheme in any letter case).
/// `Ok(None)` when the header is absent; a present but malformed header is
/// an error, never treated as anonymous.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("expected `Authorization: Bearer <token>`"))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthorized(
            "expected `Authorization: Bearer <token>`",
        ));
    }
    Ok(Some(token))
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<Authenticator>::from_ref(state);
        match bearer(parts)? {
            Some(token) => auth.verify(token),
            None => Err(ApiError::unauthorized("this route needs an access token")),
        }
    }
}

/// The caller if a token was sent; anonymous otherwise.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

impl<S> FromRequestParts<S> for MaybeCaller
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<Authenticator>::from_ref(state);
        match bearer(parts)? {
            Some(token) => auth.verify(token).map(|c| MaybeCaller(Some(c))),
            None => Ok(MaybeCaller(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_is_checked_exactly() {
        let id = Uuid::now_v7();
        let auth = Authenticator::with_admin_token(Secret::new("s3cret-token".into()), id);
        assert_eq!(
            auth.verify("s3cret-token").map(|c| c.user_id).ok(),
            Some(id)
        );
        assert!(auth.verify("s3cret-toke").is_err());
        assert!(auth.verify("s3cret-token ").is_err());
        assert!(auth.verify("").is_err());
        assert!(Authenticator::none().verify("s3cret-token").is_err());
    }

    #[test]
    fn empty_admin_token_never_matches() {
        let auth = Authenticator::with_admin_token(Secret::new(String::new()), Uuid::now_v7());
        assert!(auth.verify("").is_err());
    }
}
