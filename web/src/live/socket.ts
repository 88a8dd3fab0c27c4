// ONE WebSocket per tab: /ws/notifications/{me}, the token via the subprotocol
// pair `bearer, <token>`, resume cursors at the upgrade, reconnect with capped
// exponential backoff and jitter, 4001 → refresh the token, then reconnect.
export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface LiveSocketOptions {
  userId: string;
  /** A valid access token; `force` asks for a refreshed one (after a 4001). */
  getToken: (force: boolean) => Promise<string>;
  /** Resume cursors: last applied seq per project. */
  cursors: () => Record<string, number>;
  onMessage: (msg: unknown) => void;
  onStatus: (s: LiveStatus) => void;
  /** Called after every (re)connection, e.g. to refresh what may have been missed. */
  onOpen?: (reconnected: boolean) => void;
  /** The token was refused and cannot be refreshed: stop. */
  onAuthFailed?: () => void;
  url?: (path: string) => string;
  WebSocketImpl?: typeof WebSocket;
}

export function backoffDelay(attempt: number, random = Math.random, base = 500, cap = 30_000): number {
  const exp = Math.min(cap, base * 2 ** Math.max(0, attempt));
  return Math.round(exp / 2 + random() * (exp / 2)); // "equal jitter"
}

export function resumeParam(cursors: Record<string, number>): string {
  return Object.entries(cursors)
    .map(([pid, seq]) => `${pid}:${seq}`)
    .join(',');
}

function defaultUrl(path: string): string {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${window.location.host}${path}`;
}

export class LiveSocket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private forceRefresh = false;
  private everOpened = false;
  status: LiveStatus = 'connecting';

  constructor(private readonly o: LiveSocketOptions) {}

  start() {
    this.stopped = false;
    void this.connect();
    window.addEventListener('online', this.onOnline);
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.clearPing();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.onerror = null;
      ws.onopen = null;
      try {
        ws.close(1000);
      } catch {
        /* ignore */
      }
    }
  }

  send(msg: unknown) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private onOnline = () => {
    if (this.status !== 'live' && !this.stopped) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.attempt = 0;
      void this.connect();
    }
  };

  private setStatus(s: LiveStatus) {
    if (this.status !== s) {
      this.status = s;
      this.o.onStatus(s);
    }
  }

  private clearPing() {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private async connect(quiet = false) {
    if (this.stopped) return;
    // A planned reconnect (token renewal) keeps showing "Live"; a failure shows "Reconnecting…".
    if (!quiet) this.setStatus(this.everOpened ? 'reconnecting' : 'connecting');
    let token: string;
    try {
      token = await this.o.getToken(this.forceRefresh);
      this.forceRefresh = false;
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 401 || status === 403) {
        this.setStatus('offline');
        this.o.onAuthFailed?.();
        return;
      }
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    const cursors = resumeParam(this.o.cursors());
    const path =
      `/ws/notifications/${encodeURIComponent(this.o.userId)}` + (cursors ? `?resume=${encodeURIComponent(cursors)}` : '');
    const Impl = this.o.WebSocketImpl ?? WebSocket;
    let ws: WebSocket;
    try {
      ws = new Impl((this.o.url ?? defaultUrl)(path), ['bearer', token]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.setStatus('live');
      this.clearPing();
      this.pingTimer = setInterval(() => this.send({ type: 'ping' }), 25_000);
      this.o.onOpen?.(reconnected);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg: unknown;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.o.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearPing();
      if (this.stopped) return;
      if (ev.code === 4001) {
        // Token expired or revoked: refresh, then reconnect at once.
        this.forceRefresh = true;
        this.attempt = 0;
        void this.connect(true);
        return;
      }
      // Refused at the upgrade (e.g. a revoked token): use a refreshed token next time.
      if (!opened) this.forceRefresh = true;
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private scheduleReconnect() {
    if (this.stopped) return;
    this.setStatus('reconnecting');
    const delay = backoffDelay(this.attempt++);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }
}
