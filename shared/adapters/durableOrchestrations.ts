import type { DurableClient } from 'durable-functions';
import { JOB_ORCHESTRATOR } from '../orchestration/activities.js';
import { SIGNAL_EVENT, type JobSignal, type OrchestrationInput } from '../orchestration/signals.js';
import type { OrchestrationControl } from '../jobs/taskSignals.js';
import type { OrchestrationHistory } from '../jobs/jobCleanup.js';

/** Job orchestrations as the rest of the app uses them: start one, signal it, ask about it, forget it. */
export interface JobOrchestrations extends OrchestrationControl, OrchestrationHistory {
  /** Starts the job's orchestration unless it already exists; safe to repeat. */
  start(jobId: string): Promise<void>;
}

const RUNNING = new Set(['Running', 'Pending', 'ContinuedAsNew', 'Suspended']);

/**
 * {@link JobOrchestrations} over a Durable Functions client (one per invocation). The settings
 * (how BLOCKED jobs retry, how long jobs may wait) come from config and go to each new
 * orchestration as input, so a running one keeps what it started with.
 */
export function durableOrchestrations(
  client: DurableClient,
  settings: Pick<OrchestrationInput, 'blockedRetry' | 'guards' | 'maxRunningJobsPerUser'> & {
    chunksPerSubOrchestration: number;
  },
): JobOrchestrations {
  const { blockedRetry, guards, chunksPerSubOrchestration, maxRunningJobsPerUser } = settings;
  const state = async (jobId: string): Promise<'running' | 'ended' | 'missing'> => {
    try {
      const status = await client.getStatus(jobId, { showHistory: false, showInput: false });
      return RUNNING.has(String(status.runtimeStatus)) ? 'running' : 'ended';
    } catch (error) {
      if (/HTTP 404/.test((error as Error).message)) return 'missing';
      throw error;
    }
  };
  return {
    state,
    async start(jobId) {
      if ((await state(jobId)) !== 'missing') return;
      const input: OrchestrationInput = {
        jobId,
        ...(blockedRetry ? { blockedRetry } : {}),
        ...(guards ? { guards } : {}),
        submit: { chunksPerSubOrchestration },
        ...(maxRunningJobsPerUser ? { maxRunningJobsPerUser } : {}),
      };
      try {
        await client.startNew(JOB_ORCHESTRATOR, { instanceId: jobId, input });
      } catch (error) {
        // Someone started it between the look and the start: that is what was wanted.
        if ((await state(jobId)) === 'missing') throw error;
      }
    },
    async running(jobId: string) {
      return (await state(jobId)) === 'running';
    },
    async purge(instanceId: string) {
      return (await client.purgeInstanceHistory(instanceId)).instancesDeleted > 0;
    },
    async raise(jobId: string, signal: JobSignal) {
      try {
        await client.raiseEvent(jobId, SIGNAL_EVENT, signal);
      } catch (error) {
        // A job whose orchestration is gone has nobody to tell; the reconciler looks after it.
        if (!/No instance with ID/.test((error as Error).message)) throw error;
      }
    },
  };
}
