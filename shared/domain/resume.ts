import type { ExpandedInput, ExpandedTask } from './expand.js';

/**
 * Tasks earlier jobs already did, for a job that resumes from them: each task id, and the job
 * whose outputs it left (a resumed job may itself have resumed from another).
 */
export type DoneTasks = ReadonlyMap<string, string>;

/** Inclusive integer ranges covering `[start, end]` except the ids in `done`. */
function rangesWithout(start: number, end: number, done: DoneTasks): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let from: number | undefined;
  for (let id = start; id <= end; id++) {
    if (done.has(String(id))) {
      if (from !== undefined) ranges.push([from, id - 1]);
      from = undefined;
    } else if (from === undefined) {
      from = id;
    }
  }
  if (from !== undefined) ranges.push([from, end]);
  return ranges;
}

/**
 * What a resumed job runs: only the tasks not in `done`. A dependency on a done task is met
 * already, so it is dropped (Batch would otherwise wait for a task it was never given); an input
 * taken from a done task's outputs is read from the job that wrote them. `order` keeps its
 * order, less the done tasks. Pure: the tasks given are not changed.
 */
export function resumeTasks(
  tasks: readonly ExpandedTask[],
  order: readonly string[],
  done: DoneTasks,
): { tasks: ExpandedTask[]; order: string[] } {
  const left = tasks
    .filter((task) => !done.has(task.id))
    .map((task): ExpandedTask => {
      const inputs = task.inputs.map((input): ExpandedInput => {
        if (input.kind !== 'fromTask') return input;
        const writer = done.get(input.taskId);
        return writer === undefined ? input : { ...input, jobId: writer };
      });
      return {
        ...task,
        inputs,
        dependsOn: task.dependsOn.filter((id) => !done.has(id)),
        dependsOnRanges: task.dependsOnRanges.flatMap(([start, end]) => rangesWithout(start, end, done)),
      };
    });
  return { tasks: left, order: order.filter((id) => !done.has(id)) };
}
