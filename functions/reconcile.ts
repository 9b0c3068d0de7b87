import { app, type InvocationContext, type Timer } from '@azure/functions';
import { QUEUE_OUTPUTS } from '../shared/bindings.js';
import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';

const jobEvents = QUEUE_OUTPUTS.jobEvents;

/**
 * Every 15 seconds, compares every job in flight with Batch and repairs what a lost signal
 * missed. Cheap when nothing differs: one task-count request per job.
 */
export async function reconcile(_timer: Timer, context: InvocationContext): Promise<void> {
  const services = getServices();
  const report = await services.signals.reconcile(services.orchestrations(context));
  if (report.events.length > 0) context.extraOutputs.set(jobEvents, report.events);
  if (report.repaired + report.started + report.settled + report.orphaned > 0) {
    context.log(
      `reconciled ${report.jobs} job(s): ${report.repaired} repaired, ${report.started} started, ${report.settled} settled, ${report.orphaned} failed (orchestration gone)`,
    );
  }
}

app.timer('reconcile', {
  schedule: '*/15 * * * * *',
  extraInputs: [df.input.durableClient()],
  extraOutputs: [jobEvents],
  handler: reconcile,
});
