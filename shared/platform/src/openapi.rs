//! The responses every operation can give, declared once.
//!
//! Functions document what their handlers decide (201, 404 of a resource,
//! 409 `sold_out`, ...). What the platform and the shared extractors answer
//! for every route is added here, by what the operation has: every
//! operation can answer 400 (a malformed path id, query or header) and 503
//! (storage unavailable); one with path parameters 404; one with a
//! security requirement 401 and 403; one with a request body 413, 415 and
//! 422; a mutating one (which accepts `Idempotency-Key`) 409
//! (`idempotency_in_progress`) and 422 (`idempotency_mismatch`). Each is a
//! reference to one shared response in `components.responses`.
//!
//! A PATCH body names at least one field (every PATCH handler refuses an
//! empty object with `validation_failed`), so the object schema a PATCH
//! body refers to gets `minProperties: 1`.

use std::collections::HashSet;

use utoipa::openapi::path::{HttpMethod, Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Schema};

/// (status, component name, description).
const SHARED: &[(&str, &str, &str)] = &[
    (
        "400",
        "BadRequest",
        "Malformed request: a path id that is not a UUID, a bad query parameter or header (`invalid_path`, `invalid_query`, `invalid_json`, `invalid_idempotency_key`)",
    ),
    (
        "401",
        "Unauthorized",
        "Missing, invalid or expired bearer token (`unauthorized`)",
    ),
    (
        "403",
        "Forbidden",
        "The caller lacks the role or the right (`forbidden`)",
    ),
    (
        "404",
        "NotFound",
        "No such resource the caller may see (`not_found`)",
    ),
    (
        "409",
        "Conflict",
        "The state does not allow it, or the same `Idempotency-Key` is still being processed (`idempotency_in_progress`, with `Retry-After`)",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than 64 KiB (`payload_too_large`)",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not `application/json` (`unsupported_media_type`)",
    ),
    (
        "422",
        "Unprocessable",
        "Invalid fields, named in `errors: [{field, message}]` (`validation_failed`), or an `Idempotency-Key` reused for another request (`idempotency_mismatch`)",
    ),
    (
        "503",
        "Unavailable",
        "Storage or a dependency is unavailable; retry (`unavailable`)",
    ),
];

fn shared_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            tg_http::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ProblemDoc")))
                .build(),
        )
        .build()
}

fn is_secured(op: &Operation, global: bool) -> bool {
    match &op.security {
        Some(reqs) => !reqs.is_empty(),
        None => global,
    }
}

fn methods() -> [HttpMethod; 5] {
    [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
    ]
}

fn operation_mut<'a>(
    item: &'a mut utoipa::openapi::path::PathItem,
    m: &HttpMethod,
) -> Option<&'a mut Operation> {
    match m {
        HttpMethod::Get => item.get.as_mut(),
        HttpMethod::Post => item.post.as_mut(),
        HttpMethod::Put => item.put.as_mut(),
        HttpMethod::Patch => item.patch.as_mut(),
        HttpMethod::Delete => item.delete.as_mut(),
        _ => None,
    }
}

/// Adds the shared responses to every operation that lacks them (an
/// operation's own description of a status wins). Idempotent.
pub fn standardize(doc: &mut OpenApi) {
    let global = doc.security.as_ref().is_some_and(|s| !s.is_empty());
    let components = doc.components.get_or_insert_with(Default::default);
    for (_, name, description) in SHARED {
        components
            .responses
            .entry((*name).to_string())
            .or_insert_with(|| RefOr::T(shared_response(description)));
    }
    if !components.schemas.contains_key("ProblemDoc") {
        use utoipa::PartialSchema;
        components
            .schemas
            .insert("ProblemDoc".into(), tg_http::ProblemDoc::schema());
    }
    let mut patch_bodies = Vec::new();
    for item in doc.paths.paths.values_mut() {
        if let Some(body) = item.patch.as_ref().and_then(|op| op.request_body.as_ref()) {
            for content in body.content.values() {
                if let Some(RefOr::Ref(r)) = &content.schema
                    && let Some(name) = r.ref_location.strip_prefix("#/components/schemas/")
                {
                    patch_bodies.push(name.to_string());
                }
            }
        }
        for m in methods() {
            let Some(op) = operation_mut(item, &m) else {
                continue;
            };
            let mut want: Vec<&str> = vec!["400", "503"];
            let has_path_params = op
                .parameters
                .iter()
                .flatten()
                .any(|p| p.parameter_in == ParameterIn::Path);
            if has_path_params {
                want.push("404");
            }
            if is_secured(op, global) {
                want.extend(["401", "403"]);
            }
            if op.request_body.is_some() {
                want.extend(["413", "415", "422"]);
            }
            if !matches!(m, HttpMethod::Get) {
                want.extend(["409", "422"]);
            }
            let responses = &mut op.responses.responses;
            for status in want {
                if responses.contains_key(status) {
                    continue;
                }
                if let Some((_, name, _)) = SHARED.iter().find(|(s, _, _)| *s == status) {
                    responses.insert(
                        status.to_string(),
                        RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))),
                    );
                }
            }
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    for name in patch_bodies {
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(&name) {
            o.min_properties.get_or_insert(1);
        }
    }
}

/// The (method, path template) pairs whose operation requires a bearer
/// token, for the idempotency middleware's order of checks.
pub fn secured_operations(doc: &OpenApi) -> HashSet<(http::Method, String)> {
    let global = doc.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut out = HashSet::new();
    for (path, item) in &doc.paths.paths {
        let mut item = item.clone();
        for m in methods() {
            let Some(op) = operation_mut(&mut item, &m) else {
                continue;
            };
            if is_secured(op, global) {
                let method = match m {
                    HttpMethod::Get => http::Method::GET,
                    HttpMethod::Post => http::Method::POST,
                    HttpMethod::Put => http::Method::PUT,
                    HttpMethod::Patch => http::Method::PATCH,
                    _ => http::Method::DELETE,
                };
                out.insert((method, path.clone()));
            }
        }
    }
    out
}
