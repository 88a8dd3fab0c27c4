//! `/reports/*`: JSON by default, `?format=csv` (RFC 4180), and `?format=svg` charts for
//! cumulative flow and burndown.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{AdminUser, AuthUser};
use crate::http::input::{Query, QueryReader};
use crate::http::problem::{ApiResult, Problem};
use crate::routes::{PathId, schema};
use crate::state::AppState;
use flowtrack_core::validate;
use flowtrack_store::services::charts::{self, STATUS_COLOURS, Series};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Svg,
}

/// Reads `format`; `svg` only where a chart exists.
fn read_format(q: &mut QueryReader, svg_allowed: bool) -> Format {
    let allowed = if svg_allowed {
        "must be json, csv or svg"
    } else {
        "must be json or csv"
    };
    q.get("format", |raw| match raw {
        "json" => Ok(Format::Json),
        "csv" => Ok(Format::Csv),
        "svg" if svg_allowed => Ok(Format::Svg),
        _ => Err(allowed.to_string()),
    })
    .unwrap_or(Format::Json)
}

fn read_range(q: &mut QueryReader) -> (Option<NaiveDate>, Option<NaiveDate>) {
    (
        q.get("from", validate::parse_date),
        q.get("to", validate::parse_date),
    )
}

/// The query of a chart report: `format` (json, csv or svg), `from`, `to`.
fn read_chart_query(query: Query) -> ApiResult<(Format, Option<NaiveDate>, Option<NaiveDate>)> {
    let mut q = QueryReader::new(query);
    let format = read_format(&mut q, true);
    let (from, to) = read_range(&mut q);
    q.finish()?;
    Ok((format, from, to))
}

/// One CSV field (RFC 4180: quoted when it holds a comma, quote or line break).
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// A CSV document: header then rows, CRLF line ends.
fn csv(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = header.join(",");
    out.push_str("\r\n");
    for row in rows {
        let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

fn download(content_type: &'static str, filename: String, body: String) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn csv_response(filename: String, body: String) -> Response {
    download("text/csv; charset=utf-8", filename, body)
}

fn svg_response(filename: String, body: String) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "image/svg+xml")], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("inline; filename=\"{filename}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn json_response<T: Serialize>(value: T) -> Response {
    axum::Json(value).into_response()
}

