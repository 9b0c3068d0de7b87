import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { parse } from 'yaml';
import type { Job, TaskSpec } from '../../../client/index.js';
import { client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';

/** What the text holds: a list of tasks, or `{ "tasks": [...] }`, in JSON or YAML. */
function readTasks(text: string): TaskSpec[] {
  const value: unknown = parse(text);
  const tasks = Array.isArray(value) ? value : (value as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(tasks)) throw new Error('give a list of tasks, or { "tasks": [...] }');
  return tasks as TaskSpec[];
}

/**
 * More tasks for an open job, pasted as JSON or YAML; the service checks them with the job's own
 * and names each problem at its field. One key per text, so a retried click adds nothing twice.
 */
export function AddTasks({ job }: { job: Job }) {
  const queries = useQueryClient();
  const [text, setText] = useState('');
  const [problem, setProblem] = useState<string>();
  const add = useMutation({
    mutationFn: ({ tasks, key }: { tasks: TaskSpec[]; key: string }) =>
      client.jobs.addTasks(job.id, tasks, { idempotencyKey: key }),
    onSuccess: (result) => {
      setText('');
      queries.setQueryData<Job>(['job', job.id], (old) => old && { ...old, taskCount: result.job.taskCount });
    },
  });
  const [key, setKey] = useState(() => crypto.randomUUID());
  const submit = (event: FormEvent) => {
    event.preventDefault();
    let tasks: TaskSpec[];
    try {
      tasks = readTasks(text);
    } catch (error) {
      setProblem((error as Error).message);
      return;
    }
    setProblem(undefined);
    add.mutate({ tasks, key });
  };
  return (
    <form className="panel add-tasks" onSubmit={submit} aria-labelledby="add-tasks-title">
      <h3 id="add-tasks-title">Add tasks</h3>
      <p className="muted small">
        This job is open: it takes tasks until it is completed. Paste a list of tasks (JSON or YAML); they may
        depend on tasks it has.
      </p>
      <label className="visually-hidden" htmlFor="add-tasks-text">
        Tasks to add
      </label>
      <textarea
        id="add-tasks-text"
        className="mono"
        rows={6}
        value={text}
        placeholder={'- id: more\n  command: echo more\n  dependsOn: [first]'}
        onChange={(event) => {
          setText(event.target.value);
          setKey(crypto.randomUUID());
        }}
      />
      <div className="row">
        <button type="submit" disabled={add.isPending || text.trim() === ''}>
          Add tasks
        </button>
        {add.isSuccess && (
          <span className="muted small" role="status">
            Added {add.data.added} task(s); the job has {add.data.job.taskCount}.
          </span>
        )}
      </div>
      {problem && (
        <p className="bad-text small" role="alert">
          {problem}
        </p>
      )}
      {add.isError && <ErrorPanel error={add.error} title="The tasks were not added" />}
    </form>
  );
}
