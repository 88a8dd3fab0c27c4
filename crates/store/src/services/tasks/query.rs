//! `GET /tasks`: the tasks a caller may see, filtered, sorted and cursor-paginated.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Order, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Principal;

use super::Task;
use crate::models::task_labels;
use crate::models::tasks::{self, Priority, TaskStatus};
use crate::services::projects;
use crate::services::users::like_pattern;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::pagination::{Page, PageRequest};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Position,
    CreatedAt,
    DueDate,
    Priority,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, raw),
        };
        let key = match name {
            "position" => SortKey::Position,
            "created_at" => SortKey::CreatedAt,
            "due_date" => SortKey::DueDate,
            "priority" => SortKey::Priority,
            _ => {
                return Err(
                    "must be one of position, created_at, due_date, priority (- for descending)"
                        .into(),
                );
            }
        };
        Ok(Self { key, descending })
    }
}

#[derive(Default)]
pub struct TaskFilter {
    pub project_id: Option<Uuid>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Uuid>,
    pub label: Option<String>,
    pub q: Option<String>,
    pub due_before: Option<NaiveDate>,
    pub sort: Option<Sort>,
}

fn priority_rank() -> SimpleExpr {
    let col = || Expr::col(tasks::Column::Priority);
    Expr::case(col().eq("low"), 0)
        .case(col().eq("medium"), 1)
        .case(col().eq("high"), 2)
        .finally(3)
        .into()
}

fn rank_of(p: Priority) -> i32 {
    match p {
        Priority::Low => 0,
        Priority::Medium => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

/// The sort value of a row as carried in a cursor.
fn cursor_key(sort: Sort, t: &tasks::Model) -> String {
    let value = match sort.key {
        SortKey::Position => json!(t.position),
        SortKey::CreatedAt => json!(t.created_at.timestamp_millis()),
        SortKey::DueDate => json!(t.due_date.map(|d| d.to_string())),
        SortKey::Priority => json!(rank_of(t.priority)),
    };
    json!([value, t.id]).to_string()
}

fn bad_cursor() -> AppError {
    AppError::BadRequest("The cursor is not valid.".into())
}

/// The keyset condition "strictly after the cursor row" for a sort.
fn after_cursor(sort: Sort, raw: &str) -> AppResult<Condition> {
    let (value, id): (serde_json::Value, Uuid) =
        serde_json::from_str(raw).map_err(|_| bad_cursor())?;
    let id_col = || Expr::col(tasks::Column::Id);
    let beyond = |e: SimpleExpr, v: SimpleExpr| if sort.descending { e.lt(v) } else { e.gt(v) };
    let id_beyond = beyond(id_col(), Expr::value(id));
    let keyset = |e: SimpleExpr, v: SimpleExpr| {
        Condition::any()
            .add(beyond(e.clone(), v.clone()))
            .add(Condition::all().add(e.eq(v)).add(id_beyond.clone()))
    };
    Ok(match sort.key {
        SortKey::Position => {
            let v = value.as_str().ok_or_else(bad_cursor)?.to_string();
            keyset(Expr::col(tasks::Column::Position), Expr::value(v))
        }
        SortKey::CreatedAt => {
            let ms = value.as_i64().ok_or_else(bad_cursor)?;
            let at = DateTime::<Utc>::from_timestamp_millis(ms).ok_or_else(bad_cursor)?;
            keyset(Expr::col(tasks::Column::CreatedAt), Expr::value(at))
        }
        SortKey::Priority => {
            let rank = value.as_i64().ok_or_else(bad_cursor)?;
            keyset(priority_rank(), Expr::value(rank))
        }
        SortKey::DueDate => {
            // Tasks without a due date come last in both directions.
            let due = || Expr::col(tasks::Column::DueDate);
            match value {
                serde_json::Value::Null => Condition::all().add(due().is_null()).add(id_beyond),
                serde_json::Value::String(s) => {
                    let d: NaiveDate = s.parse().map_err(|_| bad_cursor())?;
                    Condition::any().add(due().is_null()).add(
                        Condition::all()
                            .add(due().is_not_null())
                            .add(keyset(due(), Expr::value(d))),
                    )
                }
                _ => return Err(bad_cursor()),
            }
        }
    })
}

/// `GET /tasks`: tasks visible to the caller, filtered, sorted and cursor-paginated.
pub async fn list(
    state: &Store,
    principal: &Principal,
    filter: TaskFilter,
    page: PageRequest,
) -> AppResult<Page<Task>> {
    let sort = filter.sort.unwrap_or_else(|| default_sort(&filter));
    let (query, unicode_q) = filtered(principal, &filter);
    let query = ordered(query, sort);
    let rows = match unicode_q {
        None => {
            let mut query = query;
            if let Some(after) = &page.after {
                query = query.filter(after_cursor(sort, after)?);
            }
            query.limit(page.limit + 1).all(&state.db.read).await?
        }
        Some(needle) => read_unicode_matches(state, query, sort, &page, &needle).await?,
    };
    Ok(page.finish(rows, |t| cursor_key(sort, t), |t| Task::from(&t)))
}

/// Board order within one column, else newest first.
fn default_sort(filter: &TaskFilter) -> Sort {
    if filter.project_id.is_some() && filter.status.is_some() {
        Sort {
            key: SortKey::Position,
            descending: false,
        }
    } else {
        Sort {
            key: SortKey::CreatedAt,
            descending: true,
        }
    }
}

/// The visible tasks matching the filter; with a non-ASCII `q`, also the lower-cased
/// needle still to be matched in Rust (see [`read_unicode_matches`]).
fn filtered(principal: &Principal, filter: &TaskFilter) -> (Select<tasks::Entity>, Option<String>) {
    let mut query =
        tasks::Entity::find().filter(projects::visible_to(principal, tasks::Column::ProjectId));
    if let Some(p) = filter.project_id {
        query = query.filter(tasks::Column::ProjectId.eq(p));
    }
    if let Some(s) = filter.status {
        query = query.filter(tasks::Column::Status.eq(s));
    }
    if let Some(p) = filter.priority {
        query = query.filter(tasks::Column::Priority.eq(p));
    }
    if let Some(a) = filter.assignee_id {
        query = query.filter(tasks::Column::AssigneeId.eq(a));
    }
    if let Some(label) = &filter.label {
        let labelled = Query::select()
            .column(task_labels::Column::TaskId)
            .from(task_labels::Entity)
            .and_where(Expr::col(task_labels::Column::Label).eq(label.as_str()))
            .to_owned();
        query = query.filter(tasks::Column::Id.in_subquery(labelled));
    }
    if let Some(d) = filter.due_before {
        query = query.filter(tasks::Column::DueDate.lt(d));
    }
    match filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => text_search(query, q),
        None => (query, None),
    }
}

/// `q` on title and description. SQL `lower()` folds ASCII letters only (SQLite always,
/// PostgreSQL under the C locale): a search with other letters is narrowed in SQL by its
/// ASCII part, and the needle is returned to be matched with Unicode case folding.
fn text_search(query: Select<tasks::Entity>, q: &str) -> (Select<tasks::Entity>, Option<String>) {
    let (pattern, unicode_q) = if q.is_ascii() {
        (like_pattern(q), None)
    } else {
        let needle = q.to_lowercase();
        (ascii_like_pattern(&needle), Some(needle))
    };
    let like = |col: tasks::Column| {
        Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern.clone()).escape('\\'))
    };
    let query = query.filter(
        Condition::any()
            .add(like(tasks::Column::Title))
            .add(like(tasks::Column::Description)),
    );
    (query, unicode_q)
}

