//! Who is calling. Every function verifies its caller itself (there is no
//! trusted gateway in front of the functions): the bearer token is checked
//! by the shared [`Verifier`] against the trusted issuers (Keycloak in
//! production, the built-in identity provider in local mode), and the
//! caller's profile row, keyed by (`iss`, `sub`), is created on the first
//! authenticated call whichever the issuer.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use http::{header, request::Parts};
use tg_http::ApiError;
use tg_store::{DynStore, NewUser, Role, Scope, UserStatus};
use uuid::Uuid;

pub mod jwt;
mod lazy_http;

pub use lazy_http::LazyClient;

pub use jwt::{Claims, IssuerConfig, JwksProvider, KeySource, RoleMapping, Verifier, VerifyError};

/// Turns bearer tokens into callers.
#[derive(Clone)]
pub struct Authenticator {
    verifier: Verifier,
    store: DynStore,
    /// The built-in provider's issuer: its callers' roles come from storage
    /// only, so a role an admin takes away is gone at once.
    builtin_issuer: Option<String>,
}

impl Authenticator {
    pub fn new(verifier: Verifier, store: DynStore, builtin_issuer: Option<String>) -> Self {
        Self {
            verifier,
            store,
            builtin_issuer,
        }
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Verifies `token`, finds or creates the caller's profile, and refuses
    /// suspended accounts. Every failure is a 401.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, ApiError> {
        let claims = self.verifier.verify(token).await?;
        let builtin = self.builtin_issuer.as_deref() == Some(claims.iss.as_str());
        let iss = if builtin {
            tg_store::BUILTIN_ISSUER.to_string()
        } else {
            claims.iss.clone()
        };
        let user = match self.store.find_user(&iss, &claims.sub).await? {
            Some(user) => user,
            None => {
                self.store
                    .upsert_user(&NewUser {
                        iss: iss.clone(),
                        sub: claims.sub.clone(),
                        email: claims.email.clone(),
                        name: claims.name.clone().unwrap_or_default(),
                        roles: vec![Role::User],
                    })
                    .await?
            }
        };
        if user.status == UserStatus::Suspended {
            return Err(ApiError::unauthorized("the account is suspended"));
        }
        let mut roles = user.roles.clone();
        if !builtin {
            roles.extend(claims.roles.iter().copied());
        }
        roles.push(Role::User);
        roles.sort();
        roles.dedup();
        Ok(Caller {
            user_id: user.id,
            roles,
            iss,
            sub: claims.sub,
        })
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub roles: Vec<Role>,
    pub iss: String,
    pub sub: String,
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
            Some(token) => auth.authenticate(token).await,
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
            Some(token) => auth.authenticate(token).await.map(|c| MaybeCaller(Some(c))),
            None => Ok(MaybeCaller(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(value: &str) -> Parts {
        let req = http::Request::builder()
            .header(header::AUTHORIZATION, value)
            .body(())
            .unwrap();
        req.into_parts().0
    }

    #[test]
    fn bearer_scheme_in_any_case() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR abc"] {
            assert_eq!(bearer(&parts(v)).unwrap(), Some("abc"), "{v}");
        }
        for v in ["Basic abc", "Bearer", "Bearer ", "abc", "Token abc"] {
            assert!(bearer(&parts(v)).is_err(), "{v}");
        }
    }
}
