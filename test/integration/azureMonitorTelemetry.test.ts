import { createServer, type Server } from 'node:https';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureMonitorTelemetry } from '../../shared/adapters/azureMonitorTelemetry.js';
import { METRICS } from '../../shared/telemetry.js';

interface Envelope {
  name: string;
  iKey?: string;
  tags?: Record<string, string>;
  data: { baseType: string; baseData: Record<string, unknown> };
}

/**
 * The Azure Monitor adapter against a stand-in for Application Insights' ingestion endpoint:
 * what it sends is what the ingestion API receives, envelopes and all, so the test reads the
 * customDimensions and customMetrics the portal would show.
 */
describe('telemetry to Application Insights', () => {
  let server: Server;
  let endpoint: string;
  const envelopes: Envelope[] = [];
  const authorizations: string[] = [];
  const rejectUnauthorized = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  const credential: TokenCredential = {
    getToken: (): Promise<AccessToken> =>
      Promise.resolve({ token: 'entra-token-for-monitor', expiresOnTimestamp: Date.now() + 3_600_000 }),
  };

  beforeAll(async () => {
    // Bearer tokens are only ever sent over https, so the stand-in serves https.
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    server = createServer({ key: pems.private, cert: pems.cert }, (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        let body = Buffer.concat(chunks);
        if (request.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        authorizations.push(String(request.headers.authorization));
        const received = JSON.parse(body.toString()) as Envelope[];
        envelopes.push(...received);
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ itemsReceived: received.length, itemsAccepted: received.length, errors: [] }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (rejectUnauthorized === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = rejectUnauthorized;
  });

  it('should send job log lines with jobId and taskId in customDimensions, and the metrics, signed in with Entra', async () => {
    const telemetry = new AzureMonitorTelemetry({
      connectionString: `InstrumentationKey=7f1b8a7e-0000-4000-8000-0000000c10d5;IngestionEndpoint=${endpoint}`,
      credential,
      serviceName: 'func-cloudjobs',
      metricIntervalMs: 60_000,
    });
    telemetry.log('information', 'RUNNING → ARCHIVING: every task ended', {
      jobId: 'job-1',
      owner: 'alice',
      status: 'ARCHIVING',
    });
    telemetry.log('warning', 'task failed with exit code 3', { jobId: 'job-1', taskId: 'work', exitCode: 3 });
    telemetry.metric(METRICS.jobsSubmitted, 1, { via: 'token' });
    telemetry.metric(METRICS.jobsSubmitted, 1, { via: 'token' });
    telemetry.metric(METRICS.oldestStateAgeSeconds, 42);
    telemetry.metric(METRICS.oldestStateAgeSeconds, 7);
    await telemetry.flush();
    await telemetry.shutdown();

    const traces = envelopes
      .filter((e) => e.data.baseType === 'MessageData')
      .map((e) => ({ ...e.data.baseData, role: e.tags?.['ai.cloud.role'] }));
    expect(traces).toMatchObject([
      {
        message: 'RUNNING → ARCHIVING: every task ended',
        severityLevel: 'Information',
        properties: { jobId: 'job-1', owner: 'alice', status: 'ARCHIVING' },
        role: 'func-cloudjobs',
      },
      { severityLevel: 'Warning', properties: { jobId: 'job-1', taskId: 'work', exitCode: '3' } },
    ]);

    const metrics = envelopes
      .filter((e) => e.data.baseType === 'MetricData')
      .flatMap((e) =>
        (e.data.baseData.metrics as Array<{ name: string; value: number; max?: number }>).map((m) => ({
          ...m,
          properties: e.data.baseData.properties,
        })),
      );
    expect(metrics).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: METRICS.jobsSubmitted, value: 2, properties: { via: 'token' } }),
        expect.objectContaining({ name: METRICS.oldestStateAgeSeconds, max: 42 }),
      ]),
    );
    expect(new Set(authorizations)).toEqual(new Set(['Bearer entra-token-for-monitor']));
  });
});
