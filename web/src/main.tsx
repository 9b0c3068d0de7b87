import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, StrictMode, Suspense, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, Route, Routes } from 'react-router';
import { needsSignIn } from './api.js';
import { Layout } from './components/Layout.js';
import { JobPage } from './pages/JobPage.js';
import { JobsPage } from './pages/JobsPage.js';
import { NotFoundPage } from './pages/NotFoundPage.js';
import './styles.css';

/**
 * The pages but the jobs list and a job's load when first visited, so those two, the pages people
 * open from links and notifications, do not wait for the submit form's YAML parser and schema
 * checker. Those two are not split off: a page that suspends is shown no sooner than 300 ms after
 * its fallback (React batches reveals), which would cost more than their code does to load.
 */
function page(load: () => Promise<() => ReactNode>) {
  const Page = lazy(async () => ({ default: await load() }));
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <Page />
    </Suspense>
  );
}

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      // Live pages are kept fresh by the event stream, not by refetching on a timer.
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      // The client already retried what can be retried; a refusal will not change on its own.
      retry: (count, error) => !needsSignIn(error) && count < 1,
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queries}>
      <BrowserRouter>
        <Routes>
          <Route element={<Layout />}>
            <Route index element={<JobsPage />} />
            <Route path="jobs/:id" element={<JobPage />} />
            <Route
              path="submit"
              element={page(async () => (await import('./pages/SubmitPage.js')).SubmitPage)}
            />
            <Route
              path="subscriptions"
              element={page(async () => (await import('./pages/SubscriptionsPage.js')).SubscriptionsPage)}
            />
            <Route
              path="pools"
              element={page(async () => (await import('./pages/PoolsPage.js')).PoolsPage)}
            />
            <Route
              path="files"
              element={page(async () => (await import('./pages/FilesPage.js')).FilesPage)}
            />
            <Route
              path="secrets"
              element={page(async () => (await import('./pages/SecretsPage.js')).SecretsPage)}
            />
            <Route path="*" element={<NotFoundPage />} />
          </Route>
        </Routes>
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
