import { ValidationError } from '../errors.js';

/** Batch caps a task's list of dependency ids at this many characters in total. */
export const MAX_DEPENDENCY_ID_CHARS = 64_000;

const CANONICAL_INTEGER = /^(0|[1-9]\d{0,15})$/;

export interface BatchDependencies {
  taskIds?: string[];
  taskIdRanges?: Array<{ start: number; end: number }>;
}

/**
 * Expresses a task's dependencies as Batch takes them: runs of three or more consecutive integer
 * ids become ranges, the rest stay ids. Batch refuses id lists over 64,000 characters; a list
 * still that long after compression is an error naming the task.
 */
export function compressDependencies(taskId: string, ids: readonly string[]): BatchDependencies | undefined {
  if (ids.length === 0) return undefined;
  const unique = [...new Set(ids)];
  const numbers = unique
    .filter((id) => CANONICAL_INTEGER.test(id))
    .map(Number)
    .sort((a, b) => a - b);
  const others = unique.filter((id) => !CANONICAL_INTEGER.test(id));
  const ranges: Array<{ start: number; end: number }> = [];
  const singles: string[] = [];
  for (let i = 0; i < numbers.length;) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1) j++;
    if (j - i + 1 >= 3) ranges.push({ start: numbers[i]!, end: numbers[j]! });
    else for (let k = i; k <= j; k++) singles.push(String(numbers[k]));
    i = j + 1;
  }
  const taskIds = [...others, ...singles];
  if (taskIds.join('').length > MAX_DEPENDENCY_ID_CHARS) {
    throw new ValidationError(
      `task ${taskId} depends on too many tasks for Batch (${taskIds.length} ids over ${MAX_DEPENDENCY_ID_CHARS} characters); number the tasks (integer ids) so dependencies can be ranges`,
      [{ path: `tasks.${taskId}.dependsOn`, message: 'too many dependencies' }],
      'TOO_MANY_DEPENDENCIES',
    );
  }
  return {
    ...(taskIds.length > 0 ? { taskIds } : {}),
    ...(ranges.length > 0 ? { taskIdRanges: ranges } : {}),
  };
}

/** An ISO 8601 duration for a number of milliseconds, as Batch takes time limits. */
export function isoDuration(ms: number): string {
  const totalSeconds = Math.max(0, ms) / 1000;
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = Math.round((totalSeconds % 60) * 1000) / 1000;
  const time = `${hours ? `${hours}H` : ''}${minutes ? `${minutes}M` : ''}${seconds ? `${seconds}S` : ''}`;
  if (!days && !time) return 'PT0S';
  return `P${days ? `${days}D` : ''}${time ? `T${time}` : ''}`;
}
