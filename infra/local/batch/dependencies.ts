import type { TaskAddParameter } from './model.js';

/** The dependency outcome a finished task gives its dependents, per its exit conditions. */
export function dependencyAction(
  spec: TaskAddParameter,
  result: 'success' | 'failure' | undefined,
  exitCode: number | undefined,
  preProcessingFailed: boolean,
): 'satisfy' | 'block' {
  if (result === 'success') return 'satisfy';
  const conditions = spec.exitConditions;
  if (!conditions) return 'block';
  if (preProcessingFailed && conditions.preProcessingError?.dependencyAction)
    return conditions.preProcessingError.dependencyAction;
  if (exitCode !== undefined) {
    const exact = conditions.exitCodes?.find((c) => c.code === exitCode);
    if (exact?.exitOptions.dependencyAction) return exact.exitOptions.dependencyAction;
    const range = conditions.exitCodeRanges?.find((r) => exitCode >= r.start && exitCode <= r.end);
    if (range?.exitOptions.dependencyAction) return range.exitOptions.dependencyAction;
  }
  return conditions.default?.dependencyAction ?? 'block';
}

/** Every task id a task depends on: its ids, and each id of its ranges. */
export function dependencyIds(spec: TaskAddParameter): string[] {
  const ids = [...(spec.dependsOn?.taskIds ?? [])];
  for (const range of spec.dependsOn?.taskIdRanges ?? []) {
    for (let id = range.start; id <= range.end; id++) ids.push(String(id));
  }
  return ids;
}
