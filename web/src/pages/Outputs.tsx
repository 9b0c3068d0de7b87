import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';

const size = (bytes: number) =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 ** 2
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

/**
 * A job's output files by task. Downloads go through the client, so they carry the tab's token
 * as every other request does (a plain link would not).
 */
export function Outputs({ jobId, final }: { jobId: string; final: boolean }) {
  const outputs = useQuery({
    queryKey: ['job', jobId, 'outputs', final],
    queryFn: () => client.jobs.outputs(jobId),
  });
  const [failed, setFailed] = useState<unknown>();
  if (outputs.isError) return <ErrorPanel error={outputs.error} title="The outputs could not be listed" />;
  if (!outputs.data) return <p className="muted">Loading…</p>;
  if (outputs.data.files.length === 0)
    return <p className="muted">{final ? 'This job kept no output files.' : 'None yet.'}</p>;
  const download = async (path: string) => {
    setFailed(undefined);
    try {
      const response = await client.jobs.output(jobId, path);
      const url = URL.createObjectURL(await response.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = path.split('/').at(-1) ?? 'output';
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      setFailed(error);
    }
  };
  return (
    <div className="outputs">
      {failed !== undefined && <ErrorPanel error={failed} title="The download failed" />}
      <ul>
        {outputs.data.files.map((file) => (
          <li key={file.path}>
            <button type="button" className="link mono" onClick={() => void download(file.path)}>
              {file.path}
            </button>{' '}
            <span className="muted small">{size(file.size)}</span>
          </li>
        ))}
      </ul>
      <p className="muted small">
        {outputs.data.files.length} file(s), {size(outputs.data.bytes)}
        {outputs.data.archived ? '' : ' so far'}
      </p>
    </div>
  );
}
