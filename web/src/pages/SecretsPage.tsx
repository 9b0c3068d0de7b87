import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import type { Secret } from '../../../client/index.js';
import { client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';
import { when } from '../format.js';

const KEY = ['secrets'] as const;

/**
 * Your secrets, which a job's env names as `{"secretRef": "<name>"}`: set one (made or replaced),
 * see when each was set, delete one. Values go in and never come back out.
 */
export function SecretsPage() {
  const secrets = useQuery({ queryKey: KEY, queryFn: () => client.secrets.list() });
  return (
    <section aria-labelledby="secrets-title">
      <h1 id="secrets-title">Secrets</h1>
      <p className="muted">
        A job names one in its env, for every task or one:{' '}
        <code>{'"env": { "DB_PASSWORD": { "secretRef": "db-password" } }'}</code>. The job keeps only the
        name; the value is read when its tasks go to Batch, and is never shown again here.
      </p>
      <SetSecret />
      {secrets.isError && <ErrorPanel error={secrets.error} title="Secrets could not be listed" />}
      {secrets.data?.length === 0 && <p className="muted">None yet.</p>}
      {(secrets.data?.length ?? 0) > 0 && (
        <table className="secrets">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Set</th>
              <th scope="col">In a job’s env</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {secrets.data!.map((secret) => (
              <SecretRow key={secret.name} secret={secret} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function SecretRow({ secret }: { secret: Secret }) {
  const queries = useQueryClient();
  const remove = useMutation({
    mutationFn: () => client.secrets.remove(secret.name),
    onSuccess: () => void queries.invalidateQueries({ queryKey: KEY }),
  });
  return (
    <tr data-secret-name={secret.name}>
      <td className="mono">{secret.name}</td>
      <td>{when(secret.updatedAt)}</td>
      <td className="mono small">{JSON.stringify(secret.ref)}</td>
      <td>
        <button
          type="button"
          className="danger"
          disabled={remove.isPending}
          onClick={() => {
            if (
              window.confirm(
                `Delete the secret ${secret.name}? Jobs not yet on Batch that name it will fail.`,
              )
            )
              remove.mutate();
          }}
        >
          Delete
        </button>
        {remove.isError && <ErrorPanel error={remove.error} title="Not deleted" />}
      </td>
    </tr>
  );
}

function SetSecret() {
  const queries = useQueryClient();
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const save = useMutation({
    mutationFn: () => client.secrets.set(name.trim(), value),
    onSuccess: () => {
      // The value leaves the page as soon as the service has it.
      setValue('');
      setName('');
      void queries.invalidateQueries({ queryKey: KEY });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <form className="panel create" onSubmit={submit} aria-labelledby="set-secret-title">
      <h2 id="set-secret-title">Set a secret</h2>
      <label htmlFor="secret-name">Name</label>
      <input
        id="secret-name"
        required
        value={name}
        placeholder="db-password"
        pattern="[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?"
        title="1-63 lowercase letters, digits and inner hyphens"
        autoComplete="off"
        onChange={(event) => setName(event.target.value)}
      />
      <label htmlFor="secret-value">Value</label>
      <input
        id="secret-value"
        type="password"
        required
        value={value}
        autoComplete="new-password"
        onChange={(event) => setValue(event.target.value)}
      />
      <div>
        <button type="submit" disabled={save.isPending}>
          Save
        </button>
      </div>
      {save.isError && <ErrorPanel error={save.error} title="Not saved" />}
      {save.isSuccess && (
        <p className="muted small" role="status">
          Saved {save.data.name}.
        </p>
      )}
    </form>
  );
}
