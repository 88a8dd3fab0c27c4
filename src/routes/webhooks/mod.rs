//! Webhooks: `/projects/{id}/webhooks` and `/webhooks/*`, for a project's owners (and
//! admins): other members 403, non-members 404. Delivery itself is `crate::webhooks`.

mod fields;

use axum::extract::State;
use axum::http::StatusCode;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::AuthUser;
use crate::http::body::{patch_body, request_body};
use crate::http::fields::Description;
use crate::http::input::Json;
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{Params, page};
use crate::routes::{PageParams, PathId, PathIds};
use crate::state::AppState;
use fields::{EventTypes, WebhookUrl};
use flowtrack_core::pagination::Page;
use flowtrack_store::services::webhooks::{
    self as service, NewWebhook, Webhook, WebhookChanges, WebhookDelivery, WebhookWithSecret,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(ping))
        .routes(routes!(deliveries))
        .routes(routes!(redeliver))
}

request_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"url": "https://hooks.example.com/flowtrack", "events": ["task.created", "task.moved"], "description": "Chat channel"}))]
    pub struct CreateWebhookRequest {
        #[schema(schema_with = WebhookUrl::schema)]
        pub url: WebhookUrl,
        /// Absent, `null` or empty: every event type.
        #[schema(schema_with = EventTypes::schema_or_null)]
        pub events: Option<EventTypes>,
        /// Default `""`; at most 10 000 characters after trimming.
        #[schema(schema_with = Description::schema_or_null)]
        pub description: Option<Description>,
        /// Default `true` (`null` too).
        pub active: Option<bool>,
    }
}

patch_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"active": true}))]
    pub struct UpdateWebhookRequest {
        #[schema(schema_with = WebhookUrl::schema)]
        pub url: Option<WebhookUrl>,
        #[schema(schema_with = EventTypes::schema)]
        pub events: Option<EventTypes>,
        #[schema(schema_with = Description::schema)]
        pub description: Option<Description>,
        /// `false` pauses delivery; `true` again clears `disabled_reason` and starts from the
        /// project's current seq (what happened meanwhile is never sent).
        #[schema(nullable = false)]
        pub active: Option<bool>,
    }
}

/// Subscribe a URL to the project's events (owners and admins). The `secret` is shown only
/// here.
#[utoipa::path(
    post, path = "/projects/{id}/webhooks", tag = "webhooks",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, body = WebhookWithSecret),
        (status = 403, description = "A member who is not an owner", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already 20 webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad URL (or a host that resolves to a non-public address), unknown event type", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_webhook(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Json(body): Json<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, axum::Json<WebhookWithSecret>)> {
    let new = NewWebhook {
        url: body.url.0,
        events: body.events.map(|e| e.0).unwrap_or_default(),
        description: body.description.map(|d| d.0).unwrap_or_default(),
        active: body.active.unwrap_or(true),
    };
    let created = service::create(&state, &me, id, new).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// The project's webhooks (a plain array; never their secrets).
#[utoipa::path(
    get, path = "/projects/{id}/webhooks", tag = "webhooks",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, body = [Webhook]),
        (status = 403, description = "A member who is not an owner", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_webhooks(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<axum::Json<Vec<Webhook>>> {
    Ok(axum::Json(service::list(&state, &me, id).await?))
}

/// One webhook.
#[utoipa::path(
    get, path = "/webhooks/{id}", tag = "webhooks",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 200, body = Webhook),
        (status = 403, description = "A member who is not an owner", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_webhook(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<axum::Json<Webhook>> {
    Ok(axum::Json(service::get(&state, &me, id).await?))
}

/// Change a webhook's URL, events, description, or pause and resume it.
#[utoipa::path(
    patch, path = "/webhooks/{id}", tag = "webhooks",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, body = Webhook),
        (status = 403, description = "A member who is not an owner", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_webhook(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Json(body): Json<UpdateWebhookRequest>,
) -> ApiResult<axum::Json<Webhook>> {
    let changes = WebhookChanges {
        url: body.url.map(|u| u.0),
        events: body.events.map(|e| e.0),
        description: body.description.map(|d| d.0),
        active: body.active,
    };
    Ok(axum::Json(service::update(&state, &me, id, changes).await?))
}

/// Delete a webhook and its delivery log.
#[utoipa::path(
    delete, path = "/webhooks/{id}", tag = "webhooks",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "A member who is not an owner", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_webhook(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    service::delete(&state, &me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret; for 24 hours each delivery is signed with the new and the old one.
#[utoipa::path(
    post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 200, body = WebhookWithSecret),
        (status = 403, description = "A member who is not an owner", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn rotate_secret(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<axum::Json<WebhookWithSecret>> {
    Ok(axum::Json(service::rotate_secret(&state, &me, id).await?))
}

/// Sends `{"type":"webhook.ping","webhook_id":…,"at":…}` now, outside the project's sequence
/// and whatever the webhook's filter or active flag (logged with `seq: null`).
#[utoipa::path(
    post, path = "/webhooks/{id}/ping", tag = "webhooks",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Webhook id")),
    responses(
        (status = 202, description = "Queued"),
        (status = 403, description = "A member who is not an owner", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn ping(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    service::ping(&state, &me, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The delivery log: one entry per attempt, newest first.
#[utoipa::path(
    get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Webhook id"), PageParams),
    responses(
        (status = 200, body = Page<WebhookDelivery>),
        (status = 403, description = "A member who is not an owner", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn deliveries(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Params(p): Params<PageParams>,
) -> ApiResult<axum::Json<Page<WebhookDelivery>>> {
    let page = page(p.limit, p.cursor);
    Ok(axum::Json(
        service::deliveries(&state, &me, id, page).await?,
    ))
}

/// Sends that delivery's event again, out of order, with the same `webhook-id` (a new
/// attempt in the log).
#[utoipa::path(
    post, path = "/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("id" = Uuid, Path, description = "Webhook id"),
        ("delivery_id" = Uuid, Path, description = "Delivery id"),
    ),
    responses(
        (status = 202, description = "Queued"),
        (status = 403, description = "A member who is not an owner", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The event is no longer kept", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn redeliver(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathIds(id, delivery_id): PathIds,
) -> ApiResult<StatusCode> {
    service::redeliver(&state, &me, id, delivery_id).await?;
    Ok(StatusCode::ACCEPTED)
}
