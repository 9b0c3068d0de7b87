/**
 * Where cloudjobs keeps a job's files, spelled once. In the jobs container everything of a job is
 * under `<jobId>/`: its spec when too large for a table row, the ids of its tasks, the Batch plan,
 * what its tasks uploaded, and the outputs manifest. Logs go to the logs container (the job's own
 * choice, `job-logs` by default) under `<jobId>/<folder>/<taskId>/`.
 */
export const jobLayout = {
  /** Everything of the job in the jobs container. */
  job: (jobId: string) => `${jobId}/`,
  spec: (jobId: string) => `${jobId}/spec.json`,
  taskIds: (jobId: string) => `${jobId}/task-ids.json`,
  /** The task graph the signal handlers need. */
  graph: (jobId: string) => `${jobId}/plan/graph.json`,
  /** Where the job's logs are ({@link JobFilesLayout}), for the files API. */
  files: (jobId: string) => `${jobId}/plan/layout.json`,
  /** The Batch job to create. */
  batchJob: (jobId: string) => `${jobId}/plan/job.json`,
  /** One submission's worth (100) of the Batch tasks. */
  chunk: (jobId: string, index: number) => `${jobId}/plan/chunk-${String(index).padStart(6, '0')}.json`,
  /** One chunk of the `set`-th addition of tasks to an open job. */
  addedChunk: (jobId: string, set: number, index: number) =>
    `${jobId}/plan/added-${set}/chunk-${String(index).padStart(6, '0')}.json`,
  /** What the tasks uploaded: `<jobId>/tasks/<taskId>/<path in its working directory>`. */
  taskOutputs: (jobId: string) => `${jobId}/tasks/`,
  taskOutput: (jobId: string, taskId: string) => `${jobId}/tasks/${taskId}`,
  /** The archive written at ARCHIVING, which the outputs API serves. */
  outputsManifest: (jobId: string) => `${jobId}/outputs.json`,
  /** A task's stdout.txt and stderr.txt, in the logs container. */
  taskLogs: (jobId: string, folder: string, taskId: string) => `${jobId}/${folder}/${taskId}`,
} as const;

/**
 * The container of everything a job's tasks write (outputs and logs, at the same paths as above):
 * one per job, so the write URL Batch is handed for them reaches that job's data and nothing else
 * (a container SAS cannot be limited to a prefix). Event Grid still sees its logs land: the task
 * log subscription takes containers whose names begin with `job`.
 */
export const dataContainer = (jobId: string): string => `jobdata-${jobId}`;

/** Where a job's files are beyond the fixed layout: kept beside the plan for the files API. */
export interface JobFilesLayout {
  /** The logs as the spec asked: copied to this container, if it is not the job's own, at ARCHIVING. */
  logs: { container: string; folder: string };
  /**
   * The job's own container ({@link dataContainer}), where its tasks write outputs and logs.
   * Absent for jobs run before there was one: theirs are in the jobs and logs containers.
   */
  data?: string;
}

/** Where a job's tasks wrote their outputs and their logs, by its layout. */
export function writtenTo(layout: JobFilesLayout, jobsContainer: string): { outputs: string; logs: string } {
  return layout.data
    ? { outputs: layout.data, logs: layout.data }
    : { outputs: jobsContainer, logs: layout.logs.container };
}

/** Where users' own files are in the uploads container: a folder per owner. */
export const userFilesLayout = {
  folder: (owner: string) => `${owner}/`,
  blob: (owner: string, path: string) => `${owner}/${path}`,
} as const;
