import type { ContainerClient } from '@azure/storage-blob';
import { bindingText, type FunctionHost, type RegisteredFunction } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import type { StorageClients } from '../storage/clients.js';
import { namespacePrefix, resolveAppSettings } from '../util/names.js';
import { parseSchedule, type Schedule } from './schedule.js';

interface ScheduleStatus {
  Last: string;
  Next: string;
  LastUpdated: string;
}

interface TimerEntry {
  fn: RegisteredFunction;
  schedule: Schedule;
  runOnStartup: boolean;
  useMonitor: boolean;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
  status?: ScheduleStatus;
  lastRun?: Date;
}

// setTimeout holds at most about 24.8 days; longer waits are taken in steps.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const HOST_ID = 'cloudjobs-local';

export interface TimerSchedulerOptions {
  host: FunctionHost;
  storage: StorageClients;
  namespace: string;
  logger: ComponentLogger;
}

/**
 * Timer triggers: NCRONTAB schedules (in WEBSITE_TIME_ZONE when set), `runOnStartup`, and the
 * schedule monitor the Functions host keeps in storage, which makes a run missed while the app was
 * down happen at start with `isPastDue` set. Invocations of one timer never overlap.
 */
export class TimerScheduler {
  readonly #options: TimerSchedulerOptions;
  readonly #entries: TimerEntry[] = [];
  readonly #container: ContainerClient;
  #stopped = false;

  constructor(options: TimerSchedulerOptions) {
    this.#options = options;
    this.#container = options.storage.container(`${namespacePrefix(options.namespace)}azure-webjobs-hosts`);
  }

  async start(): Promise<void> {
    const functions = this.#options.host.byTrigger('timerTrigger');
    const timezone = process.env.WEBSITE_TIME_ZONE ?? process.env.TZ;
    for (const fn of functions) {
      const expression = resolveAppSettings(bindingText(fn.trigger, 'schedule'));
      let schedule: Schedule;
      try {
        schedule = parseSchedule(expression, timezone);
      } catch (error) {
        throw new Error(`function "${fn.name}": ${(error as Error).message}`);
      }
      this.#entries.push({
        fn,
        schedule,
        runOnStartup: fn.trigger.runOnStartup === true,
        useMonitor: fn.trigger.useMonitor !== false,
      });
    }
    if (this.#entries.length === 0) return;
    await this.#container.createIfNotExists();
    const now = new Date();
    for (const entry of this.#entries) {
      entry.status = entry.useMonitor ? await this.#readStatus(entry.fn.name) : undefined;
      const missed = entry.status !== undefined && Date.parse(entry.status.Next) < now.getTime();
      if (missed) {
        this.#options.logger.info(
          `${entry.fn.name}: a run due at ${entry.status!.Next} was missed; running it now (isPastDue)`,
        );
        this.#fire(entry, new Date(entry.status!.Next), true);
      } else if (entry.runOnStartup) {
        this.#fire(entry, now, false);
      } else {
        this.#arm(entry, now);
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const entry of this.#entries) clearTimeout(entry.timer);
    await Promise.allSettled(this.#entries.flatMap((e) => (e.running ? [e.running] : [])));
  }

  /** Runs a timer function now, as the admin API's manual trigger does. */
  async runNow(name: string): Promise<boolean> {
    const entry = this.#entries.find((e) => e.fn.name.toLowerCase() === name.toLowerCase());
    if (!entry) return false;
    await this.#invoke(entry, new Date(), false);
    return true;
  }

  #statusBlob(name: string) {
    return this.#container.getBlockBlobClient(`timers/${HOST_ID}/${name}/status`);
  }

  async #readStatus(name: string): Promise<ScheduleStatus | undefined> {
    try {
      const buffer = await this.#statusBlob(name).downloadToBuffer();
      return JSON.parse(buffer.toString('utf8')) as ScheduleStatus;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }

  async #writeStatus(entry: TimerEntry, last: Date, next: Date): Promise<void> {
    entry.status = {
      Last: last.toISOString(),
      Next: next.toISOString(),
      LastUpdated: new Date().toISOString(),
    };
    if (!entry.useMonitor) return;
    const text = JSON.stringify(entry.status);
    await this.#statusBlob(entry.fn.name).upload(text, Buffer.byteLength(text));
  }

  #arm(entry: TimerEntry, after: Date): void {
    if (this.#stopped) return;
    const due = entry.schedule.next(after);
    const wait = () => {
      const remaining = due.getTime() - Date.now();
      if (remaining > MAX_TIMEOUT_MS) {
        entry.timer = setTimeout(wait, MAX_TIMEOUT_MS);
        return;
      }
      entry.timer = setTimeout(() => this.#fire(entry, due, false), Math.max(0, remaining));
    };
    wait();
    // Recording the next due time is what lets a restart notice a run it missed.
    this.#writeStatus(entry, entry.lastRun ?? after, due).catch((error: unknown) =>
      this.#options.logger.warn(`${entry.fn.name}: could not record the schedule status: ${String(error)}`),
    );
  }

  #fire(entry: TimerEntry, scheduled: Date, pastDue: boolean): void {
    if (this.#stopped) return;
    entry.running = (async () => {
      await this.#invoke(entry, scheduled, pastDue);
      // The next run is computed from now, so a run that overran skips what it overlapped.
      this.#arm(entry, new Date(Math.max(Date.now(), scheduled.getTime())));
    })();
  }

  async #invoke(entry: TimerEntry, scheduled: Date, pastDue: boolean): Promise<void> {
    const next = entry.schedule.next(new Date(Math.max(Date.now(), scheduled.getTime())));
    const input = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: entry.status
        ? { Last: entry.status.Last, Next: next.toISOString(), LastUpdated: entry.status.LastUpdated }
        : null,
      IsPastDue: pastDue,
    };
    const outcome = await this.#options.host.invoke(entry.fn, { trigger: { json: JSON.stringify(input) } });
    this.#options.host.logOutcome(
      entry.fn,
      outcome,
      `schedule ${entry.schedule.describe()}${pastDue ? ', past due' : ''}`,
      // A timer that fires every few seconds would drown the log; what it does, it logs itself.
      next.getTime() - scheduled.getTime() < 60_000,
    );
    entry.lastRun = scheduled;
  }
}
