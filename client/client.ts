import { Transport, type ClientOptions } from './http.js';
import { CloudJobsError } from './errors.js';
import { bodyChunks } from './body.js';
import { readSse, toJobEvent, type JobEvent, type JobStatusEvent, type ProgressEvent } from './events.js';
import type { DownloadOptions, DownloadResult } from './download.js';
import type { FileDownloadOptions, FileUploadOptions, FileUploadResult } from './files.js';
import {
  FINAL_STATUSES,
  type DeliveriesQuery,
  type Delivery,
  type HistoryEntry,
  type Job,
  type JobSpec,
  type JobStatus,
  type Caller,
  type JobPatch,
  type JobsQuery,
  type ResubmitRequest,
  type TaskSpec,
  type OutputListing,
  type Page,
  type Pool,
  type Preset,
  type PoolCreate,
  type PoolResize,
  type Subscription,
  type SubscriptionCreate,
  type Task,
  type TaskGraph,
  type FileUploadUrl,
  type TaskAttempts,
  type UserFile,
  type Secret,
  type TasksQuery,
  type Template,
  type TemplateVersionInput,
  type UploadUrl,
} from './types.js';

const enc = encodeURIComponent;
/** An output path keeps its slashes: each segment is escaped on its own. */
const encodePath = (path: string) => path.split('/').map(enc).join('/');

/** Which log of a task, and whether to follow it. */
export interface LogOptions {
  stream?: 'stdout' | 'stderr';
  /** Stream a running task's log as it grows, until the task ends. */
  follow?: boolean;
  /** This attempt's log (1 is the first run), not the latest's. */
  attempt?: number;
  signal?: AbortSignal;
}

/** How to follow a job's events. */
/** Options of {@link CloudJobsClient.events}: every job of yours. */
export interface OwnerEventsOptions {
  /** Only changes into this status (no progress then). */
  status?: JobStatus;
  /** Only jobs of this name. */
  name?: string;
  /** Admins: another owner's jobs. */
  owner?: string;
  lastEventId?: string;
  signal?: AbortSignal;
  /** Told when the stream is open: changes from then on will come. */
  onOpen?: () => void;
  /** Also each unfinished job's task counts when they move. */
  progress?: boolean;
}

export interface EventsOptions {
  /** Resume after this event id (from an earlier stream). */
  lastEventId?: string;
  /** Stops following. */
  signal?: AbortSignal;
  /** Reconnect after a break or when the service ends the stream early; true unless given. */
  reconnect?: boolean;
}

/**
 * The cloudjobs API, typed from the schemas the service validates with. Every method throws
 * {@link CloudJobsError} with the problem document for a refusal, and
 * {@link CloudJobsUnreachableError} when the service cannot be reached.
 */
export class CloudJobsClient {
  readonly http: Transport;

  constructor(options: ClientOptions = {}) {
    this.http = new Transport(options);
  }

  /** The service's address. */
  get url(): string {
    return this.http.baseUrl;
  }

  /** Whether the service reaches its storage and Batch. */
  health(): Promise<{ status: string; checks: Record<string, unknown> }> {
    return this.http.json('GET', '/health');
  }

  /** Who the service takes you to be, and whether you are an admin. */
  me(): Promise<Caller> {
    return this.http.json('GET', '/me');
  }

