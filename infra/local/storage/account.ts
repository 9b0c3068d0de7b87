/** Azurite's well-known development account, the one `UseDevelopmentStorage=true` means. */
export const DEV_ACCOUNT_NAME = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Where the storage services answer, each as an account URL (`http://host:port/devstoreaccount1`). */
export interface StorageEndpoints {
  blob: string;
  queue: string;
  table: string;
}

export function accountUrl(host: string, port: number, scheme: 'http' | 'https' = 'http'): string {
  return `${scheme}://${host}:${port}/${DEV_ACCOUNT_NAME}`;
}

/** An explicit connection string for the development account at these endpoints. */
export function connectionString(endpoints: StorageEndpoints): string {
  return (
    [
      'DefaultEndpointsProtocol=http',
      `AccountName=${DEV_ACCOUNT_NAME}`,
      `AccountKey=${DEV_ACCOUNT_KEY}`,
      `BlobEndpoint=${endpoints.blob}`,
      `QueueEndpoint=${endpoints.queue}`,
      `TableEndpoint=${endpoints.table}`,
    ].join(';') + ';'
  );
}

/** True for the connection strings that mean "the local emulator" in Azure tooling. */
export function isDevelopmentStorage(value: string | undefined): boolean {
  return !!value && /^\s*UseDevelopmentStorage\s*=\s*true\s*;?\s*$/i.test(value);
}
