import type { TaskGraph } from './types.js';

/**
 * Every dependency of a task graph as `[dependency, dependent]`, Batch's id ranges spelled out:
 * a range names each task whose id is a whole number inside it.
 */
export function graphEdges(graph: TaskGraph): Array<[string, string]> {
  const numbered = graph.tasks
    .filter((task) => /^\d+$/.test(task.id))
    .map((task) => ({ id: task.id, n: Number(task.id) }))
    .sort((a, b) => a.n - b.n);
  const firstAtLeast = (value: number) => {
    let low = 0;
    let high = numbered.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (numbered[middle]!.n < value) low = middle + 1;
      else high = middle;
    }
    return low;
  };
  const edges: Array<[string, string]> = [];
  for (const task of graph.tasks) {
    const seen = new Set<string>();
    const add = (dependency: string) => {
      if (dependency === task.id || seen.has(dependency)) return;
      seen.add(dependency);
      edges.push([dependency, task.id]);
    };
    task.dependsOn.forEach(add);
    for (const [start, end] of task.dependsOnRanges) {
      for (let i = firstAtLeast(start); i < numbered.length && numbered[i]!.n <= end; i++)
        add(numbered[i]!.id);
    }
  }
  return edges;
}
