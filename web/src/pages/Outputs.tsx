import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import type { OutputFile } from '../../../client/index.js';
import { client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';
import { save, size } from '../files.js';

/**
 * The job's outputs (or one task's) as one zip, made by the service as it streams (entries at
 * `<task>/<path>`, as listed); `progress` is told the bytes so far.
 */
async function zipOf(
  jobId: string,
  task: string | undefined,
  progress: (bytes: number) => void,
): Promise<Blob> {
  const response = await client.jobs.outputsZip(jobId, task ? { task } : {});
  const reader = response.body!.getReader();
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    progress((bytes += value.length));
  }
  return new Blob(parts, { type: 'application/zip' });
}

/**
 * A job's output files as a tree, a folder per task. Downloads go through the client, so they
 * carry the tab's token as every other request does (a plain link would not); "all" is one zip.
 */
export function Outputs({ jobId, final }: { jobId: string; final: boolean }) {
  const outputs = useQuery({
    queryKey: ['job', jobId, 'outputs', final],
    queryFn: () => client.jobs.outputs(jobId),
  });
  const [failed, setFailed] = useState<unknown>();
  const [zipping, setZipping] = useState<number | undefined>();
  if (outputs.isError) return <ErrorPanel error={outputs.error} title="The outputs could not be listed" />;
  if (!outputs.data) return <p className="muted">Loading…</p>;
  const files = outputs.data.files;
  if (files.length === 0)
    return <p className="muted">{final ? 'This job kept no output files.' : 'None yet.'}</p>;
  const byTask = new Map<string, OutputFile[]>();
  for (const file of files) byTask.set(file.taskId, [...(byTask.get(file.taskId) ?? []), file]);
  const one = async (file: OutputFile) => {
    setFailed(undefined);
    try {
      const response = await client.jobs.output(jobId, file.path);
      save(await response.blob(), file.path.split('/').at(-1) ?? 'output');
    } catch (error) {
      setFailed(error);
    }
  };
  const zip = async (task?: string) => {
    setFailed(undefined);
    setZipping(0);
    try {
      save(await zipOf(jobId, task, setZipping), `${jobId}-${task ?? 'outputs'}.zip`);
    } catch (error) {
      setFailed(error);
    } finally {
      setZipping(undefined);
    }
  };
  return (
    <div className="outputs">
      {failed !== undefined && <ErrorPanel error={failed} title="The download failed" />}
      <div className="row">
        <button type="button" onClick={() => void zip()} disabled={zipping !== undefined}>
          {zipping === undefined ? 'Download all (.zip)' : `Fetching… ${size(zipping)}`}
        </button>
        <span className="muted small">
          {files.length} file(s), {size(outputs.data.bytes)}
          {outputs.data.archived ? '' : ' so far'}
        </span>
      </div>
      <ul className="tree">
        {[...byTask].map(([taskId, taskFiles]) => (
          <li key={taskId}>
            <details open={byTask.size <= 10}>
              <summary className="mono">
                {taskId}/{' '}
                <button
                  type="button"
                  className="link small"
                  aria-label={`Download ${taskId} (.zip)`}
                  onClick={() => void zip(taskId)}
                  disabled={zipping !== undefined}
                >
                  .zip
                </button>
              </summary>
              <ul>
                {taskFiles.map((file) => (
                  <li key={file.path}>
                    <button type="button" className="link mono" onClick={() => void one(file)}>
                      {file.path.slice(taskId.length + 1)}
                    </button>{' '}
                    <span className="muted small">{size(file.size)}</span>
                  </li>
                ))}
              </ul>
            </details>
          </li>
        ))}
      </ul>
    </div>
  );
}
