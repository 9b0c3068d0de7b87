import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../../shared/http/openapi.js';

/** The project's docs stay true: the API table is the OpenAPI document's, and links lead somewhere. */
const root = path.resolve(import.meta.dirname, '../../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

describe('docs/api.md', () => {
  it('should list exactly the endpoints the OpenAPI document has, method by method', () => {
    const documented = [...read('docs/api.md').matchAll(/^\| `([A-Z]+)`\s*\| `([^`]+)`/gm)]
      .map(([, method, route]) => `${method} ${route}`)
      .sort();
    const paths = (openApiDocument() as { paths: Record<string, Record<string, unknown>> }).paths;
    const implemented = Object.entries(paths)
      .flatMap(([route, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${route}`),
      )
      .sort();
    expect(documented).toEqual(implemented);
  });
});

describe('links in the README and docs/', () => {
  const files = [
    'README.md',
    ...readdirSync(path.join(root, 'docs')).map((f) => `docs/${f}`),
    'CONTRIBUTING.md',
  ].filter((f) => f.endsWith('.md') && existsSync(path.join(root, f)));

  it.each(files)('should only link to files in the repository that exist, from %s', (file) => {
    const links = [...read(file).matchAll(/\]\(([^)\s]+)\)/g)].map(([, target]) => target!);
    for (const target of links) {
      if (/^(https?:|mailto:)/.test(target)) continue;
      const local = target.split('#')[0]!;
      if (!local) continue;
      const resolved = path.resolve(path.dirname(path.join(root, file)), local);
      expect(
        resolved.startsWith(root + path.sep) || resolved === root,
        `${file} links outside the repository: ${target}`,
      ).toBe(true);
      expect(existsSync(resolved), `${file} links to a missing ${target}`).toBe(true);
    }
  });

  it('should not send the README outside the repository for the contract or the design', () => {
    expect(read('README.md')).not.toMatch(/\.\.\/shared\//);
  });
});
