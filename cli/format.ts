import type { Job, TaskStatus } from '../client/index.js';

/** Lines of a table with aligned columns; the header first. */
export function table(header: string[], rows: Array<Array<string | number | undefined>>): string {
  const cells = [header, ...rows.map((row) => row.map((cell) => (cell === undefined ? '' : String(cell))))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : (cell ?? '').padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `1h02m`, `3m05s`, `12.3s`. */
export function duration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export { doneCount } from '../client/index.js';

/** `succeeded 8, running 2`: the states with tasks in them. */
export function stateSummary(counts: Record<TaskStatus, number>): string {
  return (
    Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([state, n]) => `${state.toLowerCase()} ${n}`)
      .join(', ') || 'no tasks'
  );
}

/** How long a job ran: to its last change once ended, to now while it runs. */
export function runTime(job: Job, now = Date.now()): string {
  const ended = ['FINISHED', 'FAILED', 'CANCELLED'].includes(job.status);
  return duration((ended ? Date.parse(job.updatedAt) : now) - Date.parse(job.createdAt));
}

/** `12.4 MiB`. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A local time stamp for plain (non-terminal) output lines. */
export const stamp = (at: Date = new Date()): string => at.toISOString().replace(/\.\d{3}Z$/, 'Z');
