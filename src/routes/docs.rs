//! The OpenAPI document (generated from the handlers' annotations) and the docs page.

use utoipa::openapi::RefOr;
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use crate::http::problem::{PROBLEM_JSON, Problem};
use flowtrack_core::error::FieldError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FlowTrack",
        description = "Real-time project and task tracker (kanban boards): REST API and WebSocket notifications.\n\nErrors are RFC 9457 problem details (`application/problem+json`) with a stable `code`.",
        license(name = "MIT"),
    ),
    modifiers(&SecuritySchemes),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "users", description = "Users and administration"),
        (name = "tokens", description = "API tokens: long-lived personal tokens for scripts and integrations"),
        (name = "projects", description = "Projects, progress and the kanban board"),
        (name = "members", description = "Project members and their roles (owner, editor, viewer)"),
        (name = "tasks", description = "Tasks and board moves (optimistic concurrency with ETag / If-Match)"),
        (name = "comments", description = "Task discussion"),
        (name = "activity", description = "The activity log"),
        (name = "notifications", description = "Personal notifications"),
        (name = "reports", description = "Reports and charts (JSON, CSV, SVG)"),
        (name = "webhooks", description = "A project's events POSTed to a URL: signed (Standard Webhooks), in order, retried"),
        (name = "realtime", description = "WebSocket notification stream"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// `bearer`: a JWT access token. `oauth2`: the password flow against `/auth/login`, which is
/// what the docs page's "Authorize" button uses.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/auth/login",
                Scopes::new(),
            ))])),
        );
    }
}

/// Adds what every operation shares to the generated document (called once all routes are
/// merged):
/// * an optional request body is absent or an object, never `null`;
/// * the error answers every operation can give besides the ones its handler names are
///   listed (each added only where the route has no entry for that status yet, so a
///   handler's more specific description wins):
///   * 400 `bad_request`: malformed JSON or query string (operations with a body or query);
///   * 401 `unauthorized`: missing or bad access token (operations that need one);
///   * 404 `not_found`: an id in the path that names nothing the caller can see;
///   * 413 / 415: a body over 1 MiB, or not JSON (operations with a body);
///   * 422 `validation_failed`: invalid fields or query parameters;
///   * 408 `request_timeout`: the request took longer than [`crate::app::REQUEST_TIMEOUT`];
///   * 431: a request head over the limits of [`crate::http::server`] (answered by hyper
///     before any routing, without a body, and the connection is closed);
///   * 503 `unavailable`: the database (or Redis) is down (every operation but `/health`
///     and `/metrics`, which never touch them).
pub fn add_common_answers(openapi: &mut utoipa::openapi::OpenApi) {
    let answers = CommonAnswers::new();
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            optional_body_is_never_null(operation);
            answers.add_to(path, operation);
        }
    }
}

/// The answers shared by many operations, built once.
struct CommonAnswers {
    timeout: String,
    head_too_large: utoipa::openapi::Response,
}

impl CommonAnswers {
    fn new() -> Self {
        Self {
            timeout: format!(
                "The request (body upload included) took longer than {} s",
                crate::app::REQUEST_TIMEOUT.as_secs()
            ),
            head_too_large: utoipa::openapi::ResponseBuilder::new()
                .description(format!(
                    "The request head has more than {} headers or {} KiB (no body; the \
                     connection is closed)",
                    crate::http::server::MAX_HEADERS,
                    crate::http::server::MAX_HEAD_BYTES / 1024
                ))
                .build(),
        }
    }

    /// Adds to one operation every common answer it can give and does not list yet.
    fn add_to(&self, path: &str, operation: &mut utoipa::openapi::path::Operation) {
        use utoipa::openapi::path::ParameterIn;
        let params = operation.parameters.as_deref().unwrap_or_default();
        let in_query = |p: &RefOr<utoipa::openapi::path::Parameter>| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query);
        let has_query = params.iter().any(in_query);
        let has_cursor = params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.name == "cursor"));
        let has_body = operation.request_body.is_some();
        let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
        let responses = &mut operation.responses.responses;
        responses
            .entry("431".to_string())
            .or_insert_with(|| RefOr::T(self.head_too_large.clone()));
        let mut add = |status: &str, description: &str| {
            responses
                .entry(status.to_string())
                .or_insert_with(|| problem(description));
        };
        if has_body || has_query {
            add(
                "400",
                if has_cursor {
                    "Malformed JSON or query string, or a `cursor` the server did not issue"
                } else {
                    "Malformed JSON or query string"
                },
            );
            add(
                "422",
                "Invalid input; `errors` names every offending field or parameter",
            );
        }
        if secured {
            add("401", "Missing, invalid or expired access token");
        }
        if path.contains('{') {
            add(
                "404",
                "Nothing with this id that the caller may see (an id that is not a UUID too)",
            );
        }
        if has_body {
            add("413", "The body is larger than 1 MiB");
            add("415", "The body is not of a documented content type");
        }
        add("408", &self.timeout);
        if path != "/health" && path != "/metrics" {
            add("503", "The database (or Redis) is unavailable");
        }
    }
}

/// An optional request body (`Option<T>` in the handler's annotation) is either absent or a
/// JSON object: a `null` body is a 422 like any body that is not an object (docs/api.md), so the
/// `null` alternative utoipa derives from the `Option` is dropped.
fn optional_body_is_never_null(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::Required;
    use utoipa::openapi::schema::{Schema, Type};
    let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
        return;
    };
    if matches!(body.required, Some(Required::True)) {
        return;
    }
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else {
            continue;
        };
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };
        let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == Type::Null.into());
        let rest: Vec<RefOr<Schema>> = one_of
            .items
            .iter()
            .filter(|s| !is_null(s))
            .cloned()
            .collect();
        if rest.len() == 1 && rest.len() < one_of.items.len() {
            content.schema = rest.into_iter().next();
        }
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}
