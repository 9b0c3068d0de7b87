import {
  doneCount,
  FINAL_STATUSES,
  JOB_STATUS_NAMES,
  type Job,
  type JobStatus,
  type JobsQuery,
} from '../../../client/index.js';
import { elapsedMs } from '../format.js';

/** The filters of the jobs list, as they are kept in the address (so a view can be shared). */
export interface Filters {
  status?: JobStatus;
  name?: string;
  /** `key` or `key=value`. */
  tag?: string;
  /** Submitted on or after this day (`YYYY-MM-DD`, the reader's time zone). */
  from?: string;
  /** Submitted on or before this day. */
  to?: string;
  /** Admins: whose jobs. */
  owner?: string;
}

const FILTER_NAMES = ['status', 'name', 'tag', 'from', 'to', 'owner'] as const;
const isDay = (value: string) => /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value));

/** The filters in the address; anything malformed there is ignored rather than sent. */
export function readFilters(params: Pick<URLSearchParams, 'get'>): Filters {
  const filters: Filters = {};
  for (const name of FILTER_NAMES) {
    const value = params.get(name)?.trim();
    if (!value) continue;
    if (name === 'status') {
      if ((JOB_STATUS_NAMES as readonly string[]).includes(value)) filters.status = value as JobStatus;
    } else if (name === 'from' || name === 'to') {
      if (isDay(value)) filters[name] = value;
    } else {
      filters[name] = value;
    }
  }
  return filters;
}

/** Midnight starting a day in the reader's time zone, as an instant. */
const startOfDay = (day: string, plusDays = 0) => {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Date(y, m - 1, d + plusDays).toISOString();
};

/** The list query the filters ask for: days become instants, the `to` day counted whole. */
export function toQuery(filters: Filters): JobsQuery {
  return {
    ...(filters.status ? { status: filters.status } : {}),
    ...(filters.name ? { name: filters.name } : {}),
    ...(filters.tag ? { tag: filters.tag } : {}),
    ...(filters.from ? { createdAfter: startOfDay(filters.from) } : {}),
    ...(filters.to ? { createdBefore: startOfDay(filters.to, 1) } : {}),
    ...(filters.owner ? { owner: filters.owner } : {}),
  };
}

export const hasFilters = (filters: Filters): boolean => Object.keys(filters).length > 0;

/** The columns the loaded rows can be sorted by, and how each compares. */
export const SORTS = {
  name: (a: Job, b: Job) => a.name.localeCompare(b.name),
  status: (a: Job, b: Job) => JOB_STATUS_NAMES.indexOf(a.status) - JOB_STATUS_NAMES.indexOf(b.status),
  progress: (a: Job, b: Job) =>
    doneCount(a.taskCounts) / (a.taskCount || 1) - doneCount(b.taskCounts) / (b.taskCount || 1),
  owner: (a: Job, b: Job) => a.owner.localeCompare(b.owner),
  priority: (a: Job, b: Job) => a.priority - b.priority,
  submitted: (a: Job, b: Job) => a.createdAt.localeCompare(b.createdAt),
  runTime: (a: Job, b: Job, now: number) => runMs(a, now) - runMs(b, now),
} satisfies Record<string, (a: Job, b: Job, now: number) => number>;
export type SortKey = keyof typeof SORTS;
export interface Sort {
  key: SortKey;
  descending: boolean;
}
/** Newest first, as the service lists them. */
export const DEFAULT_SORT: Sort = { key: 'submitted', descending: true };

/** A job's run time so far, as the Run time column shows it. */
const runMs = (job: Job, now: number) =>
  elapsedMs(job.createdAt, FINAL_STATUSES.includes(job.status) ? job.updatedAt : undefined, now);

export function readSort(params: Pick<URLSearchParams, 'get'>): Sort {
  const key = params.get('sort');
  if (!key || !(key in SORTS)) return DEFAULT_SORT;
  return { key: key as SortKey, descending: params.get('order') === 'desc' };
}

/**
 * The order to ask the service for. Sorting by priority is the service's, so that paging goes
 * through every job in that order; other columns order the rows loaded so far.
 */
export const serviceSort = (sort: Sort): JobsQuery => (sort.key === 'priority' ? { sort: 'priority' } : {});

/** The rows in the chosen order; ties keep the service's order. */
export function sortJobs(rows: Job[], sort: Sort, now: number): Job[] {
  if (sort.key === DEFAULT_SORT.key && sort.descending) return rows;
  const compare = SORTS[sort.key];
  return rows
    .map((job, index) => ({ job, index }))
    .sort((a, b) => (sort.descending ? -1 : 1) * compare(a.job, b.job, now) || a.index - b.index)
    .map(({ job }) => job);
}

/** The filter form: each change goes to the address at once (text fields on Enter or leaving them). */
export function JobFilters({
  filters,
  admin,
  onChange,
}: {
  filters: Filters;
  admin: boolean;
  onChange: (name: keyof Filters, value: string) => void;
}) {
  const text = (name: 'name' | 'tag' | 'owner', label: string, placeholder: string) => (
    <label>
      {label}
      <input
        type="search"
        // A new value from the address (a shared link, back) replaces what is typed.
        key={filters[name] ?? ''}
        defaultValue={filters[name] ?? ''}
        placeholder={placeholder}
        onKeyDown={(event) => {
          if (event.key === 'Enter') onChange(name, event.currentTarget.value.trim());
        }}
        onBlur={(event) => onChange(name, event.currentTarget.value.trim())}
      />
    </label>
  );
  return (
    <form
      className="filters"
      role="search"
      aria-label="Filter jobs"
      onSubmit={(event) => event.preventDefault()}
    >
      <label>
        Status
        <select value={filters.status ?? ''} onChange={(event) => onChange('status', event.target.value)}>
          <option value="">any</option>
          {JOB_STATUS_NAMES.map((status) => (
            <option key={status} value={status}>
              {status.toLowerCase().replaceAll('_', ' ')}
            </option>
          ))}
        </select>
      </label>
      {text('name', 'Name', 'exact name')}
      {text('tag', 'Tag', 'key or key=value')}
      <label>
        Submitted from
        <input
          type="date"
          value={filters.from ?? ''}
          onChange={(event) => onChange('from', event.target.value)}
        />
      </label>
      <label>
        to
        <input
          type="date"
          value={filters.to ?? ''}
          onChange={(event) => onChange('to', event.target.value)}
        />
      </label>
      {admin && text('owner', 'Owner', 'yours')}
    </form>
  );
}
