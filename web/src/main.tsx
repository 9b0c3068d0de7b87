import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, Route, Routes } from 'react-router';
import { needsSignIn } from './api.js';
import { Layout } from './components/Layout.js';
import { JobPage } from './pages/JobPage.js';
import { JobsPage } from './pages/JobsPage.js';
import { NotFoundPage } from './pages/NotFoundPage.js';
import { PoolsPage } from './pages/PoolsPage.js';
import { SubmitPage } from './pages/SubmitPage.js';
import { SubscriptionsPage } from './pages/SubscriptionsPage.js';
import './styles.css';

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
            <Route path="submit" element={<SubmitPage />} />
            <Route path="subscriptions" element={<SubscriptionsPage />} />
            <Route path="pools" element={<PoolsPage />} />
            <Route path="*" element={<NotFoundPage />} />
          </Route>
        </Routes>
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
