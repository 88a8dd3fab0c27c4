//! Reports: exact numbers over a known history built on past days (the server clock is
//! moved back), every format (JSON, CSV parsed back, SVG parsed as XML), caching that is
//! never stale, and authorization.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::*;

struct History {
    app: TestApp,
    owner: TestUser,
    member: TestUser,
    admin: TestUser,
    pid: String,
    today: NaiveDate,
}

fn day(today: NaiveDate, offset: i64) -> NaiveDate {
    today - chrono::Duration::days(offset)
}

/// Sets the server clock to 12:00 UTC, `days_ago` days before today, and signs `user` in
/// again (a token issued later than the clock's now is refused).
async fn travel(app: &TestApp, user: &mut TestUser, today: NaiveDate, days_ago: i64) {
    set_clock(app, today, days_ago);
    *user = app.login(&user.email, &user.password).await;
}

fn set_clock(app: &TestApp, today: NaiveDate, days_ago: i64) {
    app.clock.reset();
    let target = Utc.from_utc_datetime(&day(today, days_ago).and_hms_opt(12, 0, 0).expect("noon"));
    let now = Utc::now();
    if target < now {
        app.clock.rewind((now - target).to_std().expect("past"));
    } else {
        app.clock.advance((target - now).to_std().expect("future"));
    }
}

async fn move_to(app: &TestApp, user: &TestUser, task: &Value, status: &str) {
    let r = app
        .move_task(
            user,
            task["id"].as_str().expect("id"),
            json!({"status": status}),
        )
        .await;
    assert_eq!(r.status(), 200, "move to {status}");
}

/// A: todo→in_progress (T-9)→done (T-8); B: →in_progress (T-7)→done (T-5);
/// C: deleted (T-5); D: created in progress (T-10)→review (T-7)→done (T-3);
/// E: created today, urgent, assigned to the member, due yesterday.
async fn history() -> History {
    let app = TestApp::spawn().await;
    let today = Utc::now().date_naive();
    let mut owner = app.register().await;
    let mut member = app.register().await;
    let mut admin = app.admin().await;

    travel(&app, &mut owner, today, 10).await;
    member = app.login(&member.email, &member.password).await;
    let project = app.create_project(&owner, "History").await;
    let pid = project["id"].as_str().expect("id").to_string();
    app.add_member(&owner, &pid, &member, "editor").await;
    let a = app.create_task(&owner, &pid, json!({"title": "A"})).await;
    let b = app.create_task(&owner, &pid, json!({"title": "B"})).await;
    let c = app.create_task(&owner, &pid, json!({"title": "C"})).await;
    let d = app
        .create_task(&owner, &pid, json!({"title": "D", "status": "in_progress"}))
        .await;
    travel(&app, &mut owner, today, 9).await;
    move_to(&app, &owner, &a, "in_progress").await;
    travel(&app, &mut owner, today, 8).await;
    move_to(&app, &owner, &a, "done").await;
    travel(&app, &mut owner, today, 7).await;
    move_to(&app, &owner, &b, "in_progress").await;
    move_to(&app, &owner, &d, "review").await;
    travel(&app, &mut owner, today, 5).await;
    move_to(&app, &owner, &b, "done").await;
    let r = app
        .delete(&format!("/tasks/{}", c["id"].as_str().expect("id")))
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    travel(&app, &mut owner, today, 3).await;
    move_to(&app, &owner, &d, "done").await;
    app.clock.reset();
    owner = app.login(&owner.email, &owner.password).await;
    member = app.login(&member.email, &member.password).await;
    admin = app.login(&admin.email, &admin.password).await;
    app.create_task(
        &owner,
        &pid,
        json!({"title": "E", "priority": "urgent", "assignee_id": member.id,
               "due_date": day(today, 1).to_string()}),
    )
    .await;
    History {
        app,
        owner,
        member,
        admin,
        pid,
        today,
    }
}

