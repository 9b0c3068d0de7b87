import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import type { UserFile } from '../../../client/index.js';
import { client } from '../api.js';
import { ErrorPanel } from '../components/bits.js';
import { save, size, uploadFile } from '../files.js';
import { when } from '../format.js';

/**
 * The user's own files: data their jobs take as inputs (`files://<path>`). Uploads go straight to
 * storage in blocks; the list pages through the service; each file downloads or goes.
 */
export function FilesPage() {
  const [prefix, setPrefix] = useState('');
  const queries = useQueryClient();
  const files = useInfiniteQuery({
    queryKey: ['files', prefix],
    queryFn: ({ pageParam }) =>
      client.files.list({
        ...(prefix ? { prefix } : {}),
        limit: 200,
        ...(pageParam ? { continuation: pageParam } : {}),
      }),
    initialPageParam: '',
    getNextPageParam: (page) => page.continuation,
  });
  const items = files.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <section aria-labelledby="files-title">
      <h1 id="files-title">Your files</h1>
      <p className="muted small">
        Data for your jobs: a job takes a file as an input <code>{'{"source": "files://<path>"}'}</code>, or a
        folder ending in <code>/</code>. Only you can see or use them.
      </p>
      <Upload onDone={() => void queries.invalidateQueries({ queryKey: ['files'] })} />
      <div className="filters">
        <label>
          Path begins with
          <input type="search" value={prefix} onChange={(event) => setPrefix(event.target.value)} />
        </label>
      </div>
      {files.isError && <ErrorPanel error={files.error} title="Your files could not be listed" />}
      {files.isSuccess && items.length === 0 && (
        <p className="muted">No files{prefix ? ` under ${prefix}` : ''}.</p>
      )}
      {items.length > 0 && (
        <div className="table-wrap">
          <table className="jobs">
            <thead>
              <tr>
                <th scope="col">Path</th>
                <th scope="col">Size</th>
                <th scope="col">Modified</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((file) => (
                <FileRow key={file.path} file={file} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {files.hasNextPage && (
        <button type="button" onClick={() => void files.fetchNextPage()} disabled={files.isFetchingNextPage}>
          More
        </button>
      )}
    </section>
  );
}

function FileRow({ file }: { file: UserFile }) {
  const queries = useQueryClient();
  const download = useMutation({
    mutationFn: async () => {
      const response = await client.files.download(file.path);
      save(await response.blob(), file.path.split('/').at(-1) ?? 'file');
    },
  });
  const remove = useMutation({
    mutationFn: () => client.files.remove(file.path),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ['files'] }),
  });
  return (
    <tr data-file={file.path}>
      <td className="mono">{file.path}</td>
      <td>{size(file.size)}</td>
      <td>{when(file.lastModified)}</td>
      <td>
        <button
          type="button"
          className="link"
          onClick={() => download.mutate()}
          disabled={download.isPending}
        >
          Download<span className="visually-hidden"> {file.path}</span>
        </button>{' '}
        <button
          type="button"
          className="link danger"
          disabled={remove.isPending}
          onClick={() => {
            if (window.confirm(`Delete ${file.path}? Jobs that still read it will fail.`)) remove.mutate();
          }}
        >
          Delete<span className="visually-hidden"> {file.path}</span>
        </button>
        {(download.isError || remove.isError) && (
          <ErrorPanel error={download.error ?? remove.error} title={`${file.path} could not be changed`} />
        )}
      </td>
    </tr>
  );
}

function Upload({ onDone }: { onDone: () => void }) {
  const [folder, setFolder] = useState('');
  const [picked, setPicked] = useState<File[]>([]);
  const [sent, setSent] = useState<Record<string, number>>({});
  const upload = useMutation({
    mutationFn: async () => {
      const base = folder && !folder.endsWith('/') ? `${folder}/` : folder;
      for (const file of picked) {
        await uploadFile(file, `${base}${file.name}`, (bytes) =>
          setSent((old) => ({ ...old, [file.name]: bytes })),
        );
      }
    },
    onSuccess: () => {
      setPicked([]);
      setSent({});
      onDone();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (picked.length > 0) upload.mutate();
  };
  const total = picked.reduce((n, f) => n + f.size, 0);
  const done = Object.values(sent).reduce((n, b) => n + b, 0);
  return (
    <form className="panel" onSubmit={submit} aria-label="Upload files">
      <label>
        Folder
        <input value={folder} placeholder="datasets/" onChange={(event) => setFolder(event.target.value)} />
      </label>
      <label>
        Files to upload
        <input type="file" multiple onChange={(event) => setPicked([...(event.target.files ?? [])])} />
      </label>
      <button type="submit" disabled={picked.length === 0 || upload.isPending}>
        Upload
      </button>
      {upload.isPending && (
        <progress aria-label="Upload progress" max={Math.max(1, total)} value={done}>
          {size(done)} of {size(total)}
        </progress>
      )}
      {upload.isError && <ErrorPanel error={upload.error} title="The upload failed" />}
    </form>
  );
}
