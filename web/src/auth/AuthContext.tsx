import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, session, unwrap } from '../api';
import { REFRESH_TOKEN_KEY } from '../api/client';
import type { TokenPair, User } from '../api/types';
import { queryClient } from '../queryClient';
import { liveReducer, startLive, stopLive } from '../live/live';

type AuthState = { status: 'loading' } | { status: 'signedOut'; reason: string | null } | { status: 'signedIn'; user: User };

interface AuthApi {
  state: AuthState;
  user: User | null;
  signIn: (pair: TokenPair) => void;
  signOut: () => Promise<void>;
  setUser: (u: User) => void;
}

const Ctx = createContext<AuthApi | null>(null);

export function useAuth(): AuthApi {
  const v = useContext(Ctx);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}

/** The signed-in user (only inside signed-in routes). */
export function useMe(): User {
  const { user } = useAuth();
  if (!user) throw new Error('not signed in');
  return user;
}

function stateFromSession(): AuthState {
  if (session.user) return { status: 'signedIn', user: session.user };
  if (session.hasSession) return { status: 'loading' };
  return { status: 'signedOut', reason: session.endedReason };
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>(stateFromSession);

  useEffect(() => {
    const unsub = session.subscribe(() => setState(stateFromSession()));
    // A reload keeps you signed in: the stored refresh token gets a new access token.
    if (session.hasSession && !session.user) {
      unwrap(api.GET('/users/me'))
        .then((u) => session.setUser(u as User))
        .catch(() => {
          if (!session.hasSession) setState(stateFromSession());
          else setState({ status: 'signedOut', reason: 'offline' });
        });
    }
    // Another tab signed out.
    const onStorage = (e: StorageEvent) => {
      if (e.key === REFRESH_TOKEN_KEY && e.newValue === null && session.user) session.clear('signed_out');
    };
    window.addEventListener('storage', onStorage);
    return () => {
      unsub();
      window.removeEventListener('storage', onStorage);
    };
  }, []);

  const userId = state.status === 'signedIn' ? state.user.id : null;
  useEffect(() => {
    if (!userId) return;
    startLive(userId);
    return () => {
      stopLive();
    };
  }, [userId]);

  useEffect(() => {
    if (state.status === 'signedOut') {
      liveReducer.reset();
      queryClient.clear();
    }
  }, [state.status]);

  const signIn = useCallback((pair: TokenPair) => session.setPair(pair), []);
  const signOut = useCallback(() => session.signOut(), []);
  const setUser = useCallback((u: User) => session.setUser(u), []);

  const value = useMemo<AuthApi>(
    () => ({ state, user: state.status === 'signedIn' ? state.user : null, signIn, signOut, setUser }),
    [state, signIn, signOut, setUser],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}