async fn get_json(app: &TestApp, user: &TestUser, path: &str) -> Value {
    let r = app
        .get(path)
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

#[tokio::test]
async fn cumulative_flow_and_burndown_follow_the_history_day_by_day() {
    let h = history().await;
    let from = day(h.today, 11);
    let path = format!(
        "/reports/projects/{}/cumulative-flow?from={from}&to={}",
        h.pid, h.today
    );
    let cfd = get_json(&h.app, &h.owner, &path).await;
    assert_eq!(cfd["project_id"], h.pid);
    assert_eq!(cfd["from"], from.to_string());
    assert_eq!(cfd["to"], h.today.to_string());
    // (days ago, todo, in_progress, review, done)
    let expected: [(i64, u64, u64, u64, u64); 12] = [
        (11, 0, 0, 0, 0),
        (10, 3, 1, 0, 0),
        (9, 2, 2, 0, 0),
        (8, 2, 1, 0, 1),
        (7, 1, 1, 1, 1),
        (6, 1, 1, 1, 1),
        (5, 0, 0, 1, 2),
        (4, 0, 0, 1, 2),
        (3, 0, 0, 0, 3),
        (2, 0, 0, 0, 3),
        (1, 0, 0, 0, 3),
        (0, 1, 0, 0, 3),
    ];
    let days = cfd["days"].as_array().expect("days");
    assert_eq!(days.len(), expected.len());
    for (got, (ago, todo, in_progress, review, done)) in days.iter().zip(expected) {
        assert_eq!(
            got,
            &json!({"date": day(h.today, ago).to_string(), "todo": todo,
                    "in_progress": in_progress, "review": review, "done": done}),
        );
    }

    let burndown = get_json(
        &h.app,
        &h.owner,
        &format!(
            "/reports/projects/{}/burndown?from={from}&to={}",
            h.pid, h.today
        ),
    )
    .await;
    let days = burndown["days"].as_array().expect("days");
    for (got, (ago, todo, in_progress, review, done)) in days.iter().zip(expected) {
        assert_eq!(
            got,
            &json!({"date": day(h.today, ago).to_string(),
                    "open": todo + in_progress + review, "done": done}),
        );
    }
}

#[tokio::test]
async fn summary_counts_cycle_time_and_weekly_completions() {
    let h = history().await;
    let s = get_json(
        &h.app,
        &h.owner,
        &format!("/reports/projects/{}/summary", h.pid),
    )
    .await;
    assert_eq!(s["project_id"], h.pid);
    assert_eq!(s["total"], 4);
    assert_eq!(
        s["by_status"],
        json!({"todo": 1, "in_progress": 0, "review": 0, "done": 3})
    );
    assert_eq!(
        s["by_priority"],
        json!({"low": 0, "medium": 3, "high": 0, "urgent": 1})
    );
    let mut by_assignee = s["by_assignee"].as_array().expect("list").clone();
    by_assignee.sort_by_key(|a| a["assignee_id"].as_str().map(str::to_string));
    assert_eq!(
        by_assignee,
        vec![
            json!({"assignee_id": null, "total": 3, "done": 3}),
            json!({"assignee_id": h.member.id, "total": 1, "done": 0}),
        ]
    );
    assert_eq!(s["overdue"], 1);
    assert_eq!(s["percent_complete"], 75);
    // Cycle times: A 1 day, B 2 days, D 7 days → median 2 days.
    let median = s["median_cycle_time_seconds"].as_f64().expect("median");
    assert!((median - 172_800.0).abs() < 5.0, "{median}");

    let weeks = s["completed_per_week"].as_array().expect("weeks");
    assert_eq!(weeks.len(), 8);
    let week_of = |d: NaiveDate| {
        let w = d.iso_week();
        format!("{}-W{:02}", w.year(), w.week())
    };
    assert_eq!(weeks[7]["week"], week_of(h.today), "this week last");
    assert_eq!(
        weeks[0]["week"],
        week_of(h.today - chrono::Duration::weeks(7))
    );
    let mut expected = std::collections::HashMap::new();
    for ago in [8, 5, 3] {
        *expected.entry(week_of(day(h.today, ago))).or_insert(0u64) += 1;
    }
    for w in weeks {
        let name = w["week"].as_str().expect("week");
        assert_eq!(
            w["count"].as_u64(),
            Some(expected.get(name).copied().unwrap_or(0)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn workload_and_overview_count_what_they_should() {
    let h = history().await;
    let w = get_json(&h.app, &h.member, "/reports/users/me/workload").await;
    assert_eq!(
        w,
        json!({"user_id": h.member.id, "projects": [{"project_id": h.pid, "name": "History",
            "by_status": {"todo": 1, "in_progress": 0, "review": 0, "done": 0}, "overdue": 1}],
            "total": {"by_status": {"todo": 1, "in_progress": 0, "review": 0, "done": 0},
            "overdue": 1}})
    );
    let o = get_json(&h.app, &h.admin, "/reports/overview").await;
    assert_eq!(
        o,
        json!({"users": {"total": 3, "active": 3, "by_role": {"admin": 1, "member": 2}},
               "projects": {"total": 1, "by_status": {"active": 1, "on_hold": 0,
                            "completed": 0, "archived": 0}},
               "tasks": {"total": 4, "by_status": {"todo": 1, "in_progress": 0,
                         "review": 0, "done": 3}}})
    );
}

/// Splits an RFC 4180 document (no quoted fields expected here).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    assert!(text.ends_with("\r\n"), "CRLF line ends");
    text.trim_end_matches("\r\n")
        .split("\r\n")
        .map(|line| line.split(',').map(str::to_string).collect())
        .collect()
}

async fn get_csv(app: &TestApp, user: &TestUser, path: &str) -> Vec<Vec<String>> {
    let r = app
        .get(path)
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(
        r.headers()["content-type"].to_str().expect("ct"),
        "text/csv; charset=utf-8"
    );
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .expect("cd")
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    parse_csv(&r.text().await.expect("body"))
}

#[tokio::test]
async fn csv_formats_match_the_json_reports() {
    let h = history().await;
    let from = day(h.today, 4);
    let cfd = get_csv(
        &h.app,
        &h.owner,
        &format!(
            "/reports/projects/{}/cumulative-flow?from={from}&format=csv",
            h.pid
        ),
    )
    .await;
    assert_eq!(cfd[0], ["date", "todo", "in_progress", "review", "done"]);
    assert_eq!(cfd.len(), 1 + 5);
    assert_eq!(
        cfd[1],
        [
            from.to_string(),
            "0".into(),
            "0".into(),
            "1".into(),
            "2".into()
        ]
    );
    assert_eq!(
        cfd[5],
        [
            h.today.to_string(),
            "1".into(),
            "0".into(),
            "0".into(),
            "3".into()
        ]
    );

    let burndown = get_csv(
        &h.app,
        &h.owner,
        &format!(
            "/reports/projects/{}/burndown?from={from}&format=csv",
            h.pid
        ),
    )
    .await;
    assert_eq!(burndown[0], ["date", "open", "done"]);
    assert_eq!(burndown[5], [h.today.to_string(), "1".into(), "3".into()]);

    let workload = get_csv(&h.app, &h.member, "/reports/users/me/workload?format=csv").await;
    assert_eq!(
        workload,
        vec![
            vec![
                "project_id",
                "project_name",
                "todo",
                "in_progress",
                "review",
                "done",
                "overdue"
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>(),
            vec![
                h.pid.clone(),
                "History".into(),
                "1".into(),
                "0".into(),
                "0".into(),
                "0".into(),
                "1".into()
            ],
        ]
    );

    let summary = get_csv(
        &h.app,
        &h.owner,
        &format!("/reports/projects/{}/summary?format=csv", h.pid),
    )
    .await;
    assert_eq!(summary[0], ["section", "key", "value"]);
    let has = |s: &str, k: &str, v: &str| summary.iter().any(|r| r == &[s, k, v]);
    assert!(has("summary", "total", "4"));
    assert!(has("summary", "percent_complete", "75"));
    let median: f64 = summary
        .iter()
        .find(|r| r[0] == "summary" && r[1] == "median_cycle_time_seconds")
        .map(|r| r[2].parse().expect("number"))
        .expect("median row");
    assert!((median - 172_800.0).abs() < 5.0, "{median}");
    assert!(has("by_status", "done", "3"));
    assert!(has("by_priority", "urgent", "1"));

    let overview = get_csv(&h.app, &h.admin, "/reports/overview?format=csv").await;
    assert_eq!(overview[0], ["section", "key", "value"]);
    assert!(overview.iter().any(|r| r == &["users", "total", "3"]));
    assert!(
        overview
            .iter()
            .any(|r| r == &["tasks.by_status", "done", "3"])
    );
}

#[tokio::test]
async fn svg_charts_are_well_formed_with_title_axes_and_legend() {
    let h = history().await;
    for (report, legend) in [
        (
            "cumulative-flow",
            vec!["todo", "in_progress", "review", "done"],
        ),
        ("burndown", vec!["open", "done"]),
    ] {
        let r = h
            .app
            .get(&format!(
                "/reports/projects/{}/{report}?from={}&format=svg",
                h.pid,
                day(h.today, 11)
            ))
            .bearer_auth(&h.owner.access)
            .send()
            .await
            .expect("svg");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/svg+xml");
        let text = r.text().await.expect("body");
        let doc = roxmltree::Document::parse(&text).expect("valid XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("width"), Some("800"));
        assert_eq!(root.attribute("height"), Some("450"));
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        assert!(
            texts
                .iter()
                .any(|t| t.contains(&day(h.today, 11).to_string())),
            "first date"
        );
        assert!(
            texts.iter().any(|t| t.contains(&h.today.to_string())),
            "last date"
        );
        assert!(texts.contains(&"Tasks"), "y axis label");
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("Cumulative flow") || t.starts_with("Burndown"))
        );
        for name in legend {
            assert!(texts.contains(&name), "legend entry {name}");
        }
    }
    // Summary has no chart.
    let r = h
        .app
        .get(&format!("/reports/projects/{}/summary?format=svg", h.pid))
        .bearer_auth(&h.owner.access)
        .send()
        .await
        .expect("svg");
    let body = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["format"]);
}

#[tokio::test]
async fn cached_reports_are_never_stale() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Cache").await;
    let pid = project["id"].as_str().expect("id");
    let path = format!("/reports/projects/{pid}/summary");
    let first = get_json(&app, &owner, &path).await;
    assert_eq!(first["total"], 0);
    let again = get_json(&app, &owner, &path).await;
    assert_eq!(first, again);
    let task = app.create_task(&owner, pid, json!({"title": "new"})).await;
    assert_eq!(get_json(&app, &owner, &path).await["total"], 1);
    move_to(&app, &owner, &task, "done").await;
    let after = get_json(&app, &owner, &path).await;
    assert_eq!(after["by_status"]["done"], 1);
    assert_eq!(after["percent_complete"], 100);
    let cfd = get_json(
        &app,
        &owner,
        &format!("/reports/projects/{pid}/cumulative-flow"),
    )
    .await;
    let days = cfd["days"].as_array().expect("days");
    assert_eq!(days.len(), 30, "default range: the 30 days ending today");
    assert_eq!(days[29]["done"], 1);
    assert_eq!(days[29]["date"], Utc::now().date_naive().to_string());
}

#[tokio::test]
async fn report_parameters_are_validated() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Params").await;
    let pid = project["id"].as_str().expect("id");
    for (query, field) in [
        ("from=2026-11-20&to=2026-11-10", "from"),
        ("from=2025-01-01&to=2026-01-02", "to"),
        ("from=2026-02-30", "from"),
        ("to=yesterday", "to"),
        ("format=pdf", "format"),
    ] {
        let r = app
            .get(&format!("/reports/projects/{pid}/burndown?{query}"))
            .bearer_auth(&owner.access)
            .send()
            .await
            .expect("get");
        let body = assert_problem(r, 422, "validation_failed").await;
        assert_eq!(error_fields(&body), [field], "{query}");
    }
    // Exactly 366 days is allowed.
    let r = app
        .get(&format!(
            "/reports/projects/{pid}/burndown?from=2025-01-01&to=2026-01-01"
        ))
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["days"].as_array().map(Vec::len), Some(366));
}

