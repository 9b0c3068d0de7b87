import { Graph, layout, type EdgeLabel, type GraphLabel, type NodeLabel } from '@dagrejs/dagre';
import { useMemo, type KeyboardEvent } from 'react';
import { graphEdges, type Task, type TaskGraph } from '../../../client/index.js';
import { tone } from '../format.js';

const NODE_HEIGHT = 30;
const CHAR_WIDTH = 7.5;

interface Placed {
  width: number;
  height: number;
  nodes: Array<{ id: string; x: number; y: number; width: number }>;
  edges: Array<{ from: string; to: string; points: Array<{ x: number; y: number }> }>;
}

/** Lays the graph out left to right, dependencies before their dependents (dagre's layered layout). */
function place(graph: TaskGraph): Placed {
  const g = new Graph<GraphLabel, NodeLabel, EdgeLabel>();
  g.setGraph({ rankdir: 'LR', nodesep: 10, ranksep: 40, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const task of graph.tasks)
    g.setNode(task.id, { width: Math.min(220, 28 + CHAR_WIDTH * task.id.length), height: NODE_HEIGHT });
  for (const [from, to] of graphEdges(graph)) g.setEdge(from, to);
  layout(g);
  const size = g.graph();
  return {
    width: size.width ?? 0,
    height: size.height ?? 0,
    nodes: g.nodes().map((id) => {
      const node = g.node(id);
      return { id, x: node.x ?? 0, y: node.y ?? 0, width: node.width };
    }),
    edges: g.edges().map((edge) => ({ from: edge.v, to: edge.w, points: g.edge(edge).points ?? [] })),
  };
}

/**
 * The task graph, each task in its state's colour and word as the states arrive; choosing a task
 * opens its log, as in the table. Laid out once per graph: the states only recolour it.
 */
export default function TaskGraphView({
  graph,
  tasks,
  selected,
  onSelect,
}: {
  graph: TaskGraph;
  tasks: Task[];
  selected: string | undefined;
  onSelect: (id: string) => void;
}) {
  const placed = useMemo(() => place(graph), [graph]);
  const states = useMemo(() => new Map(tasks.map((task) => [task.id, task.status])), [tasks]);
  const choose = (id: string) => (event: KeyboardEvent) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      onSelect(id);
    }
  };
  return (
    <div className="graph" role="group" aria-label="Task dependencies">
      <svg
        width={placed.width}
        height={placed.height}
        viewBox={`0 0 ${placed.width} ${placed.height}`}
        data-edges={placed.edges.length}
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 8 8"
            refX="8"
            refY="4"
            markerWidth="8"
            markerHeight="8"
            orient="auto"
          >
            <path d="M0,0 L8,4 L0,8 z" className="arrowhead" />
          </marker>
        </defs>
        {placed.edges.map((edge) => (
          <path
            key={`${edge.from}->${edge.to}`}
            className="edge"
            markerEnd="url(#arrow)"
            d={edge.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' ')}
          />
        ))}
        {placed.nodes.map((node) => {
          const status = states.get(node.id) ?? 'PENDING';
          const word = status.toLowerCase();
          return (
            <g
              key={node.id}
              data-task-node={node.id}
              data-status={status}
              className={`node ${tone(status)}`}
              transform={`translate(${node.x - node.width / 2},${node.y - NODE_HEIGHT / 2})`}
              role="button"
              tabIndex={0}
              aria-pressed={selected === node.id}
              aria-label={`${node.id}, ${word}`}
              onClick={() => onSelect(node.id)}
              onKeyDown={choose(node.id)}
            >
              <title>{`${node.id}: ${word}`}</title>
              <rect width={node.width} height={NODE_HEIGHT} rx={6} />
              <text x={node.width / 2} y={NODE_HEIGHT / 2} dominantBaseline="central" textAnchor="middle">
                {node.id}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
