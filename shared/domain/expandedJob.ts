import type { NotificationSpec } from './jobSpec.js';

/**
 * A job as expansion makes it: concrete tasks with every default and macro applied. The types
 * alone, apart from the expansion itself, for everything that only reads an expanded job.
 */

/** Where a task input comes from, resolved. */
export type ExpandedInput =
  | { kind: 'blob'; container: string; path: string; target: string }
  | { kind: 'https'; url: string; target: string }
  /** One of the job owner's files (`files://`); `path` is inside their folder, a folder if it ends in `/`. */
  | { kind: 'files'; path: string; target: string }
  | {
      kind: 'fromTask';
      taskId: string;
      path: string;
      target: string;
      /** The job whose task wrote it, when not this one (a resumed job reads a done task's). */
      jobId?: string;
    };

/** Exit codes with a meaning of their own (see `exitCodesSchema`); each list may be empty. */
export interface ExitCodeRules {
  success: number[];
  failJob: number[];
  runDependents: number[];
}

/** One concrete task, with the job's defaults applied and every macro expanded. */
export interface ExpandedTask {
  id: string;
  command: string;
  image?: string;
  env: Record<string, string>;
  /**
   * Variables whose values are the owner's secrets, by secret name: resolved only as the task
   * goes to Batch, so no value is in the job's record or plan.
   */
  secretEnv?: Record<string, string>;
  inputs: ExpandedInput[];
  /** Output patterns archived from this task's working directory (the job's and its own). */
  outputs: string[];
  dependsOn: string[];
  dependsOnRanges: Array<[number, number]>;
  runDependentsOnFailure: boolean;
  retries: number;
  timeoutMinutes?: number;
  /** Task slots it takes on its node, when more than one (Batch `requiredSlots`). */
  slots?: number;
  /** Whether it writes to `${outputDir}`: the folder is made before it runs and uploaded after. */
  makesOutputDir?: boolean;
  /** What its exit codes mean beyond 0 and failure, when the task or its job says. */
  exitCodes?: ExitCodeRules;
  /** The sweep index this task was made for. */
  index?: number;
}

/** A job spec made concrete: what the orchestration submits. */
export interface ExpandedJob {
  name: string;
  description?: string;
  template?: string;
  pool: string;
  /** The preset the job was placed by, if it named one. */
  preset?: string;
  image?: string;
  parameters: Record<string, string>;
  /** Inputs every task receives. */
  inputs: ExpandedInput[];
  outputs: string[];
  logs: { container: string; folder: string };
  /** Batch job priority, -1000 to 1000. */
  priority: number;
  timeoutMinutes?: number;
  /** The job's own limits on waiting, when it sets them (else the deployment's). */
  maxQueuedMinutes?: number;
  maxBlockedMinutes?: number;
  completeWhenTasksFinish: boolean;
  /** Whether tasks cancelled one by one leave the job able to finish. */
  allowCancelledTasks: boolean;
  taskIdStyle: 'string' | 'int';
  notifications: NotificationSpec[];
  tags: Record<string, string>;
  /** The job this one resumes from, and how many of the spec's tasks it takes as done there. */
  resumedFrom?: { job: string; done: number };
  /** The secrets its tasks' env names, each with the field that first names it. */
  secrets?: Array<{ name: string; path: string }>;
  tasks: ExpandedTask[];
  /** Task ids in an order where each follows everything it depends on. */
  order: string[];
}
