import type { JobStatus, TaskStatus } from '../../client/index.js';

/** A duration in words a person reads at a glance: `850 ms`, `42 s`, `3 min 5 s`, `2 h 14 min`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** A timestamp in the reader's own time zone, to the second. */
export const when = (iso: string | undefined): string =>
  iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) : '';

/** Milliseconds between two instants, or until now when the second is missing. */
export const elapsedMs = (from: string, to: string | undefined, now = Date.now()): number =>
  (to ? Date.parse(to) : now) - Date.parse(from);

/** How long between two instants, or until now when the second is missing. */
export const between = (from: string | undefined, to: string | undefined, now = Date.now()): string =>
  from ? duration(elapsedMs(from, to, now)) : '';

/** The tone a state is shown in: it also carries a word, so colour is never the only signal. */
export function tone(status: JobStatus | TaskStatus): 'ok' | 'bad' | 'busy' | 'idle' | 'off' {
  switch (status) {
    case 'FINISHED':
    case 'SUCCEEDED':
      return 'ok';
    case 'FAILED':
      return 'bad';
    case 'CANCELLED':
    case 'PAUSED':
    case 'BLOCKED':
    case 'SKIPPED':
      return 'off';
    case 'PENDING':
    case 'QUEUED':
      return 'idle';
    default:
      return 'busy';
  }
}
