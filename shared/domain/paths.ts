import picomatch from 'picomatch';

/**
 * Why a path a user gave (an input target, an output pattern, a log folder) may not be used, or
 * `undefined` when it is a safe relative path. Paths end up joined to a task's working directory
 * and to blob names, so anything that could climb out of them or be read as absolute is refused.
 */
export function relativePathProblem(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > 1024) return 'must be at most 1024 characters';
  if (value.includes('\0')) return 'must not contain NUL characters';
  if (value.includes('\\')) return 'must use / as separator, not \\';
  if (value.startsWith('/') || /^[A-Za-z]:/.test(value)) return 'must be relative, not absolute';
  if (value.startsWith('~')) return 'must be relative to the task working directory, not to a home';
  if (/(?:^|\/)\.\.(?:\/|$)/.test(value))
    return 'must not contain ".." (it would leave the working directory)';
  return undefined;
}

/** Like {@link relativePathProblem}, for glob patterns (`**`, `*`, `?`, `[...]`, `{a,b}`). */
export function patternProblem(value: string): string | undefined {
  return relativePathProblem(value) ?? globSyntaxProblem(value);
}

/** Whether a glob compiles; separate from the path rules because compiling is the costly part. */
export function globSyntaxProblem(value: string): string | undefined {
  try {
    picomatch.makeRe(value);
  } catch {
    return 'is not a valid glob pattern';
  }
  return undefined;
}

/** Whether a relative path is matched by any of the glob patterns, as output files are collected. */
export function matchesAnyPattern(file: string, patterns: readonly string[]): boolean {
  return patterns.length > 0 && picomatch(patterns as string[], { dot: true })(file);
}

/** A blob an input comes from: `blob://<container>/<path>`. */
export interface BlobSource {
  kind: 'blob';
  container: string;
  /** Blob name, or a prefix ending in `/` for everything below it; empty for the whole container. */
  path: string;
}

/** A file an input comes from over HTTPS. */
export interface HttpsSource {
  kind: 'https';
  url: string;
}

/** One of the job owner's own files (`files://<path>`, under their folder of the uploads container). */
export interface FilesSource {
  kind: 'files';
  /** Path in the owner's files, or a folder ending in `/`. */
  path: string;
}

export type InputSource = BlobSource | HttpsSource | FilesSource;

const CONTAINER = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$/;

/**
 * Parses an input source, or says why it cannot be one. Only `blob://` (the job's storage account)
 * and `https://` are accepted: a plain `http://` source would be fetched by every task unencrypted.
 */
export function parseInputSource(value: string): InputSource | { problem: string } {
  if (value.startsWith('blob://')) {
    const rest = value.slice('blob://'.length);
    const slash = rest.indexOf('/');
    const container = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? '' : rest.slice(slash + 1);
    if (!CONTAINER.test(container)) {
      return {
        problem: `names container "${container}", which is not a valid container name (3-63 lowercase letters, digits and single hyphens)`,
      };
    }
    if (path !== '') {
      const problem = relativePathProblem(path.endsWith('/') ? path.slice(0, -1) || 'x' : path);
      if (problem) return { problem: `blob path ${problem}` };
    }
    return { kind: 'blob', container, path };
  }
  if (value.startsWith('files://')) {
    const path = value.slice('files://'.length);
    const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
    const problem =
      relativePathProblem(trimmed) ??
      (trimmed.split('/').some((segment) => segment === '' || segment === '.')
        ? 'must not have empty or "." segments'
        : undefined);
    if (problem) return { problem: `files path ${problem}` };
    return { kind: 'files', path };
  }
  if (value.startsWith('https://')) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return { problem: 'is not a valid URL' };
    }
    if (url.username || url.password) return { problem: 'must not carry credentials in the URL' };
    return { kind: 'https', url: url.toString() };
  }
  return { problem: 'must start with files://<path> (your files), blob://<container>/ or https://' };
}

/** Whether a name is a valid blob container name. */
export function isContainerName(value: string): boolean {
  return CONTAINER.test(value);
}

/** The default target of an input: the last segment of where it comes from. */
export function defaultTarget(source: InputSource): string {
  if (source.kind === 'blob') {
    const trimmed = source.path.replace(/\/+$/, '');
    return trimmed === '' ? source.container : trimmed.slice(trimmed.lastIndexOf('/') + 1);
  }
  if (source.kind === 'files') {
    const trimmed = source.path.replace(/\/+$/, '');
    return trimmed.slice(trimmed.lastIndexOf('/') + 1);
  }
  const pathname = new URL(source.url).pathname.replace(/\/+$/, '');
  const raw = pathname.slice(pathname.lastIndexOf('/') + 1);
  let last: string;
  try {
    last = decodeURIComponent(raw);
  } catch {
    last = raw;
  }
  // The caller checks the result like any target: a decoded segment may spell "..".
  return last === '' ? new URL(source.url).hostname : last;
}
