import { describe, expect, it } from 'vitest';
import { graphEdges, type TaskGraph } from '../../../client/index.js';
import { toDot } from '../../../cli/commands/graph.js';

const task = (id: string, dependsOn: string[] = [], dependsOnRanges: Array<[number, number]> = []) => ({
  id,
  dependsOn,
  dependsOnRanges,
  runDependentsOnFailure: false,
});

describe('task graphs', () => {
  it('should spell out id ranges as the numbered tasks inside them, once each', () => {
    const graph: TaskGraph = {
      planned: true,
      tasks: [
        task('prep'),
        task('1', ['prep']),
        task('2', ['prep']),
        task('10', ['prep']),
        task('x3'),
        // 1..10 names 1, 2 and 10 (not x3, not itself); "1" named again is one edge.
        task('merge', ['1'], [[1, 10]]),
        task('11', [], [[5, 11]]),
      ],
    };
    expect(graphEdges(graph)).toEqual([
      ['prep', '1'],
      ['prep', '2'],
      ['prep', '10'],
      ['1', 'merge'],
      ['2', 'merge'],
      ['10', 'merge'],
      ['10', '11'],
    ]);
  });

  it('should write Graphviz DOT with every id quoted and each task in its state', () => {
    const graph: TaskGraph = {
      planned: true,
      tasks: [task('a "quoted" \\ one'), task('b', ['a "quoted" \\ one'])],
    };
    const dot = toDot('my "job"', graph, new Map([['b', 'FAILED']]));
    expect(dot).toBe(
      [
        'digraph "my \\"job\\"" {',
        '  rankdir=LR;',
        '  node [shape=box, style="rounded,filled", fontname="sans-serif"];',
        '  "a \\"quoted\\" \\\\ one" [label="a \\"quoted\\" \\\\ one\\npending", fillcolor="#eeeeee"];',
        '  "b" [label="b\\nfailed", fillcolor="#f6c6c4"];',
        '  "a \\"quoted\\" \\\\ one" -> "b";',
        '}',
        '',
      ].join('\n'),
    );
  });
});
