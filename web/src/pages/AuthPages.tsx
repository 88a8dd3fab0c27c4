import { useState, type FormEvent } from 'react';
import { Link, Navigate, useLocation, useNavigate } from 'react-router';
import { api, unwrap } from '../api';
import { ApiError } from '../api/errors';
import type { TokenPair } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { FormError, TextField, fieldError } from '../ui/Field';
import { Logo } from '../ui/Logo';

function useNext(): string {
  const loc = useLocation();
  const next = new URLSearchParams(loc.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/projects';
}

function AuthShell({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <main className="auth-page" id="main">
      <div className="auth-card">
        <div className="auth-brand">
          <Logo size={36} />
          <span>FlowTrack</span>
        </div>
        <h1 className="auth-title">{title}</h1>
        {children}
      </div>
    </main>
  );
}

export function SignInPage() {
  const { state, signIn } = useAuth();
  const next = useNext();
  const navigate = useNavigate();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  if (state.status === 'signedIn') return <Navigate to={next} replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const pair = await unwrap(api.POST('/auth/login', { body: { email, password } }));
      signIn(pair as TokenPair);
      navigate(next, { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const reason = state.status === 'signedOut' ? state.reason : null;
  return (
    <AuthShell title="Sign in">
      {reason === 'expired' && (
        <p className="notice" role="status">
          Your session has ended. Please sign in again.
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <TextField
          label="Email"
          type="email"
          name="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldError(error, 'email')}
        />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldError(error, 'password')}
        />
        <FormError error={error} shownFields={['email', 'password']} />
        <button type="submit" className="button button-primary button-block" disabled={busy}>
          Sign in
        </button>
      </form>
      <p className="auth-switch">
        New to FlowTrack? <Link to={`/register${next !== '/projects' ? `?next=${encodeURIComponent(next)}` : ''}`}>Register</Link>
      </p>
    </AuthShell>
  );
}

export function RegisterPage() {
  const { state, signIn } = useAuth();
  const next = useNext();
  const navigate = useNavigate();
  const [form, setForm] = useState({ email: '', password: '', full_name: '' });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  if (state.status === 'signedIn') return <Navigate to={next} replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const pair = await unwrap(api.POST('/auth/register', { body: form }));
      signIn(pair as TokenPair);
      navigate(next, { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const closed = error instanceof ApiError && error.status === 403;
  return (
    <AuthShell title="Create your account">
      {closed ? (
        <div className="form-error" role="alert">
          <p>
            <strong>Registration is closed.</strong> {error.detail}
          </p>
          <p>Ask an administrator of this FlowTrack to create an account for you.</p>
        </div>
      ) : null}
      <form onSubmit={submit} noValidate>
        <TextField
          label="Full name"
          name="full_name"
          autoComplete="name"
          required
          value={form.full_name}
          onChange={(e) => setForm({ ...form, full_name: e.target.value })}
          error={fieldError(error, 'full_name')}
        />
        <TextField
          label="Email"
          type="email"
          name="email"
          autoComplete="email"
          required
          value={form.email}
          onChange={(e) => setForm({ ...form, email: e.target.value })}
          error={fieldError(error, 'email')}
        />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="new-password"
          required
          minLength={8}
          maxLength={128}
          hint="8 to 128 characters."
          value={form.password}
          onChange={(e) => setForm({ ...form, password: e.target.value })}
          error={fieldError(error, 'password')}
        />
        {!closed && <FormError error={error} shownFields={['email', 'password', 'full_name']} />}
        <button type="submit" className="button button-primary button-block" disabled={busy}>
          Create account
        </button>
      </form>
      <p className="auth-switch">
        Already have an account? <Link to={`/signin${next !== '/projects' ? `?next=${encodeURIComponent(next)}` : ''}`}>Sign in</Link>
      </p>
    </AuthShell>
  );
}
