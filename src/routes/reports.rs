//! `/reports/*`: JSON by default, `?format=csv` (RFC 4180), and `?format=svg` charts for
//! cumulative flow and burndown. The tables and charts themselves are drawn by
//! `services::reports::export`; here only the format is chosen.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{AdminUser, AuthUser};
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{ParamError, Params, QueryValue, query_params};
use crate::routes::{PathId, schema};
use crate::state::AppState;
use flowtrack_store::services::reports::export::{AsChart, AsTable};
use flowtrack_store::services::reports::{
    self as service, Burndown, CumulativeFlow, Overview, Summary, Workload,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(cumulative_flow))
        .routes(routes!(burndown))
        .routes(routes!(workload))
        .routes(routes!(overview))
}

/// The `format` of a report that has no chart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TableFormat {
    #[default]
    Json,
    Csv,
}

impl QueryValue for TableFormat {
    fn parse(raw: &str) -> Result<Self, ParamError> {
        match raw {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            _ => Err("must be json or csv".into()),
        }
    }
}

/// The `format` of a report that can also be a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    Table(TableFormat),
    Svg,
}

impl Default for ChartFormat {
    fn default() -> Self {
        Self::Table(TableFormat::Json)
    }
}

impl QueryValue for ChartFormat {
    fn parse(raw: &str) -> Result<Self, ParamError> {
        match raw {
            "svg" => Ok(Self::Svg),
            _ => TableFormat::parse(raw)
                .map(Self::Table)
                .map_err(|_| "must be json, csv or svg".into()),
        }
    }
}

query_params! {
    pub struct FormatParams {
        /// `json` (default) or `csv`.
        #[param(schema_with = schema::table_format)]
        pub format: Option<TableFormat>,
    }
}

query_params! {
    pub struct RangeParams {
        /// First day (inclusive, UTC); default 29 days before `to`. Not after `to`.
        #[param(schema_with = schema::date)]
        pub from: Option<NaiveDate>,
        /// Last day (inclusive, UTC); default today. At most 366 days in all.
        #[param(schema_with = schema::date)]
        pub to: Option<NaiveDate>,
        /// `json` (default), `csv` or `svg` (a chart).
        #[param(schema_with = schema::chart_format)]
        pub format: Option<ChartFormat>,
    }
}

fn attachment(content_type: &'static str, disposition: String, body: String) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// A report as JSON or as a CSV download named `<stem>.csv`.
fn table_response<R: Serialize + AsTable>(format: TableFormat, stem: &str, report: R) -> Response {
    match format {
        TableFormat::Csv => attachment(
            "text/csv; charset=utf-8",
            format!("attachment; filename=\"{stem}.csv\""),
            report.table().to_csv(),
        ),
        TableFormat::Json => axum::Json(report).into_response(),
    }
}

/// A chart report as JSON, a CSV download, or an SVG chart shown inline.
fn chart_response<R: Serialize + AsTable + AsChart>(
    format: ChartFormat,
    stem: &str,
    report: R,
) -> Response {
    match format {
        ChartFormat::Svg => attachment(
            "image/svg+xml",
            format!("inline; filename=\"{stem}.svg\""),
            report.chart(),
        ),
        ChartFormat::Table(format) => table_response(format, stem, report),
    }
}

/// Project summary: counts by status, priority and assignee; overdue; completion; median
/// cycle time; completions per ISO week (last 8). CSV: `section,key,value`.
#[utoipa::path(
    get, path = "/reports/projects/{id}/summary", tag = "reports",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id"), FormatParams),
    responses(
        (status = 200, description = "The summary (`?format=csv`: `section,key,value`)", content(
            (Summary = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn summary(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Params(p): Params<FormatParams>,
) -> ApiResult<Response> {
    let summary = service::summary(&state, &me, id).await?;
    Ok(table_response(
        p.format.unwrap_or_default(),
        &format!("summary-{id}"),
        summary,
    ))
}

/// Cumulative flow: per day, the tasks in each status at the end of the day.
#[utoipa::path(
    get, path = "/reports/projects/{id}/cumulative-flow", tag = "reports",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id"), RangeParams),
    responses(
        (status = 200, description = "Per day (`?format=csv`: `date,todo,in_progress,review,done`; `?format=svg`: a stacked-area chart)", content(
            (CumulativeFlow = "application/json"),
            (String = "text/csv"),
            (String = "image/svg+xml"),
        )),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad dates, range over 366 days or bad format", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn cumulative_flow(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Params(p): Params<RangeParams>,
) -> ApiResult<Response> {
    let report = service::cumulative_flow(&state, &me, id, p.from, p.to).await?;
    let stem = format!("cumulative-flow-{id}-{}-{}", report.from, report.to);
    Ok(chart_response(p.format.unwrap_or_default(), &stem, report))
}

/// Burndown: per day, open (not done) and done tasks at the end of the day.
#[utoipa::path(
    get, path = "/reports/projects/{id}/burndown", tag = "reports",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = uuid::Uuid, Path, description = "Project id"), RangeParams),
    responses(
        (status = 200, description = "Per day (`?format=csv`: `date,open,done`; `?format=svg`: a line chart)", content(
            (Burndown = "application/json"),
            (String = "text/csv"),
            (String = "image/svg+xml"),
        )),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad dates, range over 366 days or bad format", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn burndown(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Params(p): Params<RangeParams>,
) -> ApiResult<Response> {
    let report = service::burndown(&state, &me, id, p.from, p.to).await?;
    let stem = format!("burndown-{id}-{}-{}", report.from, report.to);
    Ok(chart_response(p.format.unwrap_or_default(), &stem, report))
}

/// My workload: the tasks assigned to me (done included), by project.
#[utoipa::path(
    get, path = "/reports/users/me/workload", tag = "reports",
    security(("bearer" = []), ("oauth2" = [])),
    params(FormatParams),
    responses(
        (status = 200, description = "My workload (`?format=csv`: `project_id,project_name,todo,in_progress,review,done,overdue`)", content(
            (Workload = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn workload(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Params(p): Params<FormatParams>,
) -> ApiResult<Response> {
    let workload = service::workload(&state, &me).await?;
    let stem = format!("workload-{}", workload.user_id);
    Ok(table_response(
        p.format.unwrap_or_default(),
        &stem,
        workload,
    ))
}

/// Server overview (admin only): users, projects and tasks by status.
#[utoipa::path(
    get, path = "/reports/overview", tag = "reports",
    security(("bearer" = []), ("oauth2" = [])),
    params(FormatParams),
    responses(
        (status = 200, description = "The overview (`?format=csv`: `section,key,value`)", content(
            (Overview = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn overview(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Params(p): Params<FormatParams>,
) -> ApiResult<Response> {
    Ok(table_response(
        p.format.unwrap_or_default(),
        "overview",
        service::overview(&state).await?,
    ))
}
