import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { Delivery } from '../../../client/index.js';
import { client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';
import { when } from '../format.js';

type DeliveryStatus = Delivery['status'];
const STATUSES: DeliveryStatus[] = ['pending', 'retrying', 'delivered', 'dead-lettered'];
const TONE: Record<DeliveryStatus, string> = {
  pending: 'idle',
  retrying: 'busy',
  delivered: 'ok',
  'dead-lettered': 'bad',
};

/** A subscription's delivery log: each event sent, every attempt, and sending again. */
export function Deliveries({ subscriptionId }: { subscriptionId: string }) {
  const [status, setStatus] = useState<DeliveryStatus | ''>('');
  const queries = useQueryClient();
  const key = ['deliveries', subscriptionId, status] as const;
  const deliveries = useInfiniteQuery({
    queryKey: key,
    queryFn: ({ pageParam }) =>
      client.subscriptions.deliveries(subscriptionId, {
        ...(status ? { status } : {}),
        limit: 50,
        ...(pageParam ? { continuation: pageParam } : {}),
      }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.continuation,
  });
  const again = useMutation({
    mutationFn: async (deliveryId?: string): Promise<void> => {
      if (deliveryId) await client.subscriptions.redeliver(subscriptionId, deliveryId);
      else await client.subscriptions.redeliverDeadLetters(subscriptionId);
    },
    onSettled: () => void queries.invalidateQueries({ queryKey: ['deliveries', subscriptionId] }),
  });
  const rows = deliveries.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <div className="deliveries">
      <div className="filters">
        <label>
          Status
          <select value={status} onChange={(event) => setStatus(event.target.value as DeliveryStatus | '')}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => again.mutate(undefined)} disabled={again.isPending}>
          Send dead letters again
        </button>
      </div>
      {deliveries.isError && <ErrorPanel error={deliveries.error} title="The deliveries could not be read" />}
      {again.isError && <ErrorPanel error={again.error} title="Not sent again" />}
      {deliveries.isSuccess && rows.length === 0 && <p className="muted">Nothing sent yet.</p>}
      <div className="table-wrap">
        <table className="jobs">
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last answer</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((d) => {
              const last = d.attempts.at(-1);
              return (
                <tr key={d.id} data-delivery={d.id} data-status={d.status}>
                  <td>
                    <div className="mono small">{d.id}</div>
                    <div className="muted small">
                      {d.eventType}
                      {d.events ? ` ×${d.events}` : ''} · {when(d.createdAt)}
                    </div>
                  </td>
                  <td>
                    <span className={`badge ${TONE[d.status]}`}>{d.status}</span>
                    {d.nextAttemptAt && <div className="muted small">next {when(d.nextAttemptAt)}</div>}
                  </td>
                  <td>
                    <details>
                      <summary>{d.attempts.length}</summary>
                      <ol className="small">
                        {d.attempts.map((a) => (
                          <li key={a.at}>
                            {when(a.at)}: {a.outcome}
                            {a.statusCode !== undefined ? ` (${a.statusCode})` : ''} in {a.durationMs} ms
                            {a.error ? ` — ${a.error}` : ''}
                            {a.manual ? ' · asked for' : ''}
                          </li>
                        ))}
                      </ol>
                    </details>
                  </td>
                  <td className="small">
                    {last
                      ? `${last.outcome}${last.statusCode !== undefined ? ` ${last.statusCode}` : ''}`
                      : ''}
                    {last?.error && <div className="muted">{last.error}</div>}
                  </td>
                  <td>
                    {d.status !== 'delivered' && (
                      <button type="button" onClick={() => again.mutate(d.id)} disabled={again.isPending}>
                        Send again<span className="visually-hidden"> {d.id}</span>
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {deliveries.hasNextPage && (
        <button type="button" onClick={() => void deliveries.fetchNextPage()}>
          More
        </button>
      )}
    </div>
  );
}
