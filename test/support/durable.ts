import type { RuntimeProcess } from './runtimeProcess.js';
import { waitFor } from './waitFor.js';

export interface OrchestrationStatus {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  historyEvents?: Array<Record<string, unknown>>;
}

const FINAL = new Set(['Completed', 'Failed', 'Terminated']);

/** Starts an orchestration through the fixture's client function (df.getClient), returning its id. */
export async function startOrchestration(
  runtime: RuntimeProcess,
  name: string,
  input?: unknown,
  instanceId?: string,
): Promise<string> {
  const response = await runtime.fetch(
    `/api/orchestrators/${name}${instanceId ? `/${encodeURIComponent(instanceId)}` : ''}`,
    {
      method: 'POST',
      body: input === undefined ? '' : JSON.stringify(input),
    },
  );
  if (response.status !== 202)
    throw new Error(`start ${name}: HTTP ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { id: string };
  return body.id;
}

/** Reads status straight from the Durable management API. */
export async function readStatus(
  runtime: RuntimeProcess,
  instanceId: string,
  history = false,
): Promise<OrchestrationStatus | undefined> {
  const query = history ? '?showHistory=true&showHistoryOutput=true' : '';
  const response = await runtime.fetch(
    `/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}${query}`,
  );
  if (response.status === 404) return undefined;
  return (await response.json()) as OrchestrationStatus;
}

export async function waitForCompletion(
  runtime: RuntimeProcess,
  instanceId: string,
  timeoutMs = 60_000,
): Promise<OrchestrationStatus> {
  return waitFor(
    async () => {
      const status = await readStatus(runtime, instanceId);
      return status && FINAL.has(status.runtimeStatus) ? status : undefined;
    },
    { timeoutMs, intervalMs: 50, what: `orchestration ${instanceId} to finish` },
  );
}

export async function waitForStatus(
  runtime: RuntimeProcess,
  instanceId: string,
  predicate: (s: OrchestrationStatus) => boolean,
  timeoutMs = 30_000,
): Promise<OrchestrationStatus> {
  return waitFor(
    async () => {
      const status = await readStatus(runtime, instanceId);
      return status && predicate(status) ? status : undefined;
    },
    { timeoutMs, intervalMs: 50, what: `orchestration ${instanceId} to reach the expected state` },
  );
}
