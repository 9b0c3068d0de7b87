import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { lazy, Suspense, useEffect, useState } from 'react';
import { Link, useLocation, useNavigate, useParams } from 'react-router';
import { FINAL_STATUSES, type Job, type Task } from '../../../client/index.js';
import { CloudJobsError, client } from '../api.js';
import { ErrorPanel, ProgressBar, StatusBadge, useNow } from '../components/bits.js';
import { between, when } from '../format.js';
import { JobActions } from './JobsPage.js';
import { LogViewer } from './LogViewer.js';
import { AddTasks } from './AddTasks.js';
import { Outputs } from './Outputs.js';
import { TasksTable } from './TasksTable.js';
import { useJobLive } from './useJobLive.js';

// dagre is only needed for a graph, and only on a job's page: it loads when one is drawn.
const TaskGraphView = lazy(() => import('./TaskGraph.js'));
/** Larger graphs are no longer readable as a drawing; `cloudjobs graph` gives them to Graphviz. */
const MAX_DRAWN_TASKS = 300;

/** One job: its state, its history, its tasks and their logs, its outputs, its spec; all live. */
export function JobPage() {
  const id = useParams().id ?? '';
  // Another job (a resubmission, a link between them) starts afresh: no task of the last chosen.
  return <JobView key={id} id={id} />;
}

function JobView({ id }: { id: string }) {
  const navigate = useNavigate();
  const job = useQuery({ queryKey: ['job', id], queryFn: () => client.jobs.get(id) });
  const history = useQuery({ queryKey: ['job', id, 'history'], queryFn: () => client.jobs.history(id) });
  const live = useJobLive(id);
  const [selected, setSelected] = useState<string | undefined>();
  const final = job.data ? FINAL_STATUSES.includes(job.data.status) : true;
  const now = useNow(!final);

  // A link to #outputs (the jobs list's row action) lands there once the page has it.
  const { hash } = useLocation();
  const loaded = job.data !== undefined;
  useEffect(() => {
    if (loaded && hash === '#outputs') document.getElementById('outputs')?.focus();
  }, [loaded, hash]);

  if (job.isError) {
    const missing = job.error instanceof CloudJobsError && job.error.status === 404;
    return (
      <section aria-labelledby="job-title">
        <h1 id="job-title">{missing ? 'No such job' : 'Job'}</h1>
        <ErrorPanel
          error={job.error}
          title={missing ? 'There is no job of yours with this id' : 'The job could not be read'}
        />
      </section>
    );
  }
  if (!job.data) return <p className="muted">Loading…</p>;
  const j = job.data;
  const task = selected ? live.tasks.find((t) => t.id === selected) : undefined;
  return (
    <section aria-labelledby="job-title" className="job" data-status={j.status}>
      <div className="heading">
        <div>
          <h1 id="job-title">{j.name}</h1>
          <div className="muted small mono">{j.id}</div>
        </div>
        <JobActions job={j} onDeleted={() => void navigate('/')} />
      </div>
      <JobSummary job={j} final={final} now={now} />

      <h2>History</h2>
      {history.isError && <ErrorPanel error={history.error} />}
      <ol className="timeline">
        {(history.data ?? []).map((entry) => (
          <li key={entry.sequence}>
            <StatusBadge status={entry.status} /> <time dateTime={entry.at}>{when(entry.at)}</time>
            <div className="muted">{entry.message}</div>
          </li>
        ))}
      </ol>

      <h2>Tasks</h2>
      {live.error !== undefined && <ErrorPanel error={live.error} title="The tasks could not be read" />}
      <TasksTable
        tasks={live.tasks}
        complete={live.complete}
        total={j.taskCount}
        selected={selected}
        onSelect={setSelected}
        now={now}
      />
      {task && <LogViewer jobId={j.id} task={task} jobEnded={final} />}
      {j.open && !final && <AddTasks job={j} />}

      <h2>Dependencies</h2>
      <Dependencies job={j} tasks={live.tasks} selected={selected} onSelect={setSelected} />

      <h2 id="outputs" tabIndex={-1}>
        Outputs
      </h2>
      <Outputs jobId={j.id} final={final} />

      <details className="spec">
        <summary>The spec as submitted</summary>
        <pre>{JSON.stringify(j.spec, null, 2)}</pre>
      </details>
    </section>
  );
}

