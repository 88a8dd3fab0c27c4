// The tab's live machinery: one reducer over the query cache, one socket.
import { api, session, unwrap } from '../api';
import { keys } from '../api/keys';
import type { Board } from '../api/types';
import { queryClient } from '../queryClient';
import { LiveReducer, type ServerMessage } from './reducer';
import { LiveSocket, type LiveStatus } from './socket';

export const liveReducer = new LiveReducer(queryClient, {
  me: () => session.user?.id ?? null,
  requestRefetch: (pid) => {
    queryClient
      .fetchQuery({ queryKey: keys.board(pid), queryFn: () => fetchBoard(pid), staleTime: 0 })
      .catch(() => liveReducer.resyncFailed(pid));
    // What else of the project may have been missed.
    void queryClient.invalidateQueries({ queryKey: keys.members(pid) });
    void queryClient.invalidateQueries({ queryKey: keys.project(pid) });
    void queryClient.invalidateQueries({ queryKey: keys.activity(pid) });
    void queryClient.invalidateQueries({ queryKey: ['comments'] });
    void queryClient.invalidateQueries({ queryKey: keys.projectsAll });
  },
});

/** Loads a board and continues live events from its seq. */
export async function fetchBoard(pid: string): Promise<Board> {
  const board = await unwrap(api.GET('/projects/{id}/board', { params: { path: { id: pid } } }));
  return liveReducer.adoptBoard(board as Board);
}

type StatusListener = (s: LiveStatus) => void;
let socket: LiveSocket | null = null;
let status: LiveStatus = 'offline';
const listeners = new Set<StatusListener>();

function setStatus(s: LiveStatus) {
  status = s;
  for (const l of [...listeners]) l(s);
}

export function liveStatus(): LiveStatus {
  return status;
}

export function onLiveStatus(fn: StatusListener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function startLive(userId: string) {
  stopLive();
  socket = new LiveSocket({
    userId,
    getToken: (force) => (force ? session.refresh() : session.freshAccessToken()),
    cursors: () => liveReducer.cursors(),
    onMessage: (msg) => liveReducer.handle(msg as ServerMessage),
    onStatus: setStatus,
    onOpen: (reconnected) => {
      if (reconnected) {
        // Projects without a known seq are not resumed: refresh what may have changed.
        void queryClient.invalidateQueries({ queryKey: keys.projectsAll });
        void queryClient.invalidateQueries({ queryKey: keys.notifications });
      }
    },
    onAuthFailed: () => session.clear('expired'),
  });
  socket.start();
}

export function stopLive() {
  socket?.stop();
  socket = null;
  setStatus('offline');
}
