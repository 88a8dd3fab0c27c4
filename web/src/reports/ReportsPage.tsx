import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, unwrap } from '../api';
import { ApiError, messageOf } from '../api/errors';
import { keys } from '../api/keys';
import { useMembers } from '../api/queries';
import { PRIORITIES, PRIORITY_LABEL, STATUSES, STATUS_LABEL, type Burndown, type CumulativeFlow, type Summary } from '../api/types';
import { useProject } from '../members/MembersPage';
import { NotFound } from '../pages/NotFound';
import { useToast } from '../ui/Toasts';
import { Chart } from './charts';
import { downloadWithAuth } from './download';

const COLORS = { todo: '#8792a8', in_progress: '#3b6fd4', review: '#b86e00', done: '#2f8a4c' };

function daysAgo(n: number): string {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}

function duration(seconds: number | null | undefined): string {
  if (seconds == null) return '—';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

function CsvButton({ path, filename, label }: { path: string; filename: string; label: string }) {
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      className="button button-small"
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        try {
          await downloadWithAuth(path, filename);
        } catch (e) {
          toast.show(messageOf(e), 'error');
        } finally {
          setBusy(false);
        }
      }}
    >
      {label}
    </button>
  );
}

export default function ReportsPage() {
  const { projectId = '' } = useParams();
  const project = useProject(projectId);
  const members = useMembers(projectId);
  const [from, setFrom] = useState(daysAgo(29));
  const [to, setTo] = useState(daysAgo(0));
  const range = `${from}..${to}`;
  const q = { from, to };

  const summary = useQuery({
    queryKey: keys.reports(projectId, 'summary'),
    queryFn: async () => (await unwrap(api.GET('/reports/projects/{id}/summary', { params: { path: { id: projectId } } }))) as Summary,
  });
  const cfd = useQuery({
    queryKey: keys.reports(projectId, 'cfd', range),
    queryFn: async () =>
      (await unwrap(api.GET('/reports/projects/{id}/cumulative-flow', { params: { path: { id: projectId }, query: q } }))) as CumulativeFlow,
  });
  const burndown = useQuery({
    queryKey: keys.reports(projectId, 'burndown', range),
    queryFn: async () =>
      (await unwrap(api.GET('/reports/projects/{id}/burndown', { params: { path: { id: projectId }, query: q } }))) as Burndown,
  });

  if (summary.error instanceof ApiError && summary.error.status === 404) return <NotFound what="project" />;
  const names = new Map((members.data ?? []).map((m) => [m.user.id, m.user.full_name]));
  const s = summary.data;
  const base = `/reports/projects/${projectId}`;
  const slug = (project.data?.name ?? 'project').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'project';
  const rangeQuery = `from=${from}&to=${to}`;

  return (
    <div className="page">
      <p className="breadcrumb">
        <Link to={`/projects/${projectId}`}>← {project.data?.name ?? 'Board'}</Link>
      </p>
      <div className="page-header">
        <h1>Reports{project.data ? <span className="muted"> · {project.data.name}</span> : null}</h1>
        <CsvButton path={`${base}/summary?format=csv`} filename={`${slug}-summary.csv`} label="Download summary CSV" />
      </div>

      {summary.isLoading ? (
        <p className="muted">Loading summary…</p>
      ) : summary.error ? (
        <p className="form-error" role="alert">
          {messageOf(summary.error)}
        </p>
      ) : s ? (
        <>
          <dl className="stats">
            <div className="stat">
              <dt>Tasks</dt>
              <dd>{s.total}</dd>
            </div>
            <div className="stat">
              <dt>Complete</dt>
              <dd>{s.percent_complete}%</dd>
            </div>
            <div className="stat">
              <dt>Overdue</dt>
              <dd className={s.overdue > 0 ? 'text-danger' : undefined}>{s.overdue}</dd>
            </div>
            <div className="stat">
              <dt>Median cycle time</dt>
              <dd>{duration(s.median_cycle_time_seconds)}</dd>
            </div>
          </dl>
        </>
      ) : null}

      <h2 className="section-title">Trends</h2>
      <div className="toolbar range">
        <div className="field field-inline">
          <label htmlFor="range-from">From</label>
          <input id="range-from" className="input input-small" type="date" value={from} max={to} onChange={(e) => e.target.value && setFrom(e.target.value)} />
        </div>
        <div className="field field-inline">
          <label htmlFor="range-to">To</label>
          <input id="range-to" className="input input-small" type="date" value={to} min={from} onChange={(e) => e.target.value && setTo(e.target.value)} />
        </div>
      </div>

      <div className="report-grid report-grid-2">
        <section className="card-panel" aria-labelledby="cfd-heading">
          <div className="panel-header">
            <h2 id="cfd-heading">Cumulative flow</h2>
            <CsvButton path={`${base}/cumulative-flow?format=csv&${rangeQuery}`} filename={`${slug}-cumulative-flow.csv`} label="Download cumulative flow CSV" />
          </div>
          {cfd.error ? (
            <p className="form-error" role="alert">
              {messageOf(cfd.error)}
            </p>
          ) : cfd.data ? (
            <Chart
              title="Cumulative flow"
              stacked
              dates={cfd.data.days.map((d) => d.date)}
              series={STATUSES.map((st) => ({ key: st, label: STATUS_LABEL[st], color: COLORS[st] }))}
              values={Object.fromEntries(STATUSES.map((st) => [st, cfd.data.days.map((d) => d[st])]))}
            />
          ) : (
            <p className="muted">Loading…</p>
          )}
        </section>
        <section className="card-panel" aria-labelledby="burndown-heading">
          <div className="panel-header">
            <h2 id="burndown-heading">Burndown</h2>
            <CsvButton path={`${base}/burndown?format=csv&${rangeQuery}`} filename={`${slug}-burndown.csv`} label="Download burndown CSV" />
          </div>
          {burndown.error ? (
            <p className="form-error" role="alert">
              {messageOf(burndown.error)}
            </p>
          ) : burndown.data ? (
            <Chart
              title="Burndown"
              dates={burndown.data.days.map((d) => d.date)}
              series={[
                { key: 'open', label: 'Open', color: COLORS.in_progress },
                { key: 'done', label: 'Done', color: COLORS.done },
              ]}
              values={{ open: burndown.data.days.map((d) => d.open), done: burndown.data.days.map((d) => d.done) }}
            />
          ) : (
            <p className="muted">Loading…</p>
          )}
        </section>
      </div>
      {s && (
        <>
          <h2 className="section-title">Breakdown</h2>
          <div className="report-grid">
        <section className="card-panel" aria-labelledby="by-status">
          <h2 id="by-status">By status</h2>
          <table className="mini-table">
            <tbody>
              {STATUSES.map((st) => (
                <tr key={st}>
                  <th scope="row">{STATUS_LABEL[st]}</th>
                  <td>{s.by_status[st]}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section className="card-panel" aria-labelledby="by-priority">
          <h2 id="by-priority">By priority</h2>
          <table className="mini-table">
            <tbody>
              {PRIORITIES.map((p) => (
                <tr key={p}>
                  <th scope="row">{PRIORITY_LABEL[p]}</th>
                  <td>{s.by_priority[p]}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section className="card-panel" aria-labelledby="by-assignee">
          <h2 id="by-assignee">By assignee</h2>
          <table className="mini-table">
            <thead>
              <tr>
                <th scope="col">Assignee</th>
                <th scope="col">Done</th>
                <th scope="col">Total</th>
              </tr>
            </thead>
            <tbody>
              {s.by_assignee.map((a) => (
                <tr key={a.assignee_id ?? 'none'}>
                  <th scope="row">{a.assignee_id ? (names.get(a.assignee_id) ?? 'Former member') : 'Unassigned'}</th>
                  <td>{a.done}</td>
                  <td>{a.total}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section className="card-panel" aria-labelledby="per-week">
          <h2 id="per-week">Completed per week</h2>
          <table className="mini-table">
            <tbody>
              {s.completed_per_week.map((w) => (
                <tr key={w.week}>
                  <th scope="row">{w.week}</th>
                  <td>
                    <span className="bar" style={{ width: `${Math.min(100, w.count * 8)}px` }} aria-hidden="true" /> {w.count}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>
        </>
      )}
    </div>
  );
}
