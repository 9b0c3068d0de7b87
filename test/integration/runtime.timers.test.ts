import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ROOT, RuntimeProcess, uniqueName } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';

const APP = path.join(ROOT, 'test/integration/fixtures/conformance');

interface Tick {
  at: number;
  isPastDue: boolean;
}

describe('embedded runtime: timer triggers', () => {
  const namespace = uniqueName('timer');
  const first = new RuntimeProcess({ app: APP, storage: inject('azurite'), namespace });
  const second = new RuntimeProcess({ app: APP, storage: inject('azurite'), namespace });

  afterAll(async () => {
    await first.dispose();
    await second.dispose();
  });

  it('should run a six-field NCRONTAB schedule every second, on the second', async () => {
    await first.start();
    const ticks = await waitFor(async () => {
      const seen = await first.json<Tick[]>('/api/records/ticks');
      return seen.length >= 3 ? seen : undefined;
    });
    for (const tick of ticks) expect(tick.isPastDue).toBe(false);
    const gaps = ticks.slice(1).map((t, i) => t.at - ticks[i]!.at);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThan(800);
      expect(gap).toBeLessThan(1500);
    }
    // Fires on the second boundary, as NCRONTAB "* * * * * *" means.
    for (const tick of ticks) expect(tick.at % 1000).toBeLessThan(200);
    const startup = await first.json<Tick[]>('/api/records/startup');
    expect(startup).toHaveLength(1);
  });

  it('should run a missed occurrence at start with isPastDue after the app was down', async () => {
    await first.stop();
    const blobs = BlobServiceClient.fromConnectionString(inject('azurite'));
    const status = blobs
      .getContainerClient(`${namespace}-azure-webjobs-hosts`)
      .getBlobClient('timers/cloudjobs-local/everySecond/status');
    const recorded = JSON.parse((await status.downloadToBuffer()).toString()) as { Next: string };
    // Wait for the recorded next occurrence to pass while the app is down.
    await waitFor(() => (Date.now() > Date.parse(recorded.Next) + 100 ? true : undefined), {
      what: 'the schedule to be missed',
    });

    await second.start();
    const ticks = await waitFor(async () => {
      const seen = await second.json<Tick[]>('/api/records/ticks');
      return seen.length >= 2 ? seen : undefined;
    });
    expect(ticks[0]!.isPastDue).toBe(true);
    expect(ticks[1]!.isPastDue).toBe(false);
  });
});
