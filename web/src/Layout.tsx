import { useEffect, useState } from 'react';
import { Link, NavLink, Outlet, useNavigate } from 'react-router';
import { useAuth, useMe } from './auth/AuthContext';
import { liveStatus, onLiveStatus } from './live/live';
import type { LiveStatus } from './live/socket';
import { NotificationsBell } from './notifications/NotificationsBell';
import { Avatar } from './ui/Avatar';
import { Logo } from './ui/Logo';

function LiveIndicator() {
  const [status, setStatus] = useState<LiveStatus>(liveStatus);
  useEffect(() => onLiveStatus(setStatus), []);
  const text = status === 'live' ? 'Live' : status === 'connecting' ? 'Connecting…' : status === 'offline' ? 'Offline' : 'Reconnecting…';
  return (
    <span className={`live live-${status}`} role="status" aria-live="polite" title="Real-time updates">
      <span className="live-dot" aria-hidden="true" />
      <span className="live-text">{text}</span>
    </span>
  );
}

export function Layout() {
  const me = useMe();
  const { signOut } = useAuth();
  const navigate = useNavigate();
  return (
    <div className="app">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/projects" className="brand" aria-label="FlowTrack home">
          <Logo />
          <span className="brand-name">FlowTrack</span>
        </Link>
        <nav className="topnav" aria-label="Main">
          <NavLink to="/projects">Projects</NavLink>
          <NavLink to="/my-work">My work</NavLink>
          {me.role === 'admin' && <NavLink to="/admin">Admin</NavLink>}
        </nav>
        <div className="topbar-right">
          <LiveIndicator />
          <NotificationsBell />
          <Link to="/profile" className="user-chip" aria-label={`Profile: ${me.full_name}`}>
            <Avatar name={me.full_name} id={me.id} size="sm" decorative />
            <span className="user-name">{me.full_name}</span>
          </Link>
          <button
            type="button"
            className="button button-ghost button-small"
            onClick={async () => {
              await signOut();
              navigate('/signin', { replace: true });
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" className="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