fn n(v: u64) -> String {
    v.to_string()
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation of the query string, read by `QueryReader`
pub struct FormatParams {
    /// `json` (default) or `csv`.
    #[param(schema_with = schema::table_format)]
    format: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation of the query string, read by `QueryReader`
pub struct RangeParams {
    /// First day (inclusive, UTC); default 29 days before `to`. Not after `to`.
    #[param(schema_with = schema::date)]
    from: Option<NaiveDate>,
    /// Last day (inclusive, UTC); default today. At most 366 days in all.
    #[param(schema_with = schema::date)]
    to: Option<NaiveDate>,
    /// `json` (default), `csv` or `svg` (a chart).
    #[param(schema_with = schema::chart_format)]
    format: Option<String>,
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
    query: Query,
) -> ApiResult<Response> {
    let mut q = QueryReader::new(query);
    let format = read_format(&mut q, false);
    q.finish()?;
    let s = service::summary(&state, &me, id).await?;
    if format == Format::Json {
        return Ok(json_response(s));
    }
    let mut rows: Vec<Vec<String>> = vec![
        vec!["summary".into(), "total".into(), n(s.total)],
        vec!["summary".into(), "overdue".into(), n(s.overdue)],
        vec![
            "summary".into(),
            "percent_complete".into(),
            n(s.percent_complete),
        ],
        vec![
            "summary".into(),
            "median_cycle_time_seconds".into(),
            s.median_cycle_time_seconds
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ],
    ];
    for (key, v) in [
        ("todo", s.by_status.todo),
        ("in_progress", s.by_status.in_progress),
        ("review", s.by_status.review),
        ("done", s.by_status.done),
    ] {
        rows.push(vec!["by_status".into(), key.into(), n(v)]);
    }
    for (key, v) in [
        ("low", s.by_priority.low),
        ("medium", s.by_priority.medium),
        ("high", s.by_priority.high),
        ("urgent", s.by_priority.urgent),
    ] {
        rows.push(vec!["by_priority".into(), key.into(), n(v)]);
    }
    for a in &s.by_assignee {
        let who = a
            .assignee_id
            .map(|id| id.to_string())
            .unwrap_or_else(|| "unassigned".into());
        rows.push(vec!["by_assignee.total".into(), who.clone(), n(a.total)]);
        rows.push(vec!["by_assignee.done".into(), who, n(a.done)]);
    }
    for w in &s.completed_per_week {
        rows.push(vec![
            "completed_per_week".into(),
            w.week.clone(),
            n(w.count),
        ]);
    }
    Ok(csv_response(
        format!("summary-{id}.csv"),
        csv(&["section", "key", "value"], rows),
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
    query: Query,
) -> ApiResult<Response> {
    let (format, from, to) = read_chart_query(query)?;
    let report = service::cumulative_flow(&state, &me, id, from, to).await?;
    let name = format!("cumulative-flow-{id}-{}-{}", report.from, report.to);
    Ok(match format {
        Format::Json => json_response(report),
        Format::Csv => csv_response(
            format!("{name}.csv"),
            csv(
                &["date", "todo", "in_progress", "review", "done"],
                report.days.iter().map(|d| {
                    vec![
                        d.date.to_string(),
                        n(d.todo),
                        n(d.in_progress),
                        n(d.review),
                        n(d.done),
                    ]
                }),
            ),
        ),
        Format::Svg => {
            let dates: Vec<NaiveDate> = report.days.iter().map(|d| d.date).collect();
            let pick = |f: fn(&service::FlowDay) -> u64| report.days.iter().map(f).collect();
            let values: [Vec<u64>; 4] = [
                pick(|d| d.todo),
                pick(|d| d.in_progress),
                pick(|d| d.review),
                pick(|d| d.done),
            ];
            let series: Vec<Series<'_>> = STATUS_COLOURS
                .iter()
                .zip(values)
                .map(|((label, colour), values)| Series {
                    label,
                    colour,
                    values,
                })
                .collect();
            let title = format!("Cumulative flow, {} to {}", report.from, report.to);
            svg_response(
                format!("{name}.svg"),
                charts::stacked_area(&title, &dates, &series),
            )
        }
    })
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
    query: Query,
) -> ApiResult<Response> {
    let (format, from, to) = read_chart_query(query)?;
    let report = service::burndown(&state, &me, id, from, to).await?;
    let name = format!("burndown-{id}-{}-{}", report.from, report.to);
    Ok(match format {
        Format::Json => json_response(report),
        Format::Csv => csv_response(
            format!("{name}.csv"),
            csv(
                &["date", "open", "done"],
                report
                    .days
                    .iter()
                    .map(|d| vec![d.date.to_string(), n(d.open), n(d.done)]),
            ),
        ),
        Format::Svg => {
            let dates: Vec<NaiveDate> = report.days.iter().map(|d| d.date).collect();
            let series = [
                Series {
                    label: "open",
                    colour: "#ef4444",
                    values: report.days.iter().map(|d| d.open).collect(),
                },
                Series {
                    label: "done",
                    colour: STATUS_COLOURS[3].1,
                    values: report.days.iter().map(|d| d.done).collect(),
                },
            ];
            let title = format!("Burndown, {} to {}", report.from, report.to);
            svg_response(
                format!("{name}.svg"),
                charts::lines(&title, &dates, &series),
            )
        }
    })
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
    query: Query,
) -> ApiResult<Response> {
    let mut q = QueryReader::new(query);
    let format = read_format(&mut q, false);
    q.finish()?;
    let w = service::workload(&state, &me).await?;
    if format == Format::Json {
        return Ok(json_response(w));
    }
    let rows = w.projects.iter().map(|p| {
        vec![
            p.project_id.to_string(),
            p.name.clone(),
            n(p.by_status.todo),
            n(p.by_status.in_progress),
            n(p.by_status.review),
            n(p.by_status.done),
            n(p.overdue),
        ]
    });
    Ok(csv_response(
        format!("workload-{}.csv", w.user_id),
        csv(
            &[
                "project_id",
                "project_name",
                "todo",
                "in_progress",
                "review",
                "done",
                "overdue",
            ],
            rows,
        ),
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
    query: Query,
) -> ApiResult<Response> {
    let mut q = QueryReader::new(query);
    let format = read_format(&mut q, false);
    q.finish()?;
    let o = service::overview(&state).await?;
    if format == Format::Json {
        return Ok(json_response(o));
    }
    let mut rows: Vec<Vec<String>> = vec![
        vec!["users".into(), "total".into(), n(o.users.total)],
        vec!["users".into(), "active".into(), n(o.users.active)],
        vec![
            "users.by_role".into(),
            "admin".into(),
            n(o.users.by_role.admin),
        ],
        vec![
            "users.by_role".into(),
            "member".into(),
            n(o.users.by_role.member),
        ],
        vec!["projects".into(), "total".into(), n(o.projects.total)],
    ];
    for (key, v) in [
        ("active", o.projects.by_status.active),
        ("on_hold", o.projects.by_status.on_hold),
        ("completed", o.projects.by_status.completed),
        ("archived", o.projects.by_status.archived),
    ] {
        rows.push(vec!["projects.by_status".into(), key.into(), n(v)]);
    }
    rows.push(vec!["tasks".into(), "total".into(), n(o.tasks.total)]);
    for (key, v) in [
        ("todo", o.tasks.by_status.todo),
        ("in_progress", o.tasks.by_status.in_progress),
        ("review", o.tasks.by_status.review),
        ("done", o.tasks.by_status.done),
    ] {
        rows.push(vec!["tasks.by_status".into(), key.into(), n(v)]);
    }
    Ok(csv_response(
        "overview.csv".into(),
        csv(&["section", "key", "value"], rows),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(
            csv(&["a", "b"], vec![vec!["1".into(), "x,y".into()]]),
            "a,b\r\n1,\"x,y\"\r\n"
        );
    }
}
