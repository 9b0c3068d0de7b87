import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** What `cloudjobs login` keeps: where the service is and the token to use there. */
export interface Profile {
  url?: string;
  token?: string;
}

/** The user's config directory for cloudjobs: `$XDG_CONFIG_HOME/cloudjobs`, `%APPDATA%\cloudjobs` on Windows. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLOUDJOBS_CONFIG_DIR) return env.CLOUDJOBS_CONFIG_DIR;
  if (process.platform === 'win32' && env.APPDATA) return path.join(env.APPDATA, 'cloudjobs');
  return path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'cloudjobs');
}

const profileFile = (env?: NodeJS.ProcessEnv) => path.join(configDir(env), 'profile.json');

export async function readProfile(env?: NodeJS.ProcessEnv): Promise<Profile> {
  try {
    return JSON.parse(await readFile(profileFile(env), 'utf8')) as Profile;
  } catch {
    return {};
  }
}

/** Saves the profile readable by the user alone: it holds a token. */
export async function writeProfile(profile: Profile, env?: NodeJS.ProcessEnv): Promise<string> {
  const file = profileFile(env);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

/** The service and token to use: the flag, else the environment, else the profile, else local. */
export async function resolveTarget(flags: {
  url?: string;
  token?: string;
}): Promise<Profile & { url: string }> {
  const profile = await readProfile();
  const url = flags.url ?? process.env.CLOUDJOBS_URL ?? profile.url ?? 'http://127.0.0.1:7071';
  const token =
    flags.token ??
    process.env.CLOUDJOBS_TOKEN ??
    // A saved token belongs to the service it was saved for.
    (profile.url === undefined || profile.url === url ? profile.token : undefined);
  return { url, ...(token ? { token } : {}) };
}
