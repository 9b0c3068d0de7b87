import { useInfiniteQuery, useMutation, useQueryClient, type InfiniteData } from '@tanstack/react-query';
import { useEffect } from 'react';
import { Link, useSearchParams } from 'react-router';
import {
  FINAL_STATUSES,
  JOB_STATUS_NAMES,
  type Job,
  type JobStatus,
  type JobStatusEvent,
  type Page,
  type ProgressEvent,
} from '../../../client/index.js';
import { client } from '../api.js';
import { ErrorPanel, ProgressBar, StatusBadge, useNow } from '../components/bits.js';
import { between, when } from '../format.js';
import { withEvent } from '../jobEvents.js';

type Filters = { status?: JobStatus; name?: string };
type Pages = InfiniteData<Page<Job>, string | undefined>;

const isStatus = (value: string | null): value is JobStatus =>
  value !== null && (JOB_STATUS_NAMES as readonly string[]).includes(value);

/** Applies one change (or new counts) to the rows shown; answers false when the job is not among them. */
function patch(pages: Pages, event: JobStatusEvent | ProgressEvent): { pages: Pages; found: boolean } {
  let found = false;
  const next = pages.pages.map((page) => ({
    ...page,
    items: page.items.map((job) => {
      if (job.id !== event.data.data.jobId) return job;
      found = true;
      return withEvent(job, event);
    }),
  }));
  return { pages: { ...pages, pages: next }, found };
}

/**
 * Your jobs, newest first, kept live by your event stream: a status change moves its row at once,
 * a running job's bar moves with its counts, a new job appears at the top; filters live in the
 * address, so a filtered view can be shared.
 */
