/**
 * Validation of a job's task dependency graph: ids, dependencies, ranges, the edge budget and
 * cycles, plus an order to submit the tasks in. Pure, and linear in tasks plus edges, because jobs
 * reach 100,000 tasks and millions of edges and this runs on every submission.
 */

/** One concrete task of a job, as far as the dependency graph is concerned. */
export interface DagTask {
  id: string;
  /** Where the task sits in the submitted document, for error paths, e.g. "tasks[3]" */
  path: string;
  dependsOn: readonly string[];
  /** Inclusive integer id ranges [start, end]; only allowed when the job uses integer ids. */
  dependsOnRanges: readonly (readonly [number, number])[];
}

/** One problem with the graph, at the path of the field in the submitted document. */
export interface DagIssue {
  path: string;
  message: string;
}

/** How to read the graph and how large it may be. */
export interface DagOptions {
  /** Whether the job's task ids are positive integers (taskIdStyle "int"), which ranges need. */
  intIds: boolean;
  /** The most dependency edges the job may declare, counting every id of every range. */
  maxEdges: number;
}

/** What {@link validateDag} found. */
export interface DagResult {
  /** Every problem found, at most 100; empty when the graph is valid. */
  issues: DagIssue[];
  /** task ids in an order where every task follows all it depends on; empty when there are issues */
  order: string[];
  /**
   * Dependency edges as declared and counted against {@link DagOptions.maxEdges}: each listed id
   * and every id of every well-formed range, repeats included (0 when the ids were too broken to
   * get that far).
   */
  edges: number;
}

const MAX_ISSUES = 100;
/** A few cycles tell the user what is wrong; hundreds would bury the other issues. */
const MAX_CYCLES = 5;
/** A cycle through 100,000 tasks must not make a 100,000-name message. */
const CYCLE_NAMES_SHOWN = 10;
const CANONICAL_INT = /^[1-9][0-9]*$/;

class Issues {
  readonly list: DagIssue[] = [];
  add(path: string, message: string): void {
    if (this.list.length < MAX_ISSUES) this.list.push({ path, message });
  }
  get full(): boolean {
    return this.list.length >= MAX_ISSUES;
  }
}

/**
 * Checks a job's task dependency graph and orders its tasks.
 *
 * Reports duplicate ids, ids that are not canonical positive integers when `intIds` is set,
 * dependencies on unknown tasks or on the task itself, malformed ranges or ranges without integer
 * ids, range ids that do not exist, more than `maxEdges` declared edges, and dependency cycles
 * (the first few, each named in dependency order starting from its earliest task). Stops at 100
 * issues, and does not look at any edge once the budget is exceeded.
 *
 * The order is Kahn's algorithm taking, among the tasks that are ready, the earliest in the input,
 * so an input that is already in dependency order comes back unchanged. Nothing recurses, so a
 * 100,000-task chain is fine.
 */