  readonly jobs = {
    /**
     * Submits a job. An `Idempotency-Key` goes with it (a fresh one unless given), so a submit
     * retried after a lost answer is the same job, never two.
     */
    submit: (spec: JobSpec, options: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<Job> =>
      this.http.json('POST', '/jobs', {
        body: spec,
        headers: { 'idempotency-key': options.idempotencyKey ?? crypto.randomUUID() },
        idempotent: true,
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    /**
     * Runs an ended job again as a new job: `tasks: 'all'`, or `'failed'` for only the tasks that
     * did not succeed (the others count as done, their outputs read from the original). With an
     * `Idempotency-Key`, fresh unless given, as for a submit.
     */
    resubmit: (
      id: string,
      request: ResubmitRequest,
      options: { idempotencyKey?: string; signal?: AbortSignal } = {},
    ): Promise<Job> =>
      this.http.json('POST', `/jobs/${enc(id)}/resubmit`, {
        body: request,
        headers: { 'idempotency-key': options.idempotencyKey ?? crypto.randomUUID() },
        idempotent: true,
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    /**
     * Adds tasks to an open job (submitted with `completeWhenTasksFinish: false`) that is queued
     * or running. An `Idempotency-Key` goes with it (fresh unless given), so a retry after a lost
     * answer adds nothing twice.
     */
    addTasks: (
      id: string,
      tasks: TaskSpec[],
      options: { idempotencyKey?: string; signal?: AbortSignal } = {},
    ): Promise<{ added: number; job: Job }> =>
      this.http.json('POST', `/jobs/${enc(id)}/tasks`, {
        body: { tasks },
        headers: { 'idempotency-key': options.idempotencyKey ?? crypto.randomUUID() },
        idempotent: true,
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    /** A page of your jobs, newest first. */
    list: (query: JobsQuery = {}): Promise<Page<Job>> => this.http.json('GET', '/jobs', { query }),
    /** Every job matching `query`, page after page. */
    all: (query: JobsQuery = {}): AsyncGenerator<Job> =>
      pages((continuation) => this.jobs.list({ ...query, continuation })),
    get: (id: string): Promise<Job> => this.http.json('GET', `/jobs/${enc(id)}`),
    history: async (id: string): Promise<HistoryEntry[]> =>
      (await this.http.json<{ items: HistoryEntry[] }>('GET', `/jobs/${enc(id)}/history`)).items,
    tasks: (id: string, query: TasksQuery = {}): Promise<Page<Task>> =>
      this.http.json('GET', `/jobs/${enc(id)}/tasks`, { query }),
    allTasks: (id: string, query: TasksQuery = {}): AsyncGenerator<Task> =>
      pages((continuation) => this.jobs.tasks(id, { limit: 1000, ...query, continuation })),
    /** The task graph: each task and the tasks it waits for (`planned` false until it is known). */
    graph: (id: string): Promise<TaskGraph> => this.http.json('GET', `/jobs/${enc(id)}/graph`),
    /** Changes a job that has not ended: its priority. */
    update: (id: string, patch: JobPatch): Promise<Job> =>
      this.http.json('PATCH', `/jobs/${enc(id)}`, { body: patch, idempotent: true }),
    cancel: (id: string): Promise<Job> =>
      this.http.json('POST', `/jobs/${enc(id)}/cancel`, { idempotent: true }),
    /**
     * Cancels one task: it ends CANCELLED, its dependents are SKIPPED unless it lets them run, and
     * the job carries on. A 409 `TASK_NOT_SUBMITTED` (with `retryAfterSeconds`) means the job has
     * not put it on Batch yet.
     */
    cancelTask: (id: string, taskId: string): Promise<Task> =>
      this.http.json('POST', `/jobs/${enc(id)}/tasks/${enc(taskId)}/cancel`, { idempotent: true }),
    pause: (id: string): Promise<Job> =>
      this.http.json('POST', `/jobs/${enc(id)}/pause`, { idempotent: true }),
    resume: (id: string): Promise<Job> =>
      this.http.json('POST', `/jobs/${enc(id)}/resume`, { idempotent: true }),
    complete: (id: string): Promise<Job> =>
      this.http.json('POST', `/jobs/${enc(id)}/complete`, { idempotent: true }),
    delete: async (id: string): Promise<void> => {
      await this.http.send('DELETE', `/jobs/${enc(id)}`);
    },
    /**
     * A task's log as it arrives. With `follow`, a running task's log is streamed as it grows
     * until the task ends; without, what exists now.
     */
    log: (id: string, taskId: string, options: LogOptions = {}): AsyncGenerator<Uint8Array> =>
      this.#log(id, taskId, options),
    /** Each attempt of a task (a retried task runs more than once), with the size of its logs. */
    attempts: (id: string, taskId: string): Promise<TaskAttempts> =>
      this.http.json('GET', `/jobs/${enc(id)}/tasks/${enc(taskId)}/attempts`),
    outputs: (id: string): Promise<OutputListing> => this.http.json('GET', `/jobs/${enc(id)}/outputs`),
    /** One output file (`<taskId>/<path>`, as listed), as a response to read. */
    output: (id: string, path: string, signal?: AbortSignal): Promise<Response> =>
      this.http.send('GET', `/jobs/${enc(id)}/outputs/${encodePath(path)}`, {
        headers: { accept: '*/*' },
        ...(signal ? { signal } : {}),
      }),
    /** The outputs as one zip (or one task's, or those under a prefix), as a response to read. */
    outputsZip: (
      id: string,
      query: { task?: string; prefix?: string } = {},
      signal?: AbortSignal,
    ): Promise<Response> =>
      this.http.send('GET', `/jobs/${enc(id)}/outputs.zip`, {
        query,
        headers: { accept: 'application/zip' },
        ...(signal ? { signal } : {}),
      }),
    /** Every output file into `dir`, keeping their paths; files already there whole are kept. */
    download: async (id: string, dir: string, options: DownloadOptions = {}): Promise<DownloadResult> => {
      // Loaded when used: it writes files, which a browser (the dashboard) cannot.
      const { downloadOutputs } = await import('./download.js');
      return downloadOutputs(this, id, dir, options);
    },
    /**
     * The job's events: what happened (after `lastEventId`), then each change as it happens, until
     * the job ends. Reconnects with the last event id after a break, as EventSource does.
     */
    events: (id: string, options: EventsOptions = {}): AsyncGenerator<JobEvent> => this.#events(id, options),
  };

  /**
   * Every job of yours: each status change as it is recorded, from now (or after `lastEventId`),
   * until `signal` stops it. Reconnects with the last event id as EventSource does. With
   * `progress`, also each unfinished job's task counts when they move (`job.progress`).
   */
  events(options: OwnerEventsOptions & { progress: true }): AsyncGenerator<JobStatusEvent | ProgressEvent>;
  events(options?: OwnerEventsOptions): AsyncGenerator<JobStatusEvent>;
  events(options: OwnerEventsOptions = {}): AsyncGenerator<JobStatusEvent | ProgressEvent> {
    return this.#ownerEvents(options);
  }

  readonly templates = {
    list: async (): Promise<Array<{ name: string; owner: string; versions: string[] }>> =>
      (
        await this.http.json<{ items: Array<{ name: string; owner: string; versions: string[] }> }>(
          'GET',
          '/templates',
        )
      ).items,
    get: (name: string): Promise<{ name: string; versions: Template[] }> =>
      this.http.json('GET', `/templates/${enc(name)}`),
    put: (name: string, version: string, body: TemplateVersionInput): Promise<Template> =>
      this.http.json('PUT', `/templates/${enc(name)}/versions/${enc(version)}`, { body }),
  };

  readonly subscriptions = {
    /** Subscribes a webhook or email address; the answer carries the signing secret, this once. */
    create: (body: SubscriptionCreate): Promise<Subscription> =>
      this.http.json('POST', '/subscriptions', { body }),
    list: async (): Promise<Subscription[]> =>
      (await this.http.json<{ items: Subscription[] }>('GET', '/subscriptions')).items,
    get: (id: string): Promise<Subscription> => this.http.json('GET', `/subscriptions/${enc(id)}`),
    update: (id: string, body: { enabled: boolean }): Promise<Subscription> =>
      this.http.json('PATCH', `/subscriptions/${enc(id)}`, { body }),
    delete: async (id: string): Promise<void> => {
      await this.http.send('DELETE', `/subscriptions/${enc(id)}`);
    },
    rotateSecret: (id: string): Promise<{ secret: string; previousSecretSignsUntil?: string }> =>
      this.http.json('POST', `/subscriptions/${enc(id)}/secret`),
    signingSecret: (): Promise<{ secret: string; signs: string }> =>
      this.http.json('POST', '/subscriptions/signing-secret'),
    deliveries: (id: string, query: DeliveriesQuery = {}): Promise<Page<Delivery>> =>
      this.http.json('GET', `/subscriptions/${enc(id)}/deliveries`, { query }),
    redeliver: (id: string, deliveryId: string): Promise<Delivery> =>
      this.http.json('POST', `/subscriptions/${enc(id)}/deliveries/${enc(deliveryId)}/retry`),
    redeliverDeadLetters: (
      id: string,
      query: { jobId?: string; limit?: number } = {},
    ): Promise<{ delivered: Delivery[]; failed?: Delivery; more: boolean }> =>
      this.http.json('POST', `/subscriptions/${enc(id)}/deliveries/retry`, { query }),
  };

  readonly presets = {
    /** The deployment's resource presets, which a job or task may name instead of a pool. */
    list: async (): Promise<Preset[]> => (await this.http.json<{ items: Preset[] }>('GET', '/presets')).items,
  };

  readonly pools = {
    list: async (): Promise<Pool[]> => (await this.http.json<{ items: Pool[] }>('GET', '/pools')).items,
    create: (body: PoolCreate): Promise<Pool> => this.http.json('POST', '/pools', { body }),
    resize: (id: string, body: PoolResize): Promise<Pool> =>
      this.http.json('PATCH', `/pools/${enc(id)}`, { body }),
    delete: async (id: string): Promise<void> => {
      await this.http.send('DELETE', `/pools/${enc(id)}`);
    },
  };

  readonly files = {
    /** A URL that writes one of your files (create, write, and read of its block list). */
    uploadUrl: (path: string): Promise<FileUploadUrl> =>
      this.http.json('GET', '/files/upload-url', { query: { path } }),
    /** A page of your files whose path begins with `prefix`, in path order. */
    list: (
      query: { prefix?: string; limit?: number; continuation?: string } = {},
    ): Promise<{ items: UserFile[]; continuation?: string }> => this.http.json('GET', '/files', { query }),
    /** Every file of yours under `prefix`, page after page. */
    listAll: (prefix?: string): AsyncGenerator<UserFile> => this.#listFiles(prefix),
    /** One of your files as a response to read; from byte `offset` with a 206 when one is given. */
    download: (
      path: string,
      options: { offset?: number; length?: number; signal?: AbortSignal } = {},
    ): Promise<Response> => {
      const { offset = 0, length } = options;
      const range =
        length !== undefined
          ? `bytes=${offset}-${offset + length - 1}`
          : offset > 0
            ? `bytes=${offset}-`
            : undefined;
      return this.http.send('GET', `/files/${encodePath(path)}`, {
        headers: { accept: '*/*', ...(range ? { range } : {}) },
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },
    /** Removes one of your files, or with a path ending in `/` a folder of them. */
    remove: (path: string): Promise<{ removed: number }> =>
      this.http.json('DELETE', `/files/${encodePath(path)}`),
    /** Uploads a local file in parallel blocks, resuming an upload of it that was cut short. */
    upload: async (
      localFile: string,
      path: string,
      options: FileUploadOptions = {},
    ): Promise<FileUploadResult> => {
      // Loaded when used: it reads local files, which a browser (the dashboard) cannot.
      const { uploadFile } = await import('./files.js');
      return uploadFile(this, localFile, path, options);
    },
    /** Downloads one of your files to `localFile`, resuming a download of it that was cut short. */
    downloadTo: async (path: string, localFile: string, options: FileDownloadOptions = {}) => {
      const { downloadFile } = await import('./files.js');
      return downloadFile(this, path, localFile, options);
    },
  };

  readonly secrets = {
    /** Your secrets' names and when each was set; never a value. */
    list: async (): Promise<Secret[]> => (await this.http.json<{ items: Secret[] }>('GET', '/secrets')).items,
    /** Sets one of your secrets (made or replaced); a job's env names it `{ secretRef: name }`. */
    set: (name: string, value: string): Promise<Secret> =>
      this.http.json('PUT', `/secrets/${enc(name)}`, { body: { value } }),
    /** Removes one of your secrets. */
    remove: async (name: string): Promise<void> => {
      await this.http.send('DELETE', `/secrets/${enc(name)}`);
    },
  };

  readonly inbox = {
    /** A write-only URL for one manifest in your inbox folder. */
    uploadUrl: (file?: string): Promise<UploadUrl> =>
      this.http.json('GET', '/inbox/upload-url', { query: { file } }),
    /**
     * Uploads a manifest (JSON or YAML text) through an upload URL; the job starts when it lands.
     * Answers where it went.
     */
    upload: async (content: string | Uint8Array<ArrayBuffer>, file?: string): Promise<UploadUrl> => {
      const target = await this.inbox.uploadUrl(file);
      const response = await fetch(target.url, {
        method: target.method,
        headers: target.headers,
        body: content,
      });
      if (!response.ok) {
        throw new Error(`the inbox refused the upload: HTTP ${response.status} ${await response.text()}`);
      }
      return target;
    },
  };

  async *#listFiles(prefix?: string): AsyncGenerator<UserFile> {
    let continuation: string | undefined;
    do {
      const page = await this.files.list({
        ...(prefix ? { prefix } : {}),
        ...(continuation ? { continuation } : {}),
      });
      yield* page.items;
      continuation = page.continuation;
    } while (continuation);
  }

  async *#log(id: string, taskId: string, options: LogOptions): AsyncGenerator<Uint8Array> {
    const task = `/jobs/${enc(id)}/tasks/${enc(taskId)}`;
    const path = `${task}${options.attempt ? `/attempts/${options.attempt}` : ''}/logs/${options.stream ?? 'stdout'}`;
    let offset = 0;
    for (;;) {
      const response = await this.http.send('GET', path, {
        query: options.follow ? { follow: true, ...(offset > 0 ? { offset } : {}) } : {},
        headers: { accept: 'text/plain' },
        ...(options.signal ? { signal: options.signal } : {}),
      });
      // 204: the task has ended and every byte of its log has been read.
      if (response.status === 204 || !response.body) return;
      for await (const chunk of bodyChunks(response.body, options.signal)) {
        offset += chunk.length;
        yield chunk;
      }
      if (!options.follow) return;
      // A follow ends when the service says so; ask again from where it got to until it says 204.
    }
  }

  async *#ownerEvents(options: OwnerEventsOptions): AsyncGenerator<JobStatusEvent | ProgressEvent> {
    let last = options.lastEventId;
    let failures = 0;
    let opened = false;
    while (!options.signal?.aborted) {
      try {
        const response = await this.http.send('GET', '/events', {
          query: { status: options.status, name: options.name, owner: options.owner },
          headers: { accept: 'text/event-stream', ...(last ? { 'last-event-id': last } : {}) },
          ...(options.signal ? { signal: options.signal } : {}),
        });
        for await (const block of readSse(bodyChunks(response.body, options.signal))) {
          if (block.id) {
            // The stream's first id says where it starts: from here on, nothing is missed.
            if (!opened) options.onOpen?.();
            opened = true;
            last = block.id;
          }
          const event = toJobEvent(block);
          failures = 0;
          if (event?.event === 'job.status.changed' || (options.progress && event?.event === 'job.progress'))
            yield event;
        }
      } catch (error) {
        if (options.signal?.aborted || error instanceof CloudJobsError) throw error;
        failures++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * 2 ** (failures - 1))));
      }
    }
  }

  async *#events(id: string, options: EventsOptions): AsyncGenerator<JobEvent> {
    let last = options.lastEventId;
    let retryMs = 2000;
    let failures = 0;
    for (;;) {
      let received = 0;
      let ended = false;
      try {
        const response = await this.http.send('GET', `/jobs/${enc(id)}/events`, {
          headers: { accept: 'text/event-stream', ...(last ? { 'last-event-id': last } : {}) },
          ...(options.signal ? { signal: options.signal } : {}),
        });
        for await (const block of readSse(bodyChunks(response.body, options.signal))) {
          if (block.retry !== undefined) retryMs = block.retry;
          if (block.id) last = block.id;
          const event = toJobEvent(block);
          if (!event) continue;
          received++;
          failures = 0;
          yield event;
          if (event.event === 'job.status.changed' && FINAL_STATUSES.includes(event.data.data.status))
            ended = true;
        }
      } catch (error) {
        // A refusal (404, 401) is final; a broken connection is not.
        if (options.signal?.aborted || error instanceof CloudJobsError || options.reconnect === false)
          throw error;
        failures++;
      }
      if (ended || options.reconnect === false) return;
      // A stream that ended without news may be of a job that ended before the reader's place.
      if (received === 0 && FINAL_STATUSES.includes((await this.jobs.get(id)).status)) return;
      await new Promise((resolve) =>
        setTimeout(resolve, failures > 0 ? Math.min(30_000, retryMs * 2 ** (failures - 1)) : 0),
      );
    }
  }
}

async function* pages<T>(page: (continuation: string | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
  let continuation: string | undefined;
  do {
    const result = await page(continuation);
    yield* result.items;
    continuation = result.continuation;
  } while (continuation);
}
