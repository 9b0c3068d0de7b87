import { useMutation, useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { DONE_TASK_STATUSES, type Task } from '../../../client/index.js';
import { client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';

/** The most of a log kept in the page: the end of a huge log is what a reader wants. */
const KEEP = 2 * 1024 * 1024;

/**
 * A task's stdout or stderr. A running task's log is followed as it grows and the view stays at
 * its end while the reader is there; a search keeps only the lines that match.
 */
export function LogViewer({ jobId, task, jobEnded }: { jobId: string; task: Task; jobEnded: boolean }) {
  const [stream, setStream] = useState<'stdout' | 'stderr'>('stdout');
  // The latest attempt unless the reader picks an earlier one of a retried task.
  const [attempt, setAttempt] = useState<number | undefined>();
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>();
  const [following, setFollowing] = useState(false);
  const [search, setSearch] = useState('');
  const view = useRef<HTMLPreElement>(null);
  const running = task.status === 'RUNNING' || task.status === 'QUEUED' || task.status === 'PENDING';
  // The task's new state arrives with the page's event stream; the job carries on without it.
  const cancel = useMutation({ mutationFn: () => client.jobs.cancelTask(jobId, task.id) });
  const attempts = useQuery({
    queryKey: ['job', jobId, 'task', task.id, 'attempts', task.status],
    queryFn: () => client.jobs.attempts(jobId, task.id),
    enabled: task.status !== 'PENDING' && task.status !== 'QUEUED',
  });
  const earlier = attempt !== undefined && attempt < (attempts.data?.items.length ?? 0);

  useEffect(() => {
    const stop = new AbortController();
    setText('');
    setError(undefined);
    setFollowing(running && !earlier);
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of client.jobs.log(jobId, task.id, {
          stream,
          follow: running && !earlier,
          ...(attempt !== undefined ? { attempt } : {}),
          signal: stop.signal,
        })) {
          const piece = decoder.decode(chunk, { stream: true });
          setText((old) => (old + piece).slice(-KEEP));
        }
      } catch (caught) {
        if (!stop.signal.aborted) setError(caught);
      } finally {
        if (!stop.signal.aborted) setFollowing(false);
      }
    })();
    return () => stop.abort();
    // A task that ends keeps its stream; one that starts is followed from then.
  }, [jobId, task.id, stream, running, attempt, earlier]);

  useEffect(() => {
    const pre = view.current;
    if (pre && following && !search) pre.scrollTop = pre.scrollHeight;
  }, [text, following, search]);

  const shown = useMemo(() => {
    if (!search) return text;
    const needle = search.toLowerCase();
    return text
      .split('\n')
      .filter((line) => line.toLowerCase().includes(needle))
      .join('\n');
  }, [text, search]);

  return (
    <section className="panel log" aria-labelledby="log-title">
      <div className="heading">
        <h3 id="log-title">
          Log of task <span className="mono">{task.id}</span>
        </h3>
        {!jobEnded && !DONE_TASK_STATUSES.includes(task.status) && (
          <button
            type="button"
            className="danger"
            disabled={cancel.isPending}
            onClick={() => {
              // A cancelled task does not come back, and what depends on it may be skipped.
              if (window.confirm(`Cancel task “${task.id}”? Tasks that depend on it will be skipped.`))
                cancel.mutate();
            }}
          >
            Cancel task<span className="visually-hidden"> {task.id}</span>
          </button>
        )}
        <AttemptPicker
          count={attempts.data?.items.length ?? 0}
          running={attempts.data?.items.find((a) => a.running)?.attempt}
          value={attempt}
          onChange={setAttempt}
        />
        <div role="group" aria-label="Stream" className="toggle">
          {(['stdout', 'stderr'] as const).map((s) => (
            <button key={s} type="button" aria-pressed={stream === s} onClick={() => setStream(s)}>
              {s}
            </button>
          ))}
        </div>
      </div>
      {cancel.isError && <ErrorPanel error={cancel.error} title="The task was not cancelled" />}
      <div className="filters">
        <label>
          Search
          <input type="search" value={search} onChange={(event) => setSearch(event.target.value)} />
        </label>
        <span className="muted small" aria-live="polite">
          {following ? 'following the running task' : text ? '' : 'empty so far'}
        </span>
      </div>
      {error !== undefined && <ErrorPanel error={error} title="The log could not be read" />}
      <pre ref={view} tabIndex={0} aria-label={`${stream} of ${task.id}`} data-log={stream}>
        {shown}
      </pre>
    </section>
  );
}

/** Which attempt of a retried task to read: shown only when there was more than one. */
function AttemptPicker({
  count,
  running,
  value,
  onChange,
}: {
  count: number;
  running: number | undefined;
  value: number | undefined;
  onChange: (attempt: number) => void;
}) {
  if (count <= 1) return null;
  return (
    <label>
      Attempt{' '}
      <select value={value ?? count} onChange={(event) => onChange(Number(event.target.value))}>
        {Array.from({ length: count }, (_, i) => i + 1).map((n) => (
          <option key={n} value={n}>
            {n} of {count}
            {n === running ? ' (running)' : ''}
          </option>
        ))}
      </select>
    </label>
  );
}
