import { useVirtualizer } from '@tanstack/react-virtual';
import { useMemo, useRef, useState } from 'react';
import { TASK_STATUS_NAMES, type Task, type TaskStatus } from '../../../client/index.js';
import { StatusBadge } from '../components/bits.js';
import { between, when } from '../format.js';

const ROW = 36;

/**
 * A job's tasks, filtered by state; only the rows in view are in the page, so 100,000 tasks
 * scroll as smoothly as ten. Choosing a task opens its log.
 */
export function TasksTable({
  tasks,
  complete,
  total,
  selected,
  onSelect,
  now,
}: {
  tasks: Task[];
  complete: boolean;
  total: number;
  selected: string | undefined;
  onSelect: (id: string) => void;
  now: number;
}) {
  const [state, setState] = useState<TaskStatus | ''>('');
  const shown = useMemo(() => (state ? tasks.filter((t) => t.status === state) : tasks), [tasks, state]);
  const scroller = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({
    count: shown.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW,
    overscan: 20,
  });
  return (
    <div className="tasks">
      <div className="filters">
        <label>
          State
          <select value={state} onChange={(event) => setState(event.target.value as TaskStatus | '')}>
            <option value="">any</option>
            {TASK_STATUS_NAMES.map((s) => (
              <option key={s} value={s}>
                {s.toLowerCase()}
              </option>
            ))}
          </select>
        </label>
        <span className="muted small" aria-live="polite">
          {shown.length} shown{complete ? '' : `, ${tasks.length} of ${total} read`}
        </span>
      </div>
      <div className="grid" role="table" aria-label="Tasks" aria-rowcount={shown.length + 1}>
        <div className="row head" role="row">
          {['Task', 'State', 'Exit code', 'Attempt', 'Started', 'Ended', 'Duration'].map((h) => (
            <span key={h} role="columnheader">
              {h}
            </span>
          ))}
        </div>
        <div
          ref={scroller}
          className="scroller"
          style={{ height: Math.min(480, Math.max(ROW, shown.length * ROW)) }}
        >
          <div style={{ height: rows.getTotalSize(), position: 'relative' }}>
            {rows.getVirtualItems().map((item) => {
              const task = shown[item.index]!;
              return (
                <div
                  key={task.id}
                  role="row"
                  aria-rowindex={item.index + 2}
                  aria-selected={task.id === selected}
                  className={`row${task.id === selected ? ' selected' : ''}`}
                  data-task={task.id}
                  style={{
                    position: 'absolute',
                    top: 0,
                    left: 0,
                    right: 0,
                    height: ROW,
                    transform: `translateY(${item.start}px)`,
                  }}
                >
                  <span role="cell">
                    <button type="button" className="link mono" onClick={() => onSelect(task.id)}>
                      {task.id}
                    </button>
                  </span>
                  <span role="cell">
                    <StatusBadge status={task.status} />
                  </span>
                  <span role="cell" className="mono">
                    {task.exitCode ?? ''}
                  </span>
                  <span role="cell">{task.attempt}</span>
                  <span role="cell">{when(task.startedAt)}</span>
                  <span role="cell">{when(task.endedAt)}</span>
                  <span role="cell">{between(task.startedAt, task.endedAt, now)}</span>
                </div>
              );
            })}
          </div>
        </div>
      </div>
    </div>
  );
}