#[tokio::test]
async fn reports_are_for_members_and_the_overview_for_admins() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let viewer = app.register().await;
    let stranger = app.register().await;
    let admin = app.admin().await;
    let project = app.create_project(&owner, "Private").await;
    let pid = project["id"].as_str().expect("id");
    app.add_member(&owner, pid, &viewer, "viewer").await;
    for report in ["summary", "cumulative-flow", "burndown"] {
        let path = format!("/reports/projects/{pid}/{report}");
        for (user, status) in [
            (&owner, 200),
            (&viewer, 200),
            (&admin, 200),
            (&stranger, 404),
        ] {
            let r = app
                .get(&path)
                .bearer_auth(&user.access)
                .send()
                .await
                .expect("get");
            assert_eq!(r.status().as_u16(), status, "{path}");
        }
        let r = app.get(&path).send().await.expect("get");
        assert_problem(r, 401, "unauthorized").await;
        let r = app
            .get(&format!("/reports/projects/not-a-uuid/{report}"))
            .bearer_auth(&owner.access)
            .send()
            .await
            .expect("get");
        assert_problem(r, 404, "not_found").await;
    }
    let r = app
        .get("/reports/overview")
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("get");
    assert_problem(r, 403, "forbidden").await;
    let w = get_json(&app, &stranger, "/reports/users/me/workload").await;
    assert_eq!(w["projects"], json!([]));
}