/// Orders by the sort key, then by id (a total order, so keyset cursors are exact).
fn ordered(query: Select<tasks::Entity>, sort: Sort) -> Select<tasks::Entity> {
    let order = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let query = match sort.key {
        SortKey::Position => query.order_by(tasks::Column::Position, order.clone()),
        SortKey::CreatedAt => query.order_by(tasks::Column::CreatedAt, order.clone()),
        SortKey::Priority => query.order_by(priority_rank(), order.clone()),
        SortKey::DueDate => query
            .order_by(Expr::col(tasks::Column::DueDate).is_null(), Order::Asc)
            .order_by(tasks::Column::DueDate, order.clone()),
    };
    query.order_by(tasks::Column::Id, order)
}

/// A Unicode search: reads on in keyset batches until the page (+1) is full.
async fn read_unicode_matches(
    state: &Store,
    query: Select<tasks::Entity>,
    sort: Sort,
    page: &PageRequest,
    needle: &str,
) -> AppResult<Vec<tasks::Model>> {
    const BATCH: u64 = 500;
    let matches = |t: &tasks::Model| {
        t.title.to_lowercase().contains(needle) || t.description.to_lowercase().contains(needle)
    };
    let mut rows = Vec::new();
    let mut after = page.after.clone();
    loop {
        let mut batch = query.clone();
        if let Some(after) = &after {
            batch = batch.filter(after_cursor(sort, after)?);
        }
        let fetched = batch.limit(BATCH).all(&state.db.read).await?;
        let exhausted = (fetched.len() as u64) < BATCH;
        after = fetched.last().map(|t| cursor_key(sort, t));
        rows.extend(fetched.into_iter().filter(|t| matches(t)));
        if exhausted || rows.len() as u64 > page.limit {
            return Ok(rows);
        }
    }
}

/// A `LIKE` pattern (escape character `\`) that every case variant of the lower-cased
/// `needle` matches under ASCII-only `lower()`: its ASCII characters, with a `%` for each
/// run of others.
fn ascii_like_pattern(needle: &str) -> String {
    let mut pattern = String::from("%");
    let mut wildcard = true;
    for c in needle.chars() {
        if c.is_ascii() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
            wildcard = false;
        } else if !wildcard {
            pattern.push('%');
            wildcard = true;
        }
    }
    if !wildcard {
        pattern.push('%');
    }
    pattern
}

#[cfg(test)]
mod tests {
    use super::ascii_like_pattern;

    #[test]
    fn unicode_searches_are_narrowed_by_their_ascii_part() {
        assert_eq!(ascii_like_pattern("ärger"), "%rger%");
        assert_eq!(ascii_like_pattern("büro 50%"), "%b%ro 50\\%%");
        assert_eq!(ascii_like_pattern("日本語"), "%");
        assert_eq!(ascii_like_pattern("a_ä"), "%a\\_%");
    }
}
