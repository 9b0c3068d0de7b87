import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState, type ChangeEvent, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { parse } from 'yaml';
import type { JobSpec } from '../../../client/index.js';
import { CloudJobsError, client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';
import { specIssues, specValidator } from '../specCheck.js';
import { TemplatePicker } from './TemplatePicker.js';

const EXAMPLE = `name: hello
tasks:
  - id: greet
    command: echo "hello from cloudjobs"
  - id: count
    command: seq 1 5
    dependsOn: [greet]
`;

/** Reads the text as YAML (which takes JSON too); says where it stops making sense. */
function read(text: string): { spec?: JobSpec; error?: string } {
  if (!text.trim()) return { error: 'Write or paste a job spec.' };
  try {
    const value: unknown = parse(text, { prettyErrors: true });
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return { error: 'A job spec is an object with a name and tasks.' };
    return { spec: value };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Submit a job: paste or upload JSON or YAML; the text is checked as you type, the service checks
 * the rest and says which field is at fault; a job that starts opens its page.
 */
export function SubmitPage() {
  const [text, setText] = useState(EXAMPLE);
  const parsed = useMemo(() => read(text), [text]);
  const schema = useQuery({ queryKey: ['spec-schema'], queryFn: specValidator, staleTime: Infinity });
  const issues = useMemo(
    () => (parsed.spec && schema.data ? specIssues(schema.data, parsed.spec, text) : []),
    [parsed.spec, schema.data, text],
  );
  const navigate = useNavigate();
  const queries = useQueryClient();
  const submit = useMutation({
    mutationFn: (spec: JobSpec) => client.jobs.submit(spec),
    onSuccess: (job) => {
      void queries.invalidateQueries({ queryKey: ['jobs'] });
      void navigate(`/jobs/${encodeURIComponent(job.id)}`);
    },
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (parsed.spec) submit.mutate(parsed.spec);
  };
  const onFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (file) setText(await file.text());
  };
  const fields = submit.error instanceof CloudJobsError ? submit.error.errors : [];
  return (
    <section aria-labelledby="submit-title">
      <h1 id="submit-title">Submit a job</h1>
      <TemplatePicker
        onSpec={(spec) => {
          setText(spec);
          submit.reset();
        }}
      />
      <form onSubmit={onSubmit} className="submit">
        <label htmlFor="spec">Job spec (JSON or YAML)</label>
        <textarea
          id="spec"
          name="spec"
          spellCheck={false}
          rows={18}
          value={text}
          aria-invalid={parsed.error !== undefined || issues.length > 0 || fields.length > 0}
          aria-describedby="spec-status"
          onChange={(event) => {
            setText(event.target.value);
            submit.reset();
          }}
        />
        <div id="spec-status" aria-live="polite">
          {parsed.error ? (
            <p className="invalid">{parsed.error}</p>
          ) : issues.length > 0 ? (
            <ul className="invalid issues">
              {issues.map((issue) => (
                <li key={`${issue.path}|${issue.message}`}>
                  {issue.line !== undefined && <span className="muted">line {issue.line}: </span>}
                  <code>{issue.path || '(the whole spec)'}</code> {issue.message}
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted small">
              {schema.data ? 'A valid job spec, as far as its shape goes.' : 'Reads as a spec.'}
            </p>
          )}
        </div>
        <div className="row">
          <label className="file">
            Or upload a file
            <input
              type="file"
              accept=".json,.yaml,.yml,application/json,text/yaml"
              onChange={(e) => void onFile(e)}
            />
          </label>
          <button type="submit" disabled={!parsed.spec || submit.isPending}>
            {submit.isPending ? 'Submitting…' : 'Submit'}
          </button>
        </div>
      </form>
      {submit.isError && (
        <ErrorPanel
          error={submit.error}
          title={fields.length ? 'The service refused these fields' : 'Not submitted'}
        />
      )}
    </section>
  );
}
