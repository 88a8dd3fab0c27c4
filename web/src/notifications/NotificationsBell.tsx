import { useEffect, useId, useRef, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { api, unwrap } from '../api';
import { messageOf } from '../api/errors';
import { keys } from '../api/keys';
import { useNotifications, useUnread } from '../api/queries';
import type { Notification, Page } from '../api/types';
import { timeAgo } from '../ui/format';

export function NotificationsBell() {
  const [open, setOpen] = useState(false);
  const qc = useQueryClient();
  const unread = useUnread();
  const list = useNotifications(open);
  const panelId = useId();
  const wrapRef = useRef<HTMLDivElement>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);

  const count = unread.data?.items.length ?? 0;
  const countText = count > 199 ? '200+' : String(count);

  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (wrapRef.current && !wrapRef.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setOpen(false);
        buttonRef.current?.focus();
      }
    };
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);

  function markLocally(ids: Set<string> | 'all') {
    const now = new Date().toISOString();
    const hit = (n: Notification) => ids === 'all' || ids.has(n.id);
    qc.setQueryData<Page<Notification>>(keys.notifications, (old) =>
      old ? { ...old, items: old.items.map((n) => (hit(n) && !n.read_at ? { ...n, read_at: now } : n)) } : old,
    );
    qc.setQueryData<Page<Notification>>(keys.unread, (old) => (old ? { ...old, items: old.items.filter((n) => !hit(n)) } : old));
  }

  async function markRead(n: Notification) {
    setError(null);
    markLocally(new Set([n.id]));
    try {
      await unwrap(api.POST('/notifications/{id}/read', { params: { path: { id: n.id } } }));
    } catch (e) {
      setError(messageOf(e));
      void qc.invalidateQueries({ queryKey: keys.notifications });
    }
  }

  async function markAll() {
    setError(null);
    markLocally('all');
    try {
      await unwrap(api.POST('/notifications/read-all'));
    } catch (e) {
      setError(messageOf(e));
      void qc.invalidateQueries({ queryKey: keys.notifications });
    }
  }

  const items = list.data?.items ?? [];
  return (
    <div className="bell-wrap" ref={wrapRef}>
      <button
        ref={buttonRef}
        type="button"
        className="icon-button bell"
        aria-label={count > 0 ? `Notifications, ${countText} unread` : 'Notifications, none unread'}
        aria-expanded={open}
        aria-controls={panelId}
        onClick={() => setOpen((o) => !o)}
      >
        <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
          <path
            d="M12 3a6 6 0 0 0-6 6v3.5L4.5 15v1.5h15V15L18 12.5V9a6 6 0 0 0-6-6zm-2 15a2 2 0 0 0 4 0"
            fill="none"
            stroke="currentColor"
            strokeWidth="1.8"
            strokeLinejoin="round"
          />
        </svg>
        {count > 0 && (
          <span className="badge" aria-hidden="true">
            {count > 99 ? '99+' : count}
          </span>
        )}
      </button>
      {open && (
        <section id={panelId} className="popover notifications-panel" aria-label="Notifications">
          <div className="popover-header">
            <h2>Notifications</h2>
            <button type="button" className="button button-small" onClick={markAll} disabled={count === 0}>
              Mark all read
            </button>
          </div>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          {list.isLoading ? (
            <p className="muted pad">Loading…</p>
          ) : list.error ? (
            <p className="form-error pad" role="alert">
              {messageOf(list.error)}
            </p>
          ) : items.length === 0 ? (
            <p className="muted pad">You have no notifications.</p>
          ) : (
            <ul className="notification-list">
              {items.map((n) => (
                <li key={n.id} className={n.read_at ? 'notification' : 'notification unread'}>
                  <button
                    type="button"
                    className="notification-open"
                    onClick={() => {
                      if (!n.read_at) void markRead(n);
                      setOpen(false);
                      navigate(n.task_id ? `/projects/${n.project_id}/tasks/${n.task_id}` : `/projects/${n.project_id}`);
                    }}
                  >
                    <span className="notification-message">{n.message}</span>
                    <span className="notification-time">{timeAgo(n.created_at)}</span>
                  </button>
                  {!n.read_at && (
                    <button type="button" className="button button-small button-ghost" onClick={() => markRead(n)} aria-label={`Mark read: ${n.message}`}>
                      Mark read
                    </button>
                  )}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </div>
  );
}
