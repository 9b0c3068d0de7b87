import { CloudJobsClient, CloudJobsError, CloudJobsUnreachableError } from '../../client/index.js';

const TOKEN_KEY = 'cloudjobs.token';

/**
 * The API token, when the service asks for one: kept in session storage, so it goes with the tab
 * and is never written to disk. Single-user mode and Static Web Apps sign-in need none.
 */
export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string): void => sessionStorage.setItem(TOKEN_KEY, value.trim()),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

type Listener = () => void;
const listeners = new Set<Listener>();
let signInAsked = false;
let session = 0;

/**
 * Whether the service has asked this tab to sign in (an answer was 401). Pages read it with
 * `useSyncExternalStore`; the client raises it when the token it sent is refused.
 */
export const signIn = {
  subscribe: (listener: Listener): (() => void) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  asked: (): boolean => signInAsked,
  /** Counts sign-ins: what a page started before one (streams, reads) starts again after it. */
  session: (): number => session,
  set: (value: boolean): void => {
    if (signInAsked === value) return;
    signInAsked = value;
    if (!value) session++;
    for (const listener of listeners) listener();
  },
};

/**
 * Whether sign-in is the platform's: behind Azure Static Web Apps, `/.auth/me` answers who is
 * signed in (as JSON, even for no one); the embedded runtime has no such path.
 */
export async function platformSignIn(): Promise<boolean> {
  try {
    const response = await fetch('/.auth/me', { headers: { accept: 'application/json' } });
    return response.ok && (response.headers.get('content-type') ?? '').includes('json');
  } catch {
    return false;
  }
}

/** The typed client, on the origin that served the dashboard (the API is at `/api` beside it). */
export const client = new CloudJobsClient({
  url: window.location.origin,
  retries: 2,
  fetch: async (input, init) => {
    const send = (bearer: string | null) => {
      const headers = new Headers(init?.headers);
      if (bearer) headers.set('authorization', `Bearer ${bearer}`);
      return fetch(input, { ...init, headers });
    };
    const used = token.get();
    const response = await send(used);
    if (response.status !== 401) return response;
    const now = token.get();
    // Only a refusal of the token the tab holds now asks to sign in. A request sent before the
    // last sign-in (a page that started reading while the form was up) goes again with the new
    // token: refused, it was not acted on, and its answer says nothing of the new token.
    if (now === used) signIn.set(true);
    else if (now && !(init?.body instanceof ReadableStream)) return send(now);
    return response;
  },
});

/** Whether an error means "sign in": the service wants a token the tab does not have (or has wrong). */
export const needsSignIn = (error: unknown): boolean =>
  error instanceof CloudJobsError && error.status === 401;

/** One line for a failure, as the problem document words it. */
export function describe(error: unknown): string {
  if (error instanceof CloudJobsError) return `${error.problem.title}: ${error.message} (${error.code})`;
  if (error instanceof CloudJobsUnreachableError) return 'The service cannot be reached. Is it running?';
  return error instanceof Error ? error.message : String(error);
}

export { CloudJobsError };