export function validateDag(tasks: readonly DagTask[], options: DagOptions): DagResult {
  const { intIds, maxEdges } = options;
  const issues = new Issues();
  const stop = (edges: number): DagResult => ({ issues: issues.list, order: [], edges });
  const n = tasks.length;

  const ids = indexIds(tasks, intIds, issues);
  if (!ids) return stop(0);
  const { indexById, intValue } = ids;

  const { edges, overAt, storable } = countEdges(tasks, intIds, maxEdges);
  if (overAt >= 0) {
    issues.add(
      tasks[overAt]!.path,
      `the job declares more than ${maxEdges} dependencies (${edges} in all); this task goes over the limit`,
    );
    return stop(edges);
  }

  const ints = intIds ? sortIntIds(intValue, indexById, tasks) : undefined;

  // Adjacency in compressed rows: task i depends on deps[depStart[i] .. depStart[i + 1]).
  const depStart = new Int32Array(n + 1);
  const deps = new Int32Array(storable);
  // Repeated edges are dropped here: counted twice, they would name one cycle twice.
  const seenBy = new Int32Array(n).fill(-1);
  let m = 0;
  for (let i = 0; i < n; i++) {
    depStart[i] = m;
    const task = tasks[i]!;
    for (let k = 0; k < task.dependsOn.length; k++) {
      const dep = task.dependsOn[k]!;
      if (dep === task.id) {
        issues.add(`${task.path}.dependsOn[${k}]`, `depends on itself (cycle: ${dep} → ${dep})`);
        continue;
      }
      const j = indexById.get(dep);
      if (j === undefined) {
        issues.add(`${task.path}.dependsOn[${k}]`, `depends on unknown task "${dep}"`);
        continue;
      }
      if (seenBy[j] !== i) {
        seenBy[j] = i;
        deps[m++] = j;
      }
    }
    if (task.dependsOnRanges.length > 0 && !ints) {
      issues.add(`${task.path}.dependsOnRange`, 'dependsOnRange needs taskIdStyle "int"');
    }
    for (let r = 0; ints && r < task.dependsOnRanges.length; r++) {
      const range = task.dependsOnRanges[r]!;
      const path = rangePath(task, r);
      const problem = rangeProblem(range);
      if (problem) {
        issues.add(path, problem);
        continue;
      }
      const [start, end] = range;
      const own = intValue[i]!;
      if (own >= start && own <= end) {
        issues.add(path, `[${start}, ${end}] includes the task itself (cycle: ${task.id} → ${task.id})`);
      }
      const lo = lowerBound(ints.values, start);
      const hi = lowerBound(ints.values, end + 1);
      const missing = end - start + 1 - (hi - lo);
      if (missing > 0) {
        const first = firstMissing(ints.values, lo, hi, start);
        issues.add(
          path,
          missing === 1
            ? `[${start}, ${end}] includes 1 task that does not exist: "${first}"`
            : `[${start}, ${end}] includes ${missing} tasks that do not exist, the first "${first}"`,
        );
      }
      // Existing ids in a range are contiguous in the sorted list, so only they are walked.
      for (let p = lo; p < hi; p++) {
        if (ints.values[p] === own) continue;
        const j = ints.tasks[p]!;
        if (seenBy[j] !== i) {
          seenBy[j] = i;
          deps[m++] = j;
        }
      }
    }
    if (issues.full) return stop(edges);
  }
  depStart[n] = m;

  const { order, placed } = kahn(n, depStart, deps);
  if (order.length < n) {
    for (const cycle of findCycles(n, depStart, deps, placed)) {
      const first = tasks[cycle[0]!]!;
      const next = tasks[cycle[1 % cycle.length]!]!;
      issues.add(edgePath(first, next), nameCycle(cycle.map((c) => tasks[c]!.id)));
    }
  }
  if (issues.list.length > 0) return stop(edges);
  return { issues: [], order: Array.from(order, (i) => tasks[i]!.id), edges };
}

/**
 * Maps each id to its first task (a duplicate is reported and resolves to the first, so later
 * passes see one task per id) and reads integer ids. Undefined once the issues are full.
 */
function indexIds(
  tasks: readonly DagTask[],
  intIds: boolean,
  issues: Issues,
): { indexById: Map<string, number>; intValue: Float64Array } | undefined {
  const n = tasks.length;
  const indexById = new Map<string, number>();
  // NaN marks a task whose id is not a usable integer, which then matches no range.
  const intValue = new Float64Array(n).fill(NaN);
  for (let i = 0; i < n; i++) {
    const task = tasks[i]!;
    const first = indexById.get(task.id);
    if (first === undefined) indexById.set(task.id, i);
    else issues.add(`${task.path}.id`, `duplicate task id "${task.id}" (first at ${tasks[first]!.path})`);
    if (intIds) {
      const problem = intIdProblem(task.id);
      if (problem) issues.add(`${task.path}.id`, problem);
      else intValue[i] = Number(task.id);
    }
    if (issues.full) return undefined;
  }
  return { indexById, intValue };
}

