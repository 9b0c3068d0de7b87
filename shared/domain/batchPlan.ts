import type { ComputeJobSpec, ComputeTaskSpec, ResourceFileSpec } from '../compute/compute.js';
import type { ExitCodeRules, ExpandedInput, ExpandedJob, ExpandedTask } from './expand.js';
import { dataContainer, jobLayout } from './jobLayout.js';
import { OUTPUT_FOLDER, WORKING_DIR } from './macros.js';

/**
 * How Batch reaches the job's storage: URLs that carry their own access (a SAS), or plain URLs
 * with `identity` set to the pool's managed identity. An adapter provides them.
 */
export interface DataLocations {
  containerUrl(container: string): string;
  blobUrl(container: string, name: string): string;
  /** The pool's managed identity, when URLs carry no SAS. */
  identity?: string;
}

/** Where cloudjobs keeps a job's files in storage. */
export interface JobLayout {
  /**
   * The job's own container: it holds `<jobId>/tasks/<taskId>/...` (what each task declared as
   * output, uploaded as it ends) and the logs; the only one tasks may write.
   */
  dataContainer: string;
  /** Where another job's tasks wrote their outputs, for `fromTask` inputs of a resumed job. */
  outputsOf?: (jobId: string) => string;
  /** Where the job owner's own files are, which `files://` inputs name. */
  uploads: { container: string; folder: string };
}

/**
 * Batch runs a command line without a shell. Users write shell (pipes, `&&`, redirections,
 * `$VAR`), as the Batch documentation's own examples do with `/bin/sh -c`, so every command runs
 * under one; single quotes keep the command exactly as written.
 */
export function shellCommandLine(command: string): string {
  return `/bin/sh -c '${command.replace(/'/g, `'\\''`)}'`;
}

/**
 * Lines that start a new attempt's logs. A task that may run more than once writes each run's
 * stdout and stderr to `stdout-<n>.txt` and `stderr-<n>.txt` beside Batch's own (which stay
 * empty), counting runs in a file of the task directory: Batch reruns a task in the same
 * directory, and uploads every `std*.txt` when it ends, so each attempt's logs survive whether
 * Batch truncates its own files between runs or not. Names start with `_cj_` to stay out of the
 * command's way.
 */
export const ATTEMPT_LOG_LINES = [
  '_cj_d=${AZ_BATCH_TASK_DIR:-.}',
  '_cj_n=$(($(cat "$_cj_d/attempt" 2>/dev/null || echo 0) + 1))',
  'echo $_cj_n > "$_cj_d/attempt"',
  'exec >"$_cj_d/stdout-$_cj_n.txt" 2>"$_cj_d/stderr-$_cj_n.txt"',
] as const;

/** The Batch command line of a task: its command under a shell, each attempt logged apart when it may retry. */
export function taskCommandLine(command: string, retries: number, rules?: ExitCodeRules): string {
  if (rules) return exitRulesCommandLine(command, rules, retries, retries > 0);
  return shellCommandLine(retries > 0 ? [...ATTEMPT_LOG_LINES, command].join('\n') : command);
}

/**
 * The command line of a task whose exit codes have meanings of their own. Batch retries every
 * non-zero exit and counts only 0 as success, so the shell around the command does what Batch
 * cannot: a success code leaves as 0 (said on stderr), and when some codes must fail the job
 * without a retry, the retries happen here (Batch is given none) and stop at such a code.
 */
export function exitRulesCommandLine(
  command: string,
  rules: ExitCodeRules,
  retries: number,
  attemptLogs = false,
): string {
  const lines = ['(', command, ')', 'c=$?', 'case $c in', '  0) exit 0 ;;'];
  if (rules.success.length > 0) {
    lines.push(
      `  ${rules.success.join('|')}) echo "cloudjobs: exit code $c counts as success" >&2; exit 0 ;;`,
    );
  }
  if (rules.failJob.length > 0) {
    lines.push(`  ${rules.failJob.join('|')}) echo "cloudjobs: exit code $c fails the job" >&2; exit $c ;;`);
  }
  lines.push('esac');
  const body = lines.join('\n');
  const attempt = attemptLogs ? ATTEMPT_LOG_LINES : [];
  if (rules.failJob.length === 0 || retries === 0) {
    return shellCommandLine([...attempt, `${body}\nexit $c`].join('\n'));
  }
  // The same case, in a loop that retries what is neither: attempt 1 is the first run.
  const loop = [
    'attempt=1',
    'while :; do',
    [...attempt, body].join('\n').replace(/^/gm, '  '),
    `  [ "$attempt" -gt ${retries} ] && exit $c`,
    `  echo "cloudjobs: exit code $c; trying again ($attempt of ${retries} retries)" >&2`,
    '  attempt=$((attempt + 1))',
    'done',
  ].join('\n');
  return shellCommandLine(loop);
}

/** A shell word for `value`, literal except for the working directory variable, which expands. */
function shellWord(value: string): string {
  const literal = (text: string) => (text === '' ? '' : `'${text.replace(/'/g, `'\\''`)}'`);
  const word = value.split(WORKING_DIR).map(literal).join(`"${WORKING_DIR}"`);
  return word === '' ? "''" : word;
}

/**
 * The task's command with what its working-directory macros need first: the `${outputDir}` folder
 * made, and env values that name the working directory exported with it expanded (Batch passes
 * environment values as they are, and only the shell knows the directory).
 */
