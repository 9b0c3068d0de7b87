/**
 * The cloudjobs client: `import { CloudJobsClient } from 'cloudjobs/client'`. Used by the
 * `cloudjobs` CLI and the dashboard, and by your own TypeScript.
 */
export { CloudJobsClient, type EventsOptions, type LogOptions, type OwnerEventsOptions } from './client.js';
export { CloudJobsError, CloudJobsUnreachableError } from './errors.js';
export type { ClientOptions, TokenSource } from './http.js';
export type { JobEvent, JobStatusEvent, TaskStatusEvent, ProgressEvent, CloudEventOf } from './events.js';
export type { DownloadOptions, DownloadResult } from './download.js';
export type { FileDownloadOptions, FileUploadOptions, FileUploadResult } from './files.js';
export * from './types.js';
export { graphEdges } from './graph.js';
