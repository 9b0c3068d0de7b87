import { useInfiniteQuery, useMutation, useQueryClient, type InfiniteData } from '@tanstack/react-query';
import { useEffect } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import {
  FINAL_STATUSES,
  type Job,
  type JobStatusEvent,
  type Page,
  type ProgressEvent,
} from '../../../client/index.js';
import { client } from '../api.js';
import { ErrorPanel, ProgressBar, StatusBadge, useNow } from '../components/bits.js';
import { between, when } from '../format.js';
import { withEvent } from '../jobEvents.js';
import { useMe } from '../me.js';
import {
  DEFAULT_SORT,
  hasFilters,
  JobFilters,
  readFilters,
  readSort,
  serviceSort,
  sortJobs,
  toQuery,
  type Sort,
  type SortKey,
} from './JobFilters.js';

type Pages = InfiniteData<Page<Job>, string | undefined>;

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

const COLUMNS: Array<{ key: SortKey; label: string; className?: string; admin?: boolean }> = [
  { key: 'name', label: 'Name' },
  { key: 'owner', label: 'Owner', admin: true },
  { key: 'status', label: 'Status' },
  { key: 'progress', label: 'Progress' },
  { key: 'priority', label: 'Priority', className: 'col-priority' },
  { key: 'submitted', label: 'Submitted', className: 'col-submitted' },
  { key: 'runTime', label: 'Run time' },
];

/**
 * Your jobs (an admin: anyone's), newest first, kept live by the event stream: a status change
 * moves its row at once, a running job's bar moves with its counts, a new job appears at the
 * top. Filters are the service's (so paging stays cheap at 10,000 jobs); sorting orders the rows
 * loaded so far. Both live in the address, so a view can be shared.
 */
