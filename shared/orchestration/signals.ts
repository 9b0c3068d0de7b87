import { z } from 'zod';

/** The one external event a job orchestration waits for; its payload says what happened. */
export const SIGNAL_EVENT = 'signal';

/**
 * What a job's orchestration can be told: a milestone of its tasks (from the signal handlers and
 * the reconciler), or a user's request (from the API). Milestones are states, not increments, so
 * hearing one twice is harmless.
 */
export const jobSignalSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('tasks'), started: z.boolean(), allDone: z.boolean() }),
  z.strictObject({ type: z.literal('cancel'), by: z.string().min(1) }),
  z.strictObject({ type: z.literal('pause'), by: z.string().min(1) }),
  z.strictObject({ type: z.literal('resume'), by: z.string().min(1) }),
  z.strictObject({ type: z.literal('complete'), by: z.string().min(1) }),
  // A task ended with an exit code its spec says fails the whole job.
  z.strictObject({ type: z.literal('failJob'), taskId: z.string().min(1), exitCode: z.number().int() }),
  // The `set`-th addition of tasks to an open job: `count` of them, at positions `first`...
  z.strictObject({
    type: z.literal('tasksAdded'),
    set: z.number().int().min(1),
    first: z.number().int().min(0),
    count: z.number().int().min(1),
  }),
]);

/** See {@link jobSignalSchema}. */
export type JobSignal = z.infer<typeof jobSignalSchema>;

/** The orchestration's input; the retry policy comes from config, read by whoever starts it. */
export const orchestrationInputSchema = z.strictObject({
  jobId: z.string().min(1),
  blockedRetry: z
    .strictObject({
      initialSeconds: z.number().int().min(1),
      maxSeconds: z.number().int().min(1),
    })
    .default({ initialSeconds: 30, maxSeconds: 600 }),
  submit: z
    .strictObject({ chunksPerSubOrchestration: z.number().int().min(1) })
    .default({ chunksPerSubOrchestration: 1000 }),
  /** The deployment's limits on waiting, in minutes (0: none); a job's own replace them. */
  guards: z
    .strictObject({
      maxBlockedMinutes: z.number().min(0),
      maxQueuedMinutes: z.number().min(0),
    })
    // Orchestrations started before the limits existed replay without them.
    .default({ maxBlockedMinutes: 0, maxQueuedMinutes: 0 }),
  /** Jobs a user may have on Batch at once (0: no limit); held exactly by the job slots entity. */
  maxRunningJobsPerUser: z.number().int().min(0).default(0),
});

/** See {@link orchestrationInputSchema}. */
export type OrchestrationInput = z.input<typeof orchestrationInputSchema>;
