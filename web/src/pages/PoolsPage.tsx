import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import type { Pool } from '../../../client/index.js';
import { client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';
import { when } from '../format.js';

/**
 * The Batch pools jobs run on, the presets that name them, and the job templates there are:
 * everyone sees them; resizing a pool is for admins (the service says so when someone else tries).
 */
export function PoolsPage() {
  const pools = useQuery({ queryKey: ['pools'], queryFn: () => client.pools.list() });
  const presets = useQuery({ queryKey: ['presets'], queryFn: () => client.presets.list() });
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => client.templates.list() });
  return (
    <section aria-labelledby="pools-title">
      <h1 id="pools-title">Pools</h1>
      {pools.isError && <ErrorPanel error={pools.error} title="The pools could not be listed" />}
      <div className="table-wrap">
        <table className="jobs">
          <thead>
            <tr>
              <th scope="col">Pool</th>
              <th scope="col">VM size</th>
              <th scope="col">State</th>
              <th scope="col">Nodes (now / target)</th>
              <th scope="col">Slots per node</th>
              <th scope="col">Resize</th>
            </tr>
          </thead>
          <tbody>
            {(pools.data ?? []).map((pool) => (
              <PoolRow key={pool.id} pool={pool} />
            ))}
          </tbody>
        </table>
      </div>

      <h2>Presets</h2>
      <p className="muted small">
        A job or a task names a preset (<code>"preset": "name"</code>) instead of a pool.
      </p>
      {presets.isError && <ErrorPanel error={presets.error} title="The presets could not be listed" />}
      {presets.data?.length === 0 && <p className="muted">This deployment has no presets.</p>}
      {(presets.data?.length ?? 0) > 0 && (
        <div className="table-wrap">
          <table className="jobs presets">
            <thead>
              <tr>
                <th scope="col">Preset</th>
                <th scope="col">CPUs</th>
                <th scope="col">Memory</th>
                <th scope="col">GPUs</th>
                <th scope="col">Nodes</th>
                <th scope="col">Pool and slots</th>
              </tr>
            </thead>
            <tbody>
              {presets.data!.map((preset) => (
                <tr key={preset.name} data-preset={preset.name}>
                  <td>
                    <strong className="mono">{preset.name}</strong>
                    {preset.description && <div className="muted small">{preset.description}</div>}
                  </td>
                  <td className="num">{preset.cpus}</td>
                  <td className="num">{preset.memoryGiB} GiB</td>
                  <td className="num">{preset.gpus}</td>
                  <td>{preset.spot ? 'Spot' : 'dedicated'}</td>
                  <td>
                    <span className="mono">{preset.pool}</span>, {preset.slots} slot
                    {preset.slots === 1 ? '' : 's'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>Templates</h2>
      {templates.isError && <ErrorPanel error={templates.error} title="The templates could not be listed" />}
      {templates.data?.length === 0 && <p className="muted">No templates yet.</p>}
      <ul>
        {(templates.data ?? []).map((template) => (
          <li key={`${template.owner}/${template.name}`}>
            <strong className="mono">{template.name}</strong>{' '}
            <span className="muted small">
              by {template.owner} · versions {template.versions.join(', ')}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function PoolRow({ pool }: { pool: Pool }) {
  const queries = useQueryClient();
  const [nodes, setNodes] = useState(String(pool.targetDedicatedNodes));
  const resize = useMutation({
    mutationFn: (dedicatedNodes: number) => client.pools.resize(pool.id, { dedicatedNodes }),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ['pools'] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    resize.mutate(Number(nodes));
  };
  return (
    <tr data-pool={pool.id}>
      <td>
        <strong className="mono">{pool.id}</strong>
        {pool.creationTime && <div className="muted small">since {when(pool.creationTime)}</div>}
      </td>
      <td className="mono">{pool.vmSize}</td>
      <td>
        {pool.state}, {pool.allocationState}
        {pool.resizeErrors.map((error) => (
          <div key={error.code} className="bad-text small">
            could not resize: {error.code}: {error.message}
          </div>
        ))}
      </td>
      <td>
        {pool.dedicatedNodes} / {pool.targetDedicatedNodes} dedicated
        {pool.targetLowPriorityNodes > 0 || pool.lowPriorityNodes > 0
          ? `, ${pool.lowPriorityNodes} / ${pool.targetLowPriorityNodes} spot`
          : ''}
      </td>
      <td>{pool.slotsPerNode}</td>
      <td>
        <form className="row" onSubmit={submit}>
          <label className="visually-hidden" htmlFor={`nodes-${pool.id}`}>
            Dedicated nodes of {pool.id}
          </label>
          <input
            id={`nodes-${pool.id}`}
            type="number"
            min={0}
            max={1000}
            value={nodes}
            onChange={(event) => setNodes(event.target.value)}
            style={{ width: '6em' }}
          />
          <button type="submit" disabled={resize.isPending}>
            Resize
          </button>
        </form>
        {resize.isError && <ErrorPanel error={resize.error} title="Not resized" />}
      </td>
    </tr>
  );
}
