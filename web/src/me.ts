import { useQuery } from '@tanstack/react-query';
import { useSyncExternalStore } from 'react';
import { client, signIn } from './api.js';

/**
 * Who the service takes this tab to be (`GET /me`), asked once per sign-in: pages show admins
 * what only admins may use, and the header says who is signed in.
 */
export function useMe() {
  const session = useSyncExternalStore(signIn.subscribe, signIn.session);
  return useQuery({ queryKey: ['me', session], queryFn: () => client.me(), staleTime: Infinity });
}
