import { useEffect, useState } from 'react';
import type { JobStatus, TaskStatus } from '../../../client/index.js';
import { doneCount, TASK_STATUS_NAMES } from '../../../client/index.js';
import { CloudJobsError, describe } from '../api.js';
import { tone } from '../format.js';

/** A state as a word in its tone's colour: the word is always there, so colour is never the only cue. */
export function StatusBadge({ status }: { status: JobStatus | TaskStatus }) {
  return <span className={`badge ${tone(status)}`}>{status.replaceAll('_', ' ').toLowerCase()}</span>;
}

/** Task counts as one bar, a segment per state, with the counts spelled out for screen readers. */
export function ProgressBar({
  counts,
  total,
}: {
  counts: Partial<Record<TaskStatus, number>>;
  total: number;
}) {
  const done = doneCount(counts);
  const label = TASK_STATUS_NAMES.filter((s) => (counts[s] ?? 0) > 0)
    .map((s) => `${counts[s]} ${s.toLowerCase()}`)
    .join(', ');
  return (
    <div
      className="progress"
      role="img"
      aria-label={`${done} of ${total} tasks done: ${label || 'none yet'}`}
    >
      <div className="bar" aria-hidden="true">
        {TASK_STATUS_NAMES.map((s) =>
          (counts[s] ?? 0) > 0 ? (
            <span
              key={s}
              className={`seg ${tone(s)}`}
              style={{ flexGrow: counts[s] }}
              title={`${counts[s]} ${s}`}
            />
          ) : null,
        )}
      </div>
      <span className="count">
        {done}/{total}
      </span>
    </div>
  );
}

/** The time now, moving every `ms` while `live`: run times of running jobs count up by themselves. */
export function useNow(live: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [live, ms]);
  return now;
}

/** An error as the API said it, with every field at fault. */
export function ErrorPanel({ error, title = 'Something went wrong' }: { error: unknown; title?: string }) {
  const fields = error instanceof CloudJobsError ? error.errors : [];
  return (
    <div className="panel error" role="alert">
      <strong>{title}</strong>
      <p>{describe(error)}</p>
      {fields.length > 0 && (
        <ul>
          {fields.map((f) => (
            <li key={`${f.path}:${f.message}`}>
              <code>{f.path || '(the whole document)'}</code>: {f.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