export function JobsPage() {
  const [params, setParams] = useSearchParams();
  const filters: Filters = {
    ...(isStatus(params.get('status')) ? { status: params.get('status') as JobStatus } : {}),
    ...(params.get('name') ? { name: params.get('name')! } : {}),
  };
  const key = ['jobs', filters] as const;
  const queries = useQueryClient();
  const jobs = useInfiniteQuery({
    queryKey: key,
    queryFn: ({ pageParam }) =>
      client.jobs.list({ ...filters, limit: 50, ...(pageParam ? { continuation: pageParam } : {}) }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.continuation,
  });

  useEffect(() => {
    const stop = new AbortController();
    void (async () => {
      try {
        for await (const event of client.events({ signal: stop.signal, progress: true })) {
          const current = queries.getQueryData<Pages>(key);
          if (!current) continue;
          const { pages, found } = patch(current, event);
          if (found) queries.setQueryData(key, pages);
          // A job this view has not seen: a new one, or one that now matches the filter.
          else if (event.event === 'job.status.changed') void queries.invalidateQueries({ queryKey: key });
        }
      } catch {
        // Stopped by leaving the page, or refused (the page's own query shows why).
      }
    })();
    return () => stop.abort();
    // The key is the filters: a new filter is a new stream.
  }, [filters.status, filters.name]);

  const rows = jobs.data?.pages.flatMap((page) => page.items) ?? [];
  const live = rows.some((job) => !FINAL_STATUSES.includes(job.status));
  const now = useNow(live);
  const setFilter = (name: keyof Filters, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  };

  return (
    <section aria-labelledby="jobs-title">
      <div className="heading">
        <h1 id="jobs-title">Jobs</h1>
        <Link className="button" to="/submit">
          Submit a job
        </Link>
      </div>
      <form className="filters" role="search" onSubmit={(event) => event.preventDefault()}>
        <label>
          Status
          <select value={filters.status ?? ''} onChange={(event) => setFilter('status', event.target.value)}>
            <option value="">any</option>
            {JOB_STATUS_NAMES.map((status) => (
              <option key={status} value={status}>
                {status.toLowerCase().replaceAll('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        <label>
          Name
          <input
            type="search"
            defaultValue={filters.name ?? ''}
            placeholder="exact name"
            onKeyDown={(event) => {
              if (event.key === 'Enter') setFilter('name', event.currentTarget.value.trim());
            }}
            onBlur={(event) => setFilter('name', event.currentTarget.value.trim())}
          />
        </label>
      </form>
      {jobs.isError && <ErrorPanel error={jobs.error} title="Your jobs could not be listed" />}
      <div className="table-wrap">
        <table className="jobs">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Submitted</th>
              <th scope="col">Run time</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {jobs.isPending && (
              <tr>
                <td colSpan={6} className="muted">
                  Loading…
                </td>
              </tr>
            )}
            {jobs.isSuccess && rows.length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  No jobs{filters.status || filters.name ? ' match these filters' : ' yet'}.{' '}
                  <Link to="/submit">Submit one</Link>.
                </td>
              </tr>
            )}
            {rows.map((job) => (
              <JobRow key={job.id} job={job} now={now} />
            ))}
          </tbody>
        </table>
      </div>
      {jobs.hasNextPage && (
        <button type="button" onClick={() => void jobs.fetchNextPage()} disabled={jobs.isFetchingNextPage}>
          {jobs.isFetchingNextPage ? 'Loading…' : 'More jobs'}
        </button>
      )}
    </section>
  );
}

function JobRow({ job, now }: { job: Job; now: number }) {
  const final = FINAL_STATUSES.includes(job.status);
  return (
    <tr data-job={job.id} data-status={job.status}>
      <td>
        <Link to={`/jobs/${encodeURIComponent(job.id)}`}>{job.name}</Link>
        <div className="muted small mono">{job.id.slice(0, 8)}</div>
      </td>
      <td>
        <StatusBadge status={job.status} />
        {job.condition && (
          <div className="muted small">{job.condition.toLowerCase().replaceAll('_', ' ')}</div>
        )}
      </td>
      <td>
        <ProgressBar counts={job.taskCounts} total={job.taskCount} />
      </td>
      <td>{when(job.createdAt)}</td>
      <td>{between(job.createdAt, final ? job.updatedAt : undefined, now)}</td>
      <td>
        <JobActions job={job} />
      </td>
    </tr>
  );
}

/** What can be done to a job in its state; deleting asks first. */
export function JobActions({ job, onDeleted }: { job: Job; onDeleted?: () => void }) {
  const queries = useQueryClient();
  const act = useMutation({
    mutationFn: async (action: 'cancel' | 'pause' | 'resume' | 'delete') => {
      if (action === 'delete') return client.jobs.delete(job.id);
      return client.jobs[action](job.id);
    },
    onSuccess: (_result, action) => {
      void queries.invalidateQueries({ queryKey: ['jobs'] });
      void queries.invalidateQueries({ queryKey: ['job', job.id] });
      if (action === 'delete') onDeleted?.();
    },
  });
  const final = FINAL_STATUSES.includes(job.status);
  return (
    <div className="actions">
      {!final && job.status !== 'PAUSED' && (
        <button type="button" onClick={() => act.mutate('pause')} disabled={act.isPending}>
          Pause<span className="visually-hidden"> {job.name}</span>
        </button>
      )}
      {job.status === 'PAUSED' && (
        <button type="button" onClick={() => act.mutate('resume')} disabled={act.isPending}>
          Resume<span className="visually-hidden"> {job.name}</span>
        </button>
      )}
      {!final && (
        <button
          type="button"
          className="danger"
          onClick={() => act.mutate('cancel')}
          disabled={act.isPending}
        >
          Cancel<span className="visually-hidden"> {job.name}</span>
        </button>
      )}
      {final && (
        <button
          type="button"
          className="danger"
          disabled={act.isPending}
          onClick={() => {
            if (window.confirm(`Delete job “${job.name}” and its records? Its outputs go with it.`))
              act.mutate('delete');
          }}
        >
          Delete<span className="visually-hidden"> {job.name}</span>
        </button>
      )}
      {act.isError && <ErrorPanel error={act.error} title="The job refused" />}
    </div>
  );
}
