import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { api, unwrap } from '../api';
import type { User } from '../api/types';
import { useAuth, useMe } from '../auth/AuthContext';
import { FormError, TextField, fieldError } from '../ui/Field';
import { useToast } from '../ui/Toasts';

export function ProfilePage() {
  const me = useMe();
  const { setUser, signOut } = useAuth();
  const toast = useToast();
  const navigate = useNavigate();
  const [name, setName] = useState(me.full_name);
  const [email, setEmail] = useState(me.email);
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [pw, setPw] = useState({ current_password: '', new_password: '', confirm: '' });
  const [pwErr, setPwErr] = useState<unknown>(null);
  const [pwBusy, setPwBusy] = useState(false);
  const [confirmErr, setConfirmErr] = useState<string | undefined>();

  async function saveProfile(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    const body: { full_name?: string; email?: string } = {};
    if (name !== me.full_name) body.full_name = name;
    if (email !== me.email) body.email = email;
    try {
      const u = (await unwrap(api.PATCH('/users/me', { body }))) as User;
      setUser(u);
      setName(u.full_name);
      setEmail(u.email);
      toast.show('Profile saved.');
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  }

  async function changePassword(e: FormEvent) {
    e.preventDefault();
    setPwErr(null);
    if (pw.new_password !== pw.confirm) {
      setConfirmErr('The two new passwords differ.');
      return;
    }
    setConfirmErr(undefined);
    setPwBusy(true);
    try {
      await unwrap(api.PUT('/users/me/password', { body: { current_password: pw.current_password, new_password: pw.new_password } }));
      // Every session ends with a password change: sign in again.
      await signOut();
      toast.show('Password changed. Please sign in with your new password.');
      navigate('/signin', { replace: true });
    } catch (x) {
      setPwErr(x);
    } finally {
      setPwBusy(false);
    }
  }

  return (
    <div className="page page-narrow">
      <h1>Your profile</h1>
      <form className="card-panel" onSubmit={saveProfile} noValidate>
        <h2>Details</h2>
        <TextField label="Full name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} error={fieldError(err, 'full_name')} />
        <TextField label="Email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} error={fieldError(err, 'email')} />
        <p className="muted small">Role: {me.role === 'admin' ? 'Administrator' : 'Member'}</p>
        <FormError error={err} shownFields={['full_name', 'email']} />
        <button type="submit" className="button button-primary" disabled={busy || (name === me.full_name && email === me.email)}>
          Save profile
        </button>
      </form>
      <form className="card-panel" onSubmit={changePassword} noValidate>
        <h2>Change password</h2>
        <TextField
          label="Current password"
          type="password"
          autoComplete="current-password"
          value={pw.current_password}
          onChange={(e) => setPw({ ...pw, current_password: e.target.value })}
          error={fieldError(pwErr, 'current_password')}
        />
        <TextField
          label="New password"
          type="password"
          autoComplete="new-password"
          hint="8 to 128 characters. You will be signed out everywhere."
          value={pw.new_password}
          onChange={(e) => setPw({ ...pw, new_password: e.target.value })}
          error={fieldError(pwErr, 'new_password')}
        />
        <TextField
          label="Confirm new password"
          type="password"
          autoComplete="new-password"
          value={pw.confirm}
          onChange={(e) => setPw({ ...pw, confirm: e.target.value })}
          error={confirmErr}
        />
        <FormError error={pwErr} shownFields={['current_password', 'new_password']} />
        <button type="submit" className="button button-primary" disabled={pwBusy}>
          Change password
        </button>
      </form>
    </div>
  );
}