export function commandWithPrelude(task: Pick<ExpandedTask, 'command' | 'env' | 'makesOutputDir'>): string {
  const lines: string[] = [];
  if (task.makesOutputDir) lines.push(`mkdir -p "${WORKING_DIR}/${OUTPUT_FOLDER}" || exit 1`);
  for (const [name, value] of Object.entries(task.env)) {
    if (value.includes(WORKING_DIR)) lines.push(`export ${name}=${shellWord(value)}`);
  }
  return lines.length === 0 ? task.command : `${lines.join('\n')}\n${task.command}`;
}

/**
 * The output destination that puts each matched file at `<prefix>/<its path in the working
 * directory>`. Batch names a file pattern's blob `path` itself, and a wildcard pattern's blobs
 * `path/<the file's path after the pattern's fixed directory>`, so the fixed directory goes back
 * into `path`: then every task's outputs have one predictable layout for fromTask and archiving.
 */
export function outputPath(prefix: string, pattern: string): string {
  const wildcard = pattern.search(/[*?[{]/);
  if (wildcard === -1) return `${prefix}/${pattern}`;
  const base = pattern.slice(0, pattern.lastIndexOf('/', wildcard) + 1).replace(/\/$/, '');
  return base ? `${prefix}/${base}` : prefix;
}

function dependencyIds(task: ExpandedTask): string[] {
  const ids = [...task.dependsOn];
  for (const [start, end] of task.dependsOnRanges) for (let id = start; id <= end; id++) ids.push(String(id));
  return ids;
}

/**
 * A task as the plan keeps it: what Batch is given, and the names of the owner's secrets to put
 * in its environment when it is submitted (the plan is stored, so it never holds their values).
 */
export interface PlannedTask extends ComputeTaskSpec {
  /** Environment variable name to secret name. */
  secretEnvironment?: Record<string, string>;
}

/**
 * Translates an expanded job into what Batch is asked to run: the job (on its pool, with its wall
 * clock) and one task spec per task, with inputs as resource files, declared outputs and logs as
 * output files. Pure; the URLs come from `locations`.
 */
export function planBatchJob(
  jobId: string,
  job: ExpandedJob,
  locations: DataLocations,
  layout: JobLayout,
): { job: ComputeJobSpec; tasks: PlannedTask[] } {
  const identity = locations.identity ? { identity: locations.identity } : {};
  const blob = (container: string, path: string, target: string): ResourceFileSpec => {
    // A container URL would let the task list and read the whole container, not just the folder.
    if (path === '' || path.endsWith('/')) {
      throw new Error(`the folder input ${container}/${path} must be resolved to its files before planning`);
    }
    return { source: { url: locations.blobUrl(container, path), ...identity }, target };
  };
  const resource = (input: ExpandedInput): ResourceFileSpec => {
    switch (input.kind) {
      case 'blob':
        return blob(input.container, input.path, input.target);
      case 'files':
        return blob(layout.uploads.container, `${layout.uploads.folder}${input.path}`, input.target);
      case 'https':
        return { source: { url: input.url }, target: input.target };
      case 'fromTask':
        return {
          source: {
            url: locations.blobUrl(
              input.jobId && input.jobId !== jobId
                ? (layout.outputsOf?.(input.jobId) ?? dataContainer(input.jobId))
                : layout.dataContainer,
              `${jobLayout.taskOutput(input.jobId ?? jobId, input.taskId)}/${input.path}`,
            ),
            ...identity,
          },
          target: input.target,
        };
    }
  };
  const jobInputs = job.inputs.map(resource);
  // One write URL, for the job's own container: outputs and logs both land there.
  const outputsUrl = locations.containerUrl(layout.dataContainer);
  const logsUrl = outputsUrl;
  const tasks = job.tasks.map((task): PlannedTask => {
    const rules = task.exitCodes;
    // With codes that fail the job, the command's shell does the retries (see exitRulesCommandLine).
    const retriesInShell = rules !== undefined && rules.failJob.length > 0 && task.retries > 0;
    const spec: PlannedTask = {
      id: task.id,
      commandLine: taskCommandLine(commandWithPrelude(task), task.retries, rules),
      environment: task.env,
      resourceFiles: [...jobInputs, ...task.inputs.map(resource)],
      outputs: task.outputs.map((pattern) => ({
        pattern,
        destination: {
          containerUrl: outputsUrl,
          path: outputPath(jobLayout.taskOutput(jobId, task.id), pattern),
          ...identity,
        },
        when: 'completion',
      })),
      logs: { containerUrl: logsUrl, path: jobLayout.taskLogs(jobId, job.logs.folder, task.id), ...identity },
      maxRetries: retriesInShell ? 0 : task.retries,
    };
    if (task.image) spec.image = task.image;
    if (task.secretEnv) spec.secretEnvironment = task.secretEnv;
    const dependsOn = dependencyIds(task);
    if (dependsOn.length > 0) spec.dependsOn = dependsOn;
    if (task.runDependentsOnFailure) spec.runDependentsOnFailure = true;
    if (task.timeoutMinutes !== undefined) spec.maxWallClockMs = task.timeoutMinutes * 60_000;
    if (task.slots !== undefined) spec.requiredSlots = task.slots;
    if (rules && (rules.runDependents.length > 0 || rules.failJob.length > 0)) {
      spec.exitCodeActions = [
        ...rules.runDependents.map((code) => ({ code, dependencyAction: 'satisfy' as const })),
        ...rules.failJob.map((code) => ({ code, dependencyAction: 'block' as const })),
      ];
    }
    return spec;
  });
  return {
    job: {
      id: jobId,
      poolId: job.pool,
      displayName: job.name,
      ...(job.timeoutMinutes !== undefined ? { maxWallClockMs: job.timeoutMinutes * 60_000 } : {}),
    },
    tasks,
  };
}
