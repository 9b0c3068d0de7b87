import { Cron } from 'croner';
import { parseDuration } from '../util/timespan.js';

/** A timer trigger's schedule: an NCRONTAB expression or (App Service plans) a TimeSpan interval. */
export interface Schedule {
  /** The next occurrence strictly after `after`. */
  next(after: Date): Date;
  describe(): string;
}

const NAMED_DAYS = /\b(SUN|MON|TUE|WED|THU|FRI|SAT)\b/i;

/**
 * Parses a schedule as the Functions host does: six-field NCRONTAB
 * (`{second} {minute} {hour} {day} {month} {day-of-week}`) or a TimeSpan like `00:05:00`.
 */
export function parseSchedule(expression: string, timezone?: string): Schedule {
  const text = expression.trim();
  if (/^(\d+\.)?\d{1,2}:\d{2}:\d{2}$/.test(text)) {
    const interval = parseDuration(text);
    if (interval <= 0) throw new Error(`the schedule interval "${expression}" must be positive`);
    return {
      next: (after) => new Date(after.getTime() + interval),
      describe: () => `every ${text}`,
    };
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 6) {
    throw new Error(
      `"${expression}" is not a valid schedule: NCRONTAB expressions have six fields ` +
        '({second} {minute} {hour} {day} {month} {day-of-week}), e.g. "0 */5 * * * *"',
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(text, { ...(timezone ? { timezone } : {}), paused: true, legacyMode: true });
  } catch (error) {
    throw new Error(`"${expression}" is not a valid NCRONTAB expression: ${(error as Error).message}`);
  }
  if (NAMED_DAYS.test(fields[5]!) === false && /7/.test(fields[5]!)) {
    // NCRONTAB numbers days of the week 0-6; croner would accept 7 as Sunday, Azure would not.
    throw new Error(`"${expression}": day-of-week values run 0-6 (Sunday is 0)`);
  }
  return {
    next: (after) => {
      const next = cron.nextRun(after);
      if (!next) throw new Error(`the schedule "${expression}" has no next occurrence`);
      return next;
    },
    describe: () => text,
  };
}