/**
 * Counts the declared edges against the budget arithmetically, before any range is walked, so a
 * range of 10^15 ids costs no more than a range of one. `overAt` is the task that goes over (-1
 * for none); `storable` bounds the edges worth storing, since a task has at most one edge to each
 * other task whatever it declares, which matters when ranges are mostly ids that do not exist.
 */
function countEdges(
  tasks: readonly DagTask[],
  intIds: boolean,
  maxEdges: number,
): { edges: number; overAt: number; storable: number } {
  const n = tasks.length;
  let edges = 0;
  let overAt = -1;
  let storable = 0;
  for (let i = 0; i < n; i++) {
    const task = tasks[i]!;
    let declared = task.dependsOn.length;
    if (intIds) {
      for (const range of task.dependsOnRanges) {
        if (rangeProblem(range) === undefined) declared += range[1] - range[0] + 1;
      }
    }
    edges += declared;
    storable += Math.min(declared, n);
    if (overAt < 0 && edges > maxEdges) overAt = i;
  }
  return { edges, overAt, storable };
}

function intIdProblem(id: string): string | undefined {
  if (!CANONICAL_INT.test(id)) {
    return `"${id}" is not a positive integer written plainly, like "1" or "42" (no sign, decimals or leading zeros), which taskIdStyle "int" needs`;
  }
  if (!Number.isSafeInteger(Number(id))) {
    return `"${id}" is too large; integer task ids go up to ${Number.MAX_SAFE_INTEGER}`;
  }
  return undefined;
}

function rangeProblem([start, end]: readonly [number, number]): string | undefined {
  const isId = (value: number) => Number.isSafeInteger(value) && value >= 1;
  if (!isId(start) || !isId(end)) return `[${start}, ${end}] must be two whole numbers of at least 1`;
  if (start > end) return `[${start}, ${end}] must be [start, end] with start ≤ end`;
  return undefined;
}

/** The document has a single `dependsOnRange`; only a task given several needs an index. */
function rangePath(task: DagTask, r: number): string {
  return task.dependsOnRanges.length === 1
    ? `${task.path}.dependsOnRange`
    : `${task.path}.dependsOnRange[${r}]`;
}

/** Points a cycle at the field that makes its first task depend on the next. */
function edgePath(from: DagTask, to: DagTask): string {
  if (from.dependsOn.includes(to.id)) return `${from.path}.dependsOn`;
  const value = Number(to.id);
  const r = from.dependsOnRanges.findIndex(([start, end]) => value >= start && value <= end);
  return r >= 0 ? rangePath(from, r) : `${from.path}.dependsOn`;
}

/** The usable integer ids in ascending order, each with the (first) task that has it. */
function sortIntIds(
  intValue: Float64Array,
  indexById: ReadonlyMap<string, number>,
  tasks: readonly DagTask[],
): { values: Float64Array; tasks: Int32Array } {
  const owners: number[] = [];
  for (let i = 0; i < tasks.length; i++) {
    if (!Number.isNaN(intValue[i]) && indexById.get(tasks[i]!.id) === i) owners.push(i);
  }
  owners.sort((a, b) => intValue[a]! - intValue[b]!);
  return { values: Float64Array.from(owners, (i) => intValue[i]!), tasks: Int32Array.from(owners) };
}

/** The first index whose value is at least `target` (the length if none). */
function lowerBound(values: Float64Array, target: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The first id from `start` on that is not among `values[lo..hi)`. The ids are distinct integers,
 * so `values[lo + k] - (start + k)` never decreases and the first gap can be bisected for.
 */
function firstMissing(values: Float64Array, lo: number, hi: number, start: number): number {
  let a = lo;
  let b = hi;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (values[mid] === start + (mid - lo)) a = mid + 1;
    else b = mid;
  }
  return start + (a - lo);
}

/**
 * Kahn's algorithm with a min-heap of ready task indexes rather than a queue, so ties go to the
 * earliest task in the input; `placed` marks the tasks it could order (the rest are on or behind a
 * cycle).
 */
