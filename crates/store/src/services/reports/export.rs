//! Reports as tables (CSV, RFC 4180) and as charts (SVG): the one place that knows each
//! report's columns and series. The HTTP layer only picks the format.

use chrono::NaiveDate;

use super::{Burndown, CumulativeFlow, FlowDay, Overview, Summary, Workload};
use crate::services::charts::{self, STATUS_COLOURS, Series};

/// A report as rows under a header.
pub struct Table {
    pub header: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

/// A report that can be downloaded as CSV.
pub trait AsTable {
    fn table(&self) -> Table;
}

/// A report that can be drawn as an SVG chart.
pub trait AsChart {
    fn chart(&self) -> String;
}

impl Table {
    /// A `section,key,value` table, the shape of the summary and the overview.
    fn sections(rows: Vec<(&str, &str, String)>) -> Self {
        Self {
            header: &["section", "key", "value"],
            rows: rows
                .into_iter()
                .map(|(section, key, value)| vec![section.to_string(), key.to_string(), value])
                .collect(),
        }
    }

    /// The CSV document: header then rows, CRLF line ends.
    pub fn to_csv(&self) -> String {
        let mut out = self.header.join(",");
        out.push_str("\r\n");
        for row in &self.rows {
            let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

/// One CSV field (RFC 4180: quoted when it holds a comma, quote or line break).
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

impl AsTable for Summary {
    fn table(&self) -> Table {
        let mut rows = vec![
            ("summary", "total", self.total.to_string()),
            ("summary", "overdue", self.overdue.to_string()),
            (
                "summary",
                "percent_complete",
                self.percent_complete.to_string(),
            ),
            (
                "summary",
                "median_cycle_time_seconds",
                self.median_cycle_time_seconds
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            ),
        ];
        let s = &self.by_status;
        for (key, v) in [
            ("todo", s.todo),
            ("in_progress", s.in_progress),
            ("review", s.review),
            ("done", s.done),
        ] {
            rows.push(("by_status", key, v.to_string()));
        }
        let p = &self.by_priority;
        for (key, v) in [
            ("low", p.low),
            ("medium", p.medium),
            ("high", p.high),
            ("urgent", p.urgent),
        ] {
            rows.push(("by_priority", key, v.to_string()));
        }
        let mut table = Table::sections(rows);
        for a in &self.by_assignee {
            let who = a
                .assignee_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "unassigned".into());
            table.rows.push(vec![
                "by_assignee.total".into(),
                who.clone(),
                a.total.to_string(),
            ]);
            table
                .rows
                .push(vec!["by_assignee.done".into(), who, a.done.to_string()]);
        }
        for w in &self.completed_per_week {
            table.rows.push(vec![
                "completed_per_week".into(),
                w.week.clone(),
                w.count.to_string(),
            ]);
        }
        table
    }
}

impl AsTable for CumulativeFlow {
    fn table(&self) -> Table {
        Table {
            header: &["date", "todo", "in_progress", "review", "done"],
            rows: self
                .days
                .iter()
                .map(|d| {
                    let mut row = vec![d.date.to_string()];
                    row.extend(flow_counts(d).map(|v| v.to_string()));
                    row
                })
                .collect(),
        }
    }
}

fn flow_counts(d: &FlowDay) -> [u64; 4] {
    [d.todo, d.in_progress, d.review, d.done]
}

fn dates_of<T>(days: &[T], date: fn(&T) -> NaiveDate) -> Vec<NaiveDate> {
    days.iter().map(date).collect()
}

impl AsChart for CumulativeFlow {
    fn chart(&self) -> String {
        let dates = dates_of(&self.days, |d| d.date);
        let series: Vec<Series<'_>> = STATUS_COLOURS
            .iter()
            .enumerate()
            .map(|(i, (label, colour))| Series {
                label,
                colour,
                values: self.days.iter().map(|d| flow_counts(d)[i]).collect(),
            })
            .collect();
        let title = format!("Cumulative flow, {} to {}", self.from, self.to);
        charts::stacked_area(&title, &dates, &series)
    }
}

impl AsTable for Burndown {
    fn table(&self) -> Table {
        Table {
            header: &["date", "open", "done"],
            rows: self
                .days
                .iter()
                .map(|d| vec![d.date.to_string(), d.open.to_string(), d.done.to_string()])
                .collect(),
        }
    }
}

impl AsChart for Burndown {
    fn chart(&self) -> String {
        let dates = dates_of(&self.days, |d| d.date);
        let series = [
            Series {
                label: "open",
                colour: "#ef4444",
                values: self.days.iter().map(|d| d.open).collect(),
            },
            Series {
                label: "done",
                colour: STATUS_COLOURS[3].1,
                values: self.days.iter().map(|d| d.done).collect(),
            },
        ];
        let title = format!("Burndown, {} to {}", self.from, self.to);
        charts::lines(&title, &dates, &series)
    }
}

impl AsTable for Workload {
    fn table(&self) -> Table {
        Table {
            header: &[
                "project_id",
                "project_name",
                "todo",
                "in_progress",
                "review",
                "done",
                "overdue",
            ],
            rows: self
                .projects
                .iter()
                .map(|p| {
                    let s = &p.by_status;
                    let mut row = vec![p.project_id.to_string(), p.name.clone()];
                    row.extend(
                        [s.todo, s.in_progress, s.review, s.done, p.overdue].map(|v| v.to_string()),
                    );
                    row
                })
                .collect(),
        }
    }
}

impl AsTable for Overview {
    fn table(&self) -> Table {
        let (users, projects, tasks) = (&self.users, &self.projects, &self.tasks);
        let mut rows = vec![
            ("users", "total", users.total.to_string()),
            ("users", "active", users.active.to_string()),
            ("users.by_role", "admin", users.by_role.admin.to_string()),
            ("users.by_role", "member", users.by_role.member.to_string()),
            ("projects", "total", projects.total.to_string()),
        ];
        let p = &projects.by_status;
        for (key, v) in [
            ("active", p.active),
            ("on_hold", p.on_hold),
            ("completed", p.completed),
            ("archived", p.archived),
        ] {
            rows.push(("projects.by_status", key, v.to_string()));
        }
        rows.push(("tasks", "total", tasks.total.to_string()));
        let t = &tasks.by_status;
        for (key, v) in [
            ("todo", t.todo),
            ("in_progress", t.in_progress),
            ("review", t.review),
            ("done", t.done),
        ] {
            rows.push(("tasks.by_status", key, v.to_string()));
        }
        Table::sections(rows)
    }
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
        let table = Table {
            header: &["a", "b"],
            rows: vec![vec!["1".into(), "x,y".into()]],
        };
        assert_eq!(table.to_csv(), "a,b\r\n1,\"x,y\"\r\n");
    }
}
