import { useEffect, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';
import { api, unwrap } from '../api';
import { messageOf } from '../api/errors';
import { keys } from '../api/keys';
import { useProjects } from '../api/queries';
import { PROJECT_STATUSES, PROJECT_STATUS_LABEL, type Page, type Project } from '../api/types';
import { useMe } from '../auth/AuthContext';
import { ConfirmDialog } from '../ui/Dialog';
import { shortDate } from '../ui/format';
import { useToast } from '../ui/Toasts';
import { ProjectFormDialog } from './ProjectFormDialog';

export function ProgressBar({ percent, label }: { percent: number; label: string }) {
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
      <div className="progress-fill" style={{ width: `${percent}%` }} />
    </div>
  );
}

export function ProjectStatusChip({ status }: { status: Project['status'] }) {
  return <span className={`chip chip-status-${status}`}>{PROJECT_STATUS_LABEL[status]}</span>;
}

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function ProjectsPage() {
  const me = useMe();
  const [params, setParams] = useSearchParams();
  const status = params.get('status') ?? '';
  const [qInput, setQInput] = useState(params.get('q') ?? '');
  const q = useDebounced(qInput.trim(), 250);
  const { data, isLoading, error } = useProjects({ status, q });
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Project | null>(null);
  const [deleting, setDeleting] = useState<Project | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const qc = useQueryClient();
  const toast = useToast();

  useEffect(() => {
    const next = new URLSearchParams(params);
    if (q) next.set('q', q);
    else next.delete('q');
    if (next.toString() !== params.toString()) setParams(next, { replace: true });
  }, [q]); // eslint-disable-line react-hooks/exhaustive-deps

  async function setArchived(p: Project, archived: boolean) {
    try {
      const saved = (await unwrap(
        api.PATCH('/projects/{id}', { params: { path: { id: p.id } }, body: { status: archived ? 'archived' : 'active' } }),
      )) as Project;
      qc.setQueryData(keys.project(saved.id), saved);
      void qc.invalidateQueries({ queryKey: keys.projectsAll });
      toast.show(archived ? `Archived “${p.name}”.` : `Restored “${p.name}”.`);
    } catch (e) {
      toast.show(messageOf(e), 'error');
    }
  }

  async function doDelete(p: Project) {
    setBusy(true);
    setDeleteError(null);
    try {
      await unwrap(api.DELETE('/projects/{id}', { params: { path: { id: p.id } } }));
      void qc.invalidateQueries({ queryKey: keys.projectsAll });
      qc.removeQueries({ queryKey: keys.board(p.id) });
      setDeleting(null);
      toast.show(`Deleted “${p.name}”.`);
    } catch (e) {
      setDeleteError(messageOf(e));
    } finally {
      setBusy(false);
    }
  }

  const items = data?.items ?? [];
  return (
    <div className="page">
      <div className="page-header">
        <h1>Projects</h1>
        <button type="button" className="button button-primary" onClick={() => setCreating(true)}>
          New project
        </button>
      </div>
      <div className="toolbar" role="search" aria-label="Filter projects">
        <div className="field field-inline">
          <label htmlFor="project-search" className="visually-hidden">
            Search projects
          </label>
          <input
            id="project-search"
            className="input"
            type="search"
            placeholder="Search projects…"
            value={qInput}
            onChange={(e) => setQInput(e.target.value)}
          />
        </div>
        <div className="field field-inline">
          <label htmlFor="project-status" className="visually-hidden">
            Project status
          </label>
          <select
            id="project-status"
            className="input select"
            value={status}
            onChange={(e) => {
              const next = new URLSearchParams(params);
              if (e.target.value) next.set('status', e.target.value);
              else next.delete('status');
              setParams(next, { replace: true });
            }}
          >
            <option value="">All statuses</option>
            {PROJECT_STATUSES.map((s) => (
              <option key={s} value={s}>
                {PROJECT_STATUS_LABEL[s]}
              </option>
            ))}
          </select>
        </div>
      </div>

      {isLoading ? (
        <p className="muted" role="status">
          Loading projects…
        </p>
      ) : error ? (
        <p className="form-error" role="alert">
          {messageOf(error)}
        </p>
      ) : items.length === 0 ? (
        <div className="empty-state">
          <p>{q || status ? 'No projects match these filters.' : 'No projects yet. Create the first one to get started.'}</p>
        </div>
      ) : (
        <ul className="project-grid" aria-label="Projects">
          {items.map((p) => (
            <li key={p.id} className="project-card">
              <div className="project-card-top">
                <h2 className="project-name">
                  <Link to={`/projects/${p.id}`}>{p.name}</Link>
                </h2>
                <ProjectStatusChip status={p.status} />
              </div>
              {p.description && <p className="project-desc">{p.description}</p>}
              <div className="project-progress">
                <ProgressBar percent={p.progress.percent} label={`${p.name} progress`} />
                <span className="muted small">
                  {p.progress.done}/{p.progress.total} done · {p.progress.percent}%
                </span>
              </div>
              <div className="project-card-bottom">
                <span className="muted small">{p.due_date ? `Due ${shortDate(p.due_date)}` : 'No due date'}</span>
                <div className="card-actions">
                  <button type="button" className="button button-small button-ghost" aria-label={`Edit ${p.name}`} onClick={() => setEditing(p)}>
                    Edit
                  </button>
                  <button
                    type="button"
                    className="button button-small button-ghost"
                    aria-label={p.status === 'archived' ? `Restore ${p.name}` : `Archive ${p.name}`}
                    onClick={() => setArchived(p, p.status !== 'archived')}
                  >
                    {p.status === 'archived' ? 'Restore' : 'Archive'}
                  </button>
                  {(p.owner_id === me.id || me.role === 'admin') && (
                    <button
                      type="button"
                      className="button button-small button-ghost button-danger-text"
                      aria-label={`Delete ${p.name}`}
                      onClick={() => {
                        setDeleteError(null);
                        setDeleting(p);
                      }}
                    >
                      Delete
                    </button>
                  )}
                </div>
              </div>
            </li>
          ))}
        </ul>
      )}

      {creating && (
        <ProjectFormDialog
          onClose={() => setCreating(false)}
          onSaved={(p) => {
            setCreating(false);
            qc.setQueryData<Page<Project>>(keys.projects({ status, q }), (old) =>
              old && !old.items.some((x) => x.id === p.id) ? { ...old, items: [p, ...old.items] } : old,
            );
            toast.show(`Created “${p.name}”.`);
          }}
        />
      )}
      {editing && (
        <ProjectFormDialog
          project={editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            toast.show('Project saved.');
          }}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title="Delete project"
          message={
            <>
              Delete <strong>{deleting.name}</strong> and all of its tasks? This cannot be undone.
            </>
          }
          confirmLabel="Delete project"
          danger
          busy={busy}
          error={deleteError}
          onConfirm={() => doDelete(deleting)}
          onCancel={() => setDeleting(null)}
        />
      )}
    </div>
  );
}
