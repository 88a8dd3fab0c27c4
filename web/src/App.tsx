import { lazy, Suspense, type ReactNode } from 'react';
import { QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { queryClient } from './queryClient';
import { AuthProvider, useAuth } from './auth/AuthContext';
import { ToastProvider } from './ui/Toasts';
import { Layout } from './Layout';
import { RegisterPage, SignInPage } from './pages/AuthPages';
import { ProjectsPage } from './projects/ProjectsPage';
import { BoardPage } from './board/BoardPage';
import { MembersPage } from './members/MembersPage';
import { ProfilePage } from './profile/ProfilePage';
import { NotFound } from './pages/NotFound';

// Heavy, rarely used screens are loaded on demand.
const ReportsPage = lazy(() => import('./reports/ReportsPage'));
const WorkloadPage = lazy(() => import('./reports/WorkloadPage'));
const AdminPage = lazy(() => import('./admin/AdminPage'));

function RequireAuth({ children }: { children: ReactNode }) {
  const { state } = useAuth();
  const loc = useLocation();
  if (state.status === 'loading') {
    return (
      <div className="page-loading" role="status">
        Loading FlowTrack…
      </div>
    );
  }
  if (state.status === 'signedOut') {
    const next = loc.pathname + loc.search;
    return <Navigate to={next && next !== '/' ? `/signin?next=${encodeURIComponent(next)}` : '/signin'} replace />;
  }
  return <>{children}</>;
}

function Lazy({ children }: { children: ReactNode }) {
  return (
    <Suspense
      fallback={
        <div className="page-loading" role="status">
          Loading…
        </div>
      }
    >
      {children}
    </Suspense>
  );
}

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <BrowserRouter basename="/app">
        <ToastProvider>
          <AuthProvider>
            <Routes>
              <Route path="/signin" element={<SignInPage />} />
              <Route path="/register" element={<RegisterPage />} />
              <Route
                element={
                  <RequireAuth>
                    <Layout />
                  </RequireAuth>
                }
              >
                <Route index element={<Navigate to="/projects" replace />} />
                <Route path="/projects" element={<ProjectsPage />} />
                <Route path="/projects/:projectId" element={<BoardPage />}>
                  <Route path="tasks/:taskId" element={null} />
                </Route>
                <Route path="/projects/:projectId/members" element={<MembersPage />} />
                <Route
                  path="/projects/:projectId/reports"
                  element={
                    <Lazy>
                      <ReportsPage />
                    </Lazy>
                  }
                />
                <Route
                  path="/my-work"
                  element={
                    <Lazy>
                      <WorkloadPage />
                    </Lazy>
                  }
                />
                <Route
                  path="/admin"
                  element={
                    <Lazy>
                      <AdminPage />
                    </Lazy>
                  }
                />
                <Route path="/profile" element={<ProfilePage />} />
                <Route path="*" element={<NotFound />} />
              </Route>
            </Routes>
          </AuthProvider>
        </ToastProvider>
      </BrowserRouter>
    </QueryClientProvider>
  );
}
