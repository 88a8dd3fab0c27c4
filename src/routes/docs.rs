//! The OpenAPI document (generated from the handlers' annotations) and the docs page.

use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use crate::core::error::{FieldError, Problem};

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
        (name = "projects", description = "Projects, progress and the kanban board"),
        (name = "members", description = "Project members and their roles (owner, editor, viewer)"),
        (name = "tasks", description = "Tasks and board moves (optimistic concurrency with ETag / If-Match)"),
        (name = "comments", description = "Task discussion"),
        (name = "activity", description = "The activity log"),
        (name = "notifications", description = "Personal notifications"),
        (name = "reports", description = "Reports and charts (JSON, CSV, SVG)"),
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
