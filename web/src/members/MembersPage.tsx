import { useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router';
import { api, unwrap } from '../api';
import { ApiError, messageOf } from '../api/errors';
import { keys } from '../api/keys';
import { useMembers } from '../api/queries';
import { ROLES, ROLE_LABEL, type Member, type Project, type ProjectRole } from '../api/types';
import { useMe } from '../auth/AuthContext';
import { NotFound } from '../pages/NotFound';
import { Avatar } from '../ui/Avatar';
import { ConfirmDialog } from '../ui/Dialog';
import { FormError, SelectField, TextField, fieldError } from '../ui/Field';
import { useToast } from '../ui/Toasts';

export function useProject(projectId: string) {
  return useQuery({
    queryKey: keys.project(projectId),
    queryFn: async () => (await unwrap(api.GET('/projects/{id}', { params: { path: { id: projectId } } }))) as Project,
  });
}

export function MembersPage() {
  const { projectId = '' } = useParams();
  const me = useMe();
  const qc = useQueryClient();
  const toast = useToast();
  const navigate = useNavigate();
  const project = useProject(projectId);
  const members = useMembers(projectId);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<ProjectRole>('editor');
  const [inviteError, setInviteError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [removing, setRemoving] = useState<Member | null>(null);
  const [removeError, setRemoveError] = useState<string | null>(null);

  const myRole = members.data?.find((m) => m.user.id === me.id)?.role;
  const isOwner = me.role === 'admin' || myRole === 'owner';

  function setMembers(fn: (list: Member[]) => Member[]) {
    qc.setQueryData<Member[]>(keys.members(projectId), (old) => (old ? fn(old) : old));
  }

  async function invite(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setInviteError(null);
    try {
      const m = (await unwrap(
        api.POST('/projects/{id}/members', { params: { path: { id: projectId } }, body: { email, role } }),
      )) as Member;
      setMembers((list) => (list.some((x) => x.user.id === m.user.id) ? list : [...list, m]));
      setEmail('');
      toast.show(`${m.user.full_name} was added as ${ROLE_LABEL[m.role].toLowerCase()}.`);
    } catch (err) {
      setInviteError(err);
    } finally {
      setBusy(false);
    }
  }

  async function changeRole(m: Member, r: ProjectRole) {
    try {
      const saved = (await unwrap(
        api.PATCH('/projects/{id}/members/{user_id}', { params: { path: { id: projectId, user_id: m.user.id } }, body: { role: r } }),
      )) as Member;
      setMembers((list) => list.map((x) => (x.user.id === saved.user.id ? saved : x)));
      toast.show(`${m.user.full_name} is now ${ROLE_LABEL[saved.role].toLowerCase()}.`);
    } catch (err) {
      toast.show(messageOf(err), 'error');
      void qc.invalidateQueries({ queryKey: keys.members(projectId) });
    }
  }

  async function remove(m: Member) {
    setRemoveError(null);
    try {
      await unwrap(api.DELETE('/projects/{id}/members/{user_id}', { params: { path: { id: projectId, user_id: m.user.id } } }));
      setRemoving(null);
      if (m.user.id === me.id) {
        toast.show(`You left “${project.data?.name ?? 'the project'}”.`);
        void qc.invalidateQueries({ queryKey: keys.projectsAll });
        qc.removeQueries({ queryKey: keys.board(projectId) });
        navigate('/projects');
      } else {
        setMembers((list) => list.filter((x) => x.user.id !== m.user.id));
        toast.show(`${m.user.full_name} was removed.`);
      }
    } catch (err) {
      setRemoveError(messageOf(err));
    }
  }

  if (members.error instanceof ApiError && members.error.status === 404) return <NotFound what="project" />;
  const list = members.data ?? [];
  const meMember = list.find((m) => m.user.id === me.id);
  return (
    <div className="page page-narrow">
      <p className="breadcrumb">
        <Link to={`/projects/${projectId}`}>← {project.data?.name ?? 'Board'}</Link>
      </p>
      <div className="page-header">
        <h1>Members{project.data ? <span className="muted"> · {project.data.name}</span> : null}</h1>
        {meMember && (
          <button
            type="button"
            className="button button-ghost button-danger-text"
            onClick={() => {
              setRemoveError(null);
              setRemoving(meMember);
            }}
          >
            Leave project
          </button>
        )}
      </div>

      {isOwner && (
        <form className="card-panel invite-form" onSubmit={invite} noValidate>
          <h2>Invite a member</h2>
          <div className="field-row field-row-end">
            <TextField
              label="Email"
              type="email"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              error={fieldError(inviteError, 'email') ?? fieldError(inviteError, 'user_id')}
            />
            <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value as ProjectRole)} error={fieldError(inviteError, 'role')}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {ROLE_LABEL[r]}
                </option>
              ))}
            </SelectField>
            <button type="submit" className="button button-primary" disabled={busy}>
              Invite
            </button>
          </div>
          <FormError error={inviteError} shownFields={['email', 'user_id', 'role']} />
        </form>
      )}

      {members.isLoading ? (
        <p className="muted">Loading members…</p>
      ) : members.error ? (
        <p className="form-error" role="alert">
          {messageOf(members.error)}
        </p>
      ) : (
        <ul className="member-list" aria-label="Members">
          {list.map((m) => (
            <li key={m.user.id} className="member-row">
              <Avatar name={m.user.full_name} id={m.user.id} decorative />
              <div className="member-info">
                <div className="member-name">
                  {m.user.full_name}
                  {m.user.id === me.id && <span className="muted"> (you)</span>}
                </div>
                <div className="muted small">{m.user.email}</div>
              </div>
              {isOwner ? (
                <select
                  className="input input-small select"
                  aria-label={`Role of ${m.user.full_name}`}
                  value={m.role}
                  onChange={(e) => changeRole(m, e.target.value as ProjectRole)}
                >
                  {ROLES.map((r) => (
                    <option key={r} value={r}>
                      {ROLE_LABEL[r]}
                    </option>
                  ))}
                </select>
              ) : (
                <span className={`chip chip-role-${m.role}`}>{ROLE_LABEL[m.role]}</span>
              )}
              {isOwner && m.user.id !== me.id && (
                <button
                  type="button"
                  className="button button-small button-ghost button-danger-text"
                  aria-label={`Remove ${m.user.full_name}`}
                  onClick={() => {
                    setRemoveError(null);
                    setRemoving(m);
                  }}
                >
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
      )}

      {removing && (
        <ConfirmDialog
          title={removing.user.id === me.id ? 'Leave project' : 'Remove member'}
          message={
            removing.user.id === me.id
              ? `Leave “${project.data?.name ?? 'this project'}”? You will lose access to its board.`
              : `Remove ${removing.user.full_name} from “${project.data?.name ?? 'this project'}”?`
          }
          confirmLabel={removing.user.id === me.id ? 'Leave project' : 'Remove member'}
          danger
          error={removeError}
          onConfirm={() => remove(removing)}
          onCancel={() => setRemoving(null)}
        />
      )}
    </div>
  );
}
