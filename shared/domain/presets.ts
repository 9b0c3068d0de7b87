import { z } from 'zod';

/** A pool id, as Batch allows them. */
export const poolIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a pool id: 1-64 of letters, digits, "_" and "-"');

/** How many of a node's task slots one task takes (Batch `requiredSlots`). */
export const slotsSchema = z
  .number()
  .int('must be a whole number')
  .min(1)
  .max(256)
  .describe("task slots one task takes on its node (Batch requiredSlots); at most the pool's slots per node");

/**
 * A named resource preset the deployment offers: what a task gets (CPUs, memory, GPUs, Spot or
 * dedicated) and where that is (a pool, and how many of a node's slots one task takes). A job or
 * a task names a preset instead of a pool and slots.
 */
export const presetSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 of lowercase letters, digits and "-"'),
  description: z.string().max(256).default(''),
  cpus: z.number().positive().describe('CPUs a task gets'),
  memoryGiB: z.number().positive().describe('memory a task gets, in GiB'),
  gpus: z.number().int().min(0).default(0),
  spot: z.boolean().default(false).describe('Spot (low-priority) nodes, which may be taken back'),
  pool: poolIdSchema,
  slots: slotsSchema.default(1),
});

/** See {@link presetSchema}. */
export type Preset = z.output<typeof presetSchema>;

/** A deployment's presets: names unique. */
export const presetsSchema = z
  .array(presetSchema)
  .max(100)
  .superRefine((presets, context) => {
    const seen = new Set<string>();
    presets.forEach((preset, i) => {
      if (seen.has(preset.name))
        context.addIssue({ code: 'custom', path: [i, 'name'], message: `${preset.name} is named twice` });
      seen.add(preset.name);
    });
  });

/** Records a problem with a field, at its path. */
type AddIssue = (path: string, message: string) => void;

const unknownPreset = (name: string, presets: ReadonlyMap<string, Preset>) =>
  `there is no preset "${name}"; ${presets.size > 0 ? `the presets are ${[...presets.keys()].join(', ')}` : 'this deployment has none'} (GET /api/presets)`;

/**
 * The pool a job runs on and the slots its tasks take unless they say otherwise, from its
 * `preset` or its `pool`; a spec may not give both.
 */
export function jobPlacement(
  spec: { pool?: string | undefined; preset?: string | undefined },
  presets: ReadonlyMap<string, Preset>,
  defaultPool: string,
  add: AddIssue,
): { pool: string; slots: number } {
  if (spec.preset === undefined) return { pool: spec.pool ?? defaultPool, slots: 1 };
  const preset = presets.get(spec.preset);
  if (!preset) {
    add('preset', unknownPreset(spec.preset, presets));
    return { pool: spec.pool ?? defaultPool, slots: 1 };
  }
  if (spec.pool !== undefined) add('preset', 'give pool or preset, not both: a preset names its pool');
  return { pool: preset.pool, slots: preset.slots };
}

/**
 * The slots one task takes: its own `slots`, else its `preset`'s, else the job's. A task's preset
 * must be on the job's pool: a job's tasks all run on its pool.
 */
export function taskSlots(
  task: { preset?: string | undefined; slots?: number | undefined },
  job: { pool: string; slots: number },
  presets: ReadonlyMap<string, Preset>,
  add: AddIssue,
  pathOf: (field: string) => string,
): number {
  if (task.preset === undefined) return task.slots ?? job.slots;
  const preset = presets.get(task.preset);
  if (!preset) {
    add(pathOf('preset'), unknownPreset(task.preset, presets));
    return task.slots ?? job.slots;
  }
  if (task.slots !== undefined) add(pathOf('slots'), 'give slots or preset, not both: a preset sets slots');
  if (preset.pool !== job.pool) {
    add(
      pathOf('preset'),
      `is on pool ${preset.pool}, and the job runs on ${job.pool}: a job's tasks share its pool`,
    );
  }
  return preset.slots;
}