export function JobsPage() {
  const [params, setParams] = useSearchParams();
  const filters = readFilters(params);
  const sort = readSort(params);
  const me = useMe();
  const admin = me.data?.admin ?? false;
  const order = serviceSort(sort);
  const key = ['jobs', filters, order] as const;
  const queries = useQueryClient();
  const jobs = useInfiniteQuery({
    queryKey: key,
    queryFn: ({ pageParam }) =>
      client.jobs.list({
        ...toQuery(filters),
        ...order,
        limit: 50,
        ...(pageParam ? { continuation: pageParam } : {}),
      }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.continuation,
  });

  useEffect(() => {
    const stop = new AbortController();
    void (async () => {
      try {
        const owner = filters.owner ? { owner: filters.owner } : {};
        for await (const event of client.events({ signal: stop.signal, progress: true, ...owner })) {
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
    // The key is the filters and the service's order: either new is a new stream.
  }, [JSON.stringify(key)]);

  const loaded = jobs.data?.pages.flatMap((page) => page.items) ?? [];
  const live = loaded.some((job) => !FINAL_STATUSES.includes(job.status));
  const now = useNow(live);
  const rows = sortJobs(loaded, sort, now);
  const change = (updates: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(updates)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    setParams(next, { replace: true });
  };
  const sortBy = (column: SortKey) => {
    const descending =
      column === sort.key
        ? !sort.descending
        : column === 'submitted' || column === 'runTime' || column === 'priority';
    const isDefault = column === DEFAULT_SORT.key && descending === DEFAULT_SORT.descending;
    change({ sort: isDefault ? '' : column, order: isDefault ? '' : descending ? 'desc' : 'asc' });
  };
  const columns = COLUMNS.filter((column) => !column.admin || admin);
  const span = columns.length + 1;

  return (
    <section aria-labelledby="jobs-title">
      <div className="heading">
        <h1 id="jobs-title">{filters.owner ? `Jobs of ${filters.owner}` : 'Jobs'}</h1>
        <Link className="button" to="/submit">
          Submit a job
        </Link>
      </div>
      <JobFilters filters={filters} admin={admin} onChange={(name, value) => change({ [name]: value })} />
      {jobs.isError && <ErrorPanel error={jobs.error} title="The jobs could not be listed" />}
      <div className="table-wrap">
        <table className="jobs">
          <JobsTableHead columns={columns} sort={sort} onSort={sortBy} />
          <tbody>
            {jobs.isPending && (
              <tr>
                <td colSpan={span} className="muted">
                  Loading…
                </td>
              </tr>
            )}
            {jobs.isSuccess && rows.length === 0 && (
              <tr>
                <td colSpan={span} className="muted">
                  No jobs{hasFilters(filters) ? ' match these filters' : ' yet'}.{' '}
                  <Link to="/submit">Submit one</Link>.
                </td>
              </tr>
            )}
            {rows.map((job) => (
              <JobRow key={job.id} job={job} now={now} showOwner={admin} />
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

function JobsTableHead({
  columns,
  sort,
  onSort,
}: {
  columns: typeof COLUMNS;
  sort: Sort;
  onSort: (column: SortKey) => void;
}) {
  return (
    <thead>
      <tr>
        {columns.map((column) => (
          <th
            key={column.key}
            scope="col"
            className={column.className}
            aria-sort={sort.key === column.key ? (sort.descending ? 'descending' : 'ascending') : undefined}
          >
            <button type="button" className="sort" onClick={() => onSort(column.key)}>
              {column.label}
              <span aria-hidden="true">{sort.key === column.key ? (sort.descending ? ' ↓' : ' ↑') : ''}</span>
            </button>
          </th>
        ))}
        <th scope="col">
          <span className="visually-hidden">Actions</span>
        </th>
      </tr>
    </thead>
  );
}

function JobRow({ job, now, showOwner }: { job: Job; now: number; showOwner: boolean }) {
  const final = FINAL_STATUSES.includes(job.status);
  return (
    <tr data-job={job.id} data-status={job.status}>
      <td>
        <Link to={`/jobs/${encodeURIComponent(job.id)}`}>{job.name}</Link>
        <div className="muted small mono">{job.id.slice(0, 8)}</div>
      </td>
      {showOwner && <td>{job.owner}</td>}
      <td>
        <StatusBadge status={job.status} />
        {job.condition && (
          <div className="muted small">{job.condition.toLowerCase().replaceAll('_', ' ')}</div>
        )}
      </td>
      <td>
        <ProgressBar counts={job.taskCounts} total={job.taskCount} />
      </td>
      <td className="col-priority num">{job.priority}</td>
      <td className="col-submitted">{when(job.createdAt)}</td>
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
    mutationFn: async (action: 'cancel' | 'pause' | 'resume' | 'complete' | 'delete') => {
      if (action === 'delete') return client.jobs.delete(job.id);
      return client.jobs[action](job.id);
    },
    onSuccess: (_result, action) => {
      void queries.invalidateQueries({ queryKey: ['jobs'] });
      void queries.invalidateQueries({ queryKey: ['job', job.id] });
      if (action === 'delete') onDeleted?.();
    },
  });
  const navigate = useNavigate();
  const again = useMutation({
    mutationFn: (tasks: 'all' | 'failed') => client.jobs.resubmit(job.id, { tasks }),
    onSuccess: (created) => {
      void queries.invalidateQueries({ queryKey: ['jobs'] });
      void queries.invalidateQueries({ queryKey: ['job', job.id] });
      void navigate(`/jobs/${encodeURIComponent(created.id)}`);
    },
  });
  const final = FINAL_STATUSES.includes(job.status);
  // Some task did not succeed: those can run again on their own.
  const unfinished = final && job.taskCount > 0 && (job.taskCounts.SUCCEEDED ?? 0) < job.taskCount;
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
      {job.open && !final && (
        <button
          type="button"
          onClick={() => act.mutate('complete')}
          disabled={act.isPending}
          title="No more tasks are coming: it ends once its tasks have"
        >
          Complete<span className="visually-hidden"> {job.name}</span>
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
      {unfinished && (
        <button
          type="button"
          onClick={() => again.mutate('failed')}
          disabled={again.isPending}
          title="A new job of the tasks that did not succeed; the others count as done"
        >
          Rerun failed<span className="visually-hidden"> tasks of {job.name}</span>
        </button>
      )}
      {final && (
        <button
          type="button"
          onClick={() => again.mutate('all')}
          disabled={again.isPending}
          title="A new job of all its tasks, from the same spec"
        >
          Resubmit<span className="visually-hidden"> {job.name}</span>
        </button>
      )}
      {final && (
        <Link className="button" to={`/jobs/${encodeURIComponent(job.id)}#outputs`}>
          Outputs<span className="visually-hidden"> of {job.name}</span>
        </Link>
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
      {again.isError && <ErrorPanel error={again.error} title="The job was not resubmitted" />}
    </div>
  );
}