/// Renders the README's charts from a real server run over a month of simulated history:
/// `FLOWTRACK_CHART_DIR=docs cargo test --test api render_readme_charts -- --ignored`.
#[tokio::test]
#[ignore = "writes files; run on demand to refresh the README charts"]
async fn render_readme_charts() {
    let dir = std::env::var("FLOWTRACK_CHART_DIR").unwrap_or_else(|_| "docs".into());
    let app = TestApp::spawn().await;
    let today = Utc::now().date_naive();
    let mut owner = app.register().await;
    travel(&app, &mut owner, today, 30).await;
    let project = app.create_project(&owner, "Website relaunch").await;
    let pid = project["id"].as_str().expect("id").to_string();
    let mut tasks = Vec::new();
    for i in 0..24 {
        tasks.push(
            app.create_task(&owner, &pid, json!({"title": format!("Task {i}")}))
                .await,
        );
    }
    // Each task advances one column every few days; a few tasks arrive later.
    for ago in (0..30).rev() {
        travel(&app, &mut owner, today, ago).await;
        if ago % 4 == 0 && ago > 0 {
            for k in 0..3 {
                tasks.push(
                    app.create_task(&owner, &pid, json!({"title": format!("Late {ago}-{k}")}))
                        .await,
                );
            }
        }
        for (i, task) in tasks.iter_mut().enumerate() {
            if !(i + ago as usize).is_multiple_of(5) {
                continue;
            }
            let next = match task["status"].as_str() {
                Some("todo") => "in_progress",
                Some("in_progress") => "review",
                Some("review") => "done",
                _ => continue,
            };
            let r = app
                .move_task(
                    &owner,
                    task["id"].as_str().expect("id"),
                    json!({"status": next}),
                )
                .await;
            assert_eq!(r.status(), 200);
            *task = r.json().await.expect("json");
        }
    }
    app.clock.reset();
    owner = app.login(&owner.email, &owner.password).await;
    std::fs::create_dir_all(&dir).expect("dir");
    for report in ["cumulative-flow", "burndown"] {
        let svg = app
            .get(&format!("/reports/projects/{pid}/{report}?format=svg"))
            .bearer_auth(&owner.access)
            .send()
            .await
            .expect("svg")
            .text()
            .await
            .expect("body");
        std::fs::write(format!("{dir}/{report}.svg"), svg).expect("write");
    }
}

