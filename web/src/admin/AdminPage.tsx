import { useEffect, useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../api';
import { messageOf } from '../api/errors';
import { keys } from '../api/keys';
import type { Page, User } from '../api/types';
import { useMe } from '../auth/AuthContext';
import { NotFound } from '../pages/NotFound';
import { Dialog } from '../ui/Dialog';
import { FormError, SelectField, TextField, fieldError } from '../ui/Field';
import { useToast } from '../ui/Toasts';

function CreateUserDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (u: User) => void }) {
  const [form, setForm] = useState({ email: '', full_name: '', password: '', role: 'member' as User['role'] });
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      onCreated((await unwrap(api.POST('/users', { body: form }))) as User);
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Dialog
      title="Create user"
      onClose={onClose}
      footer={
        <>
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="create-user-form" className="button button-primary" disabled={busy}>
            Create user
          </button>
        </>
      }
    >
      <form id="create-user-form" onSubmit={submit} noValidate>
        <TextField label="Full name" value={form.full_name} onChange={(e) => setForm({ ...form, full_name: e.target.value })} error={fieldError(err, 'full_name')} />
        <TextField label="Email" type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} error={fieldError(err, 'email')} />
        <TextField
          label="Password"
          type="password"
          autoComplete="new-password"
          hint="8 to 128 characters."
          value={form.password}
          onChange={(e) => setForm({ ...form, password: e.target.value })}
          error={fieldError(err, 'password')}
        />
        <SelectField label="Role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as User['role'] })} error={fieldError(err, 'role')}>
          <option value="member">Member</option>
          <option value="admin">Administrator</option>
        </SelectField>
        <FormError error={err} shownFields={['full_name', 'email', 'password', 'role']} />
      </form>
    </Dialog>
  );
}

export default function AdminPage() {
  const me = useMe();
  const qc = useQueryClient();
  const toast = useToast();
  const [qInput, setQInput] = useState('');
  const [q, setQ] = useState('');
  const [creating, setCreating] = useState(false);
  useEffect(() => {
    const t = setTimeout(() => setQ(qInput.trim()), 250);
    return () => clearTimeout(t);
  }, [qInput]);

  const users = useQuery({
    queryKey: keys.users(q),
    queryFn: async () => (await unwrap(api.GET('/users', { params: { query: { q: q || undefined, limit: 200 } } }))) as Page<User>,
    enabled: me.role === 'admin',
  });

  if (me.role !== 'admin') return <NotFound />;

  async function update(u: User, body: { role?: User['role']; is_active?: boolean }, message: string) {
    try {
      const saved = (await unwrap(api.PATCH('/users/{id}', { params: { path: { id: u.id } }, body }))) as User;
      qc.setQueryData<Page<User>>(keys.users(q), (old) => (old ? { ...old, items: old.items.map((x) => (x.id === saved.id ? saved : x)) } : old));
      void qc.invalidateQueries({ queryKey: keys.usersAll });
      toast.show(message);
    } catch (e) {
      toast.show(messageOf(e), 'error');
      void qc.invalidateQueries({ queryKey: keys.usersAll });
    }
  }

  async function deactivate(u: User) {
    try {
      await unwrap(api.DELETE('/users/{id}', { params: { path: { id: u.id } } }));
      void qc.invalidateQueries({ queryKey: keys.usersAll });
      toast.show(`${u.full_name} was deactivated.`);
    } catch (e) {
      toast.show(messageOf(e), 'error');
    }
  }

  const items = users.data?.items ?? [];
  return (
    <div className="page">
      <div className="page-header">
        <h1>Users</h1>
        <button type="button" className="button button-primary" onClick={() => setCreating(true)}>
          Create user
        </button>
      </div>
      <div className="toolbar" role="search" aria-label="Search users">
        <label htmlFor="user-search" className="visually-hidden">
          Search users
        </label>
        <input id="user-search" className="input" type="search" placeholder="Search by name or email…" value={qInput} onChange={(e) => setQInput(e.target.value)} />
      </div>
      {users.isLoading ? (
        <p className="muted">Loading users…</p>
      ) : users.error ? (
        <p className="form-error" role="alert">
          {messageOf(users.error)}
        </p>
      ) : (
        <div className="table-wrap card-panel">
          <table className="data-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.length === 0 && (
                <tr>
                  <td colSpan={5} className="muted">
                    No users match.
                  </td>
                </tr>
              )}
              {items.map((u) => (
                <tr key={u.id} className={u.is_active ? undefined : 'row-inactive'}>
                  <th scope="row">
                    {u.full_name}
                    {u.id === me.id && <span className="muted"> (you)</span>}
                  </th>
                  <td>{u.email}</td>
                  <td>
                    <select
                      className="input input-small select"
                      aria-label={`Role of ${u.full_name}`}
                      value={u.role}
                      onChange={(e) => update(u, { role: e.target.value as User['role'] }, `${u.full_name} is now ${e.target.value === 'admin' ? 'an administrator' : 'a member'}.`)}
                    >
                      <option value="member">Member</option>
                      <option value="admin">Administrator</option>
                    </select>
                  </td>
                  <td>
                    <span className={u.is_active ? 'chip chip-active' : 'chip chip-inactive'}>{u.is_active ? 'Active' : 'Deactivated'}</span>
                  </td>
                  <td className="actions-cell">
                    {u.is_active ? (
                      <button type="button" className="button button-small button-ghost button-danger-text" aria-label={`Deactivate ${u.full_name}`} onClick={() => deactivate(u)}>
                        Deactivate
                      </button>
                    ) : (
                      <button type="button" className="button button-small" aria-label={`Reactivate ${u.full_name}`} onClick={() => update(u, { is_active: true }, `${u.full_name} was reactivated.`)}>
                        Reactivate
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <CreateUserDialog
          onClose={() => setCreating(false)}
          onCreated={(u) => {
            setCreating(false);
            void qc.invalidateQueries({ queryKey: keys.usersAll });
            toast.show(`${u.full_name} was created.`);
          }}
        />
      )}
    </div>
  );
}