/** The job's state, condition, message, progress and facts. */
function JobSummary({ job: j, final, now }: { job: Job; final: boolean; now: number }) {
  return (
    <div className="panel summary">
      <div>
        <StatusBadge status={j.status} />
        {j.condition && <span className="muted"> {j.condition.toLowerCase().replaceAll('_', ' ')}</span>}
      </div>
      <p className="message" aria-live="polite">
        {j.message}
      </p>
      <ProgressBar counts={j.taskCounts} total={j.taskCount} />
      <dl className="facts">
        <dt>Submitted</dt>
        <dd>{when(j.createdAt)}</dd>
        <dt>Run time</dt>
        <dd>{between(j.createdAt, final ? j.updatedAt : undefined, now)}</dd>
        <dt>Pool</dt>
        <dd>{j.pool}</dd>
        <dt>Priority</dt>
        <dd>{final ? j.priority : <PriorityControl job={j} />}</dd>
        {j.template && (
          <>
            <dt>Template</dt>
            <dd>{j.template}</dd>
          </>
        )}
        {j.resubmittedFrom && (
          <>
            <dt>Resubmitted from</dt>
            <dd>
              <Link className="mono" to={`/jobs/${encodeURIComponent(j.resubmittedFrom)}`}>
                {j.resubmittedFrom.slice(0, 8)}
              </Link>
            </dd>
          </>
        )}
        {j.resubmissions.length > 0 && (
          <>
            <dt>Resubmissions</dt>
            <dd>
              {j.resubmissions.map((id, i) => (
                <span key={id}>
                  {i > 0 && ', '}
                  <Link className="mono" to={`/jobs/${encodeURIComponent(id)}`}>
                    {id.slice(0, 8)}
                  </Link>
                </span>
              ))}
            </dd>
          </>
        )}
        {Object.entries(j.tags).map(([k, v]) => (
          <span key={k} className="tag">
            <dt>{k}</dt>
            <dd>{v}</dd>
          </span>
        ))}
      </dl>
    </div>
  );
}

/**
 * The dependency graph, for jobs small enough to read as a drawing; asked for again as the job
 * moves on until it is planned (once the inputs are processed).
 */
function Dependencies({
  job: j,
  tasks,
  selected,
  onSelect,
}: {
  job: Job;
  tasks: Task[];
  selected: string | undefined;
  onSelect: (id: string) => void;
}) {
  const drawable = j.taskCount <= MAX_DRAWN_TASKS;
  const graph = useQuery({
    queryKey: ['job', j.id, 'graph'],
    queryFn: () => client.jobs.graph(j.id),
    enabled: drawable,
    staleTime: Infinity,
  });
  useEffect(() => {
    if (graph.data && !graph.data.planned) void graph.refetch();
  }, [j.status]);
  if (!drawable)
    return (
      <p className="muted">
        The graph is drawn for jobs of up to {MAX_DRAWN_TASKS} tasks. <code>cloudjobs graph {j.id}</code>{' '}
        gives this one’s for Graphviz.
      </p>
    );
  if (graph.isError) return <ErrorPanel error={graph.error} title="The task graph could not be read" />;
  if (!graph.data?.planned) return <p className="muted">Planned once the job’s inputs are processed.</p>;
  if (graph.data.tasks.every((t) => t.dependsOn.length === 0 && t.dependsOnRanges.length === 0))
    return <p className="muted">No task waits for another.</p>;
  return (
    <Suspense fallback={<p className="muted">Drawing…</p>}>
      <TaskGraphView graph={graph.data} tasks={tasks} selected={selected} onSelect={onSelect} />
    </Suspense>
  );
}

/** The job's priority on Batch, changeable while it runs: higher runs first on a shared pool. */
function PriorityControl({ job }: { job: Job }) {
  const queries = useQueryClient();
  const [value, setValue] = useState(String(job.priority));
  const change = useMutation({
    mutationFn: (priority: number) => client.jobs.update(job.id, { priority }),
    onSuccess: (updated) => {
      queries.setQueryData<Job>(['job', job.id], (old) => old && { ...old, priority: updated.priority });
      // Listings show priorities and may be ordered by them.
      void queries.invalidateQueries({ queryKey: ['jobs'] });
    },
  });
  return (
    <form
      className="row priority"
      onSubmit={(event) => {
        event.preventDefault();
        change.mutate(Number(value));
      }}
    >
      <input
        type="number"
        aria-label="Priority"
        min={-1000}
        max={1000}
        step={1}
        required
        value={value}
        onChange={(event) => setValue(event.target.value)}
      />
      <button type="submit" disabled={change.isPending || Number(value) === job.priority}>
        Set
      </button>
      {change.isError && <ErrorPanel error={change.error} title="The priority was not changed" />}
    </form>
  );
}
