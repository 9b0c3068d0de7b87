import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { glob } from 'tinyglobby';
import { z } from 'zod';
import { hostJsonSchema, type HostJson } from './hostConfig.js';

const localSettingsSchema = z.looseObject({
  IsEncrypted: z.boolean().optional(),
  Values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  Host: z.looseObject({ LocalHttpPort: z.number().int().optional() }).optional(),
});

export interface AppDescription {
  directory: string;
  hostJson: HostJson;
  /** Entry point files, from package.json `main` (a path or glob), in load order. */
  entryPoints: string[];
  /** `Values` from local.settings.json, if the file exists. */
  localSettings: Record<string, string>;
}

async function readJson(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function formatZodIssues(file: string, error: z.ZodError): string {
  return (
    `${file} is invalid:\n` +
    error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')
  );
}

/** Reads an app's host.json, package.json `main` and local.settings.json, as the Functions host does. */
export async function describeApp(directory: string): Promise<AppDescription> {
  const dir = path.resolve(directory);
  const hostFile = path.join(dir, 'host.json');
  if (!existsSync(hostFile)) throw new Error(`${dir} is not a function app: it has no host.json.`);
  const parsedHost = hostJsonSchema.safeParse(await readJson(hostFile));
  if (!parsedHost.success) throw new Error(formatZodIssues(hostFile, parsedHost.error));

  const packageFile = path.join(dir, 'package.json');
  const pkg = existsSync(packageFile) ? await readJson(packageFile) : {};
  const main = z.object({ main: z.string().optional() }).parse(pkg).main ?? 'index.js';
  const entryPoints = (await glob(main, { cwd: dir, absolute: true })).sort();
  if (entryPoints.length === 0) {
    throw new Error(`package.json "main" (${main}) matches no file in ${dir}; has the app been built?`);
  }

  const settingsFile = path.join(dir, 'local.settings.json');
  let localSettings: Record<string, string> = {};
  if (existsSync(settingsFile)) {
    const parsed = localSettingsSchema.safeParse(await readJson(settingsFile));
    if (!parsed.success) throw new Error(formatZodIssues(settingsFile, parsed.error));
    localSettings = Object.fromEntries(
      Object.entries(parsed.data.Values ?? {}).map(([k, v]) => [k, String(v)]),
    );
  }
  return { directory: dir, hostJson: parsedHost.data, entryPoints, localSettings };
}

/** Imports every entry point; their `app.*` calls register functions with the runtime. */
export async function importEntryPoints(entryPoints: readonly string[]): Promise<void> {
  for (const file of entryPoints) {
    await import(pathToFileURL(file).href);
  }
}