/// The activity's status columns of a database created before they existed are backfilled
/// from the entries' details, and the reports then answer exactly as over columns written
/// live: the down migration drops them, the up migration rebuilds them from the text.
#[tokio::test]
async fn reports_answer_the_same_over_backfilled_status_columns() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let h = history().await;
    let from = day(h.today, 11);
    let paths = [
        format!("/reports/projects/{}/summary", h.pid),
        format!(
            "/reports/projects/{}/cumulative-flow?from={from}&to={}",
            h.pid, h.today
        ),
        format!(
            "/reports/projects/{}/burndown?from={from}&to={}",
            h.pid, h.today
        ),
    ];
    let mut live = Vec::new();
    for path in &paths {
        live.push(get_json(&h.app, &h.owner, path).await);
    }

    let db = &h.app.state.db.write;
    Migrator::down(db, Some(1))
        .await
        .expect("down to the initial schema");
    Migrator::up(db, None).await.expect("up again: backfill");
    use flowtrack_store::models::activity_log::{Column, Entity};
    let with_status = Entity::find()
        .filter(Column::ToStatus.is_not_null())
        .count(db)
        .await
        .expect("count");
    // Five creations (A–E) and six moves.
    assert_eq!(with_status, 11);

    // A new instance: nothing cached from before.
    let mut config = h.app.state.config.clone();
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.redis_prefix = format!("fttest-{}", uuid::Uuid::now_v7().simple());
    let fresh = TestApp::start(config, h.app.db.clone()).await;
    for (path, before) in paths.iter().zip(&live) {
        assert_eq!(&get_json(&fresh, &h.owner, path).await, before, "{path}");
    }
}
