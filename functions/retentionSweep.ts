import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';

/**
 * Every hour, when the deployment keeps jobs for a limited time (`CLOUDJOBS_RETENTION_DAYS`),
 * forgets the jobs that ended longer ago than that, with their blobs, Batch jobs and
 * orchestration history, and removes expired subscriptions. A pass cut short is finished by the
 * next: every step is safe to repeat.
 */
export async function retentionSweep(_timer: Timer, context: InvocationContext): Promise<void> {
  const services = getServices();
  const days = services.config.retentionDays;
  if (days <= 0) return;
  const report = await services.cleanup.sweep(days, services.orchestrations(context));
  if (report.jobs + report.subscriptions > 0) {
    context.log(
      `retention (${days} days): forgot ${report.jobs} job(s) and ${report.blobs} blob(s), removed ${report.subscriptions} expired subscription(s)`,
    );
  }
}

app.timer('retentionSweep', {
  schedule: '0 41 * * * *',
  extraInputs: [df.input.durableClient()],
  handler: retentionSweep,
});