function kahn(n: number, depStart: Int32Array, deps: Int32Array): { order: Int32Array; placed: Uint8Array } {
  const m = depStart[n]!;
  const pending = new Int32Array(n);
  const revStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) pending[i] = depStart[i + 1]! - depStart[i]!;
  for (let e = 0; e < m; e++) revStart[deps[e]! + 1]!++;
  for (let i = 0; i < n; i++) revStart[i + 1]! += revStart[i]!;
  const fill = revStart.slice(0, n);
  const dependents = new Int32Array(m);
  for (let i = 0; i < n; i++) {
    for (let e = depStart[i]!; e < depStart[i + 1]!; e++) dependents[fill[deps[e]!]!++] = i;
  }

  const heap = new Int32Array(n);
  let size = 0;
  const push = (value: number): void => {
    let at = size++;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (heap[parent]! <= value) break;
      heap[at] = heap[parent]!;
      at = parent;
    }
    heap[at] = value;
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap[--size]!;
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= size) break;
      if (child + 1 < size && heap[child + 1]! < heap[child]!) child++;
      if (heap[child]! >= last) break;
      heap[at] = heap[child]!;
      at = child;
    }
    heap[at] = last;
    return top;
  };

  for (let i = 0; i < n; i++) if (pending[i] === 0) push(i);
  const order = new Int32Array(n);
  const placed = new Uint8Array(n);
  let count = 0;
  while (size > 0) {
    const u = pop();
    order[count++] = u;
    placed[u] = 1;
    for (let e = revStart[u]!; e < revStart[u + 1]!; e++) {
      const v = dependents[e]!;
      if (--pending[v]! === 0) push(v);
    }
  }
  return { order: order.subarray(0, count), placed };
}

/**
 * Up to {@link MAX_CYCLES} cycles among the tasks Kahn could not place, found by a depth-first
 * search with an explicit stack; each is a list of task indexes in dependency order, rotated to
 * start at its earliest task so the name does not depend on where the search came in.
 */
function findCycles(n: number, depStart: Int32Array, deps: Int32Array, placed: Uint8Array): number[][] {
  const ON_STACK = 1;
  const DONE = 2;
  // Placed tasks cannot be on a cycle, so they start out done.
  const state = Uint8Array.from(placed, (p) => (p ? DONE : 0));
  const cursor = new Int32Array(n);
  const stack = new Int32Array(n);
  const depth = new Int32Array(n);
  const cycles: number[][] = [];
  let sp = 0;
  const enter = (u: number): void => {
    state[u] = ON_STACK;
    cursor[u] = depStart[u]!;
    depth[u] = sp;
    stack[sp++] = u;
  };
  for (let root = 0; root < n && cycles.length < MAX_CYCLES; root++) {
    if (state[root] !== 0) continue;
    enter(root);
    while (sp > 0 && cycles.length < MAX_CYCLES) {
      const u = stack[sp - 1]!;
      if (cursor[u]! < depStart[u + 1]!) {
        const v = deps[cursor[u]!++]!;
        if (state[v] === 0) enter(v);
        else if (state[v] === ON_STACK) cycles.push(rotate(Array.from(stack.subarray(depth[v], sp))));
      } else {
        state[u] = DONE;
        sp--;
      }
    }
  }
  return cycles;
}

function rotate(cycle: number[]): number[] {
  let at = 0;
  for (let k = 1; k < cycle.length; k++) if (cycle[k]! < cycle[at]!) at = k;
  return [...cycle.slice(at), ...cycle.slice(0, at)];
}

function nameCycle(ids: readonly string[]): string {
  const shown =
    ids.length <= CYCLE_NAMES_SHOWN + 2
      ? ids
      : [...ids.slice(0, CYCLE_NAMES_SHOWN), `… ${ids.length - CYCLE_NAMES_SHOWN - 1} more …`, ids.at(-1)!];
  return `dependency cycle: ${[...shown, ids[0]!].join(' → ')}`;
}
