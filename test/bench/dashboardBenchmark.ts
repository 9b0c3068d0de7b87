import { chromium } from 'playwright-core';
import { chromiumPath } from '../support/browser.js';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';
import type { Benchmark } from './benchmarks.js';

const TASKS = Number(process.env.CLOUDJOBS_BENCH_RENDER_TASKS ?? 10_000);
const RUNS = 5;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * `dashboard-render`: a job page of a 10,000-task job in a real Chromium, from navigation to its
 * first task rows on screen, and to every task read into the table. The comparator is what the
 * page cannot do without, measured in the same run: the API's answer to the first page of tasks
 * the page asks for (100), and to all of them 1,000 a page, fetched straight from Node. Medians of five loads, once
 * the job runs (its submission to Batch, the runtime's busiest time, over).
 */
export const dashboardBenchmark: Benchmark = {
  id: 'dashboard-render',
  description: `the job page of a ${TASKS.toLocaleString('en')}-task job: first rows and all rows, in Chromium`,
  async run({ freshStorage }) {
    const runtime = new RuntimeProcess({
      app: ROOT,
      storage: await freshStorage(),
      env: { CLOUDJOBS_LOG_LEVEL: 'warning' },
    });
    await runtime.start();
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    try {
      // Long tasks: a few run, the rest queue, and the job stays as it is while it is measured.
      const job = await runtime.json<{ id: string }>('/api/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'render', sweep: { command: 'sleep 600', range: [1, TASKS] } }),
      });
      // Measured once the job is submitted to Batch: the runtime's busiest time is over by then.
      const deadline = Date.now() + 600_000;
      for (;;) {
        const { status } = await runtime.json<{ status: string }>(`/api/jobs/${job.id}`);
        if (status === 'RUNNING') break;
        if (Date.now() > deadline) throw new Error(`the job is ${status} after ten minutes, not RUNNING`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const firstPage: number[] = [];
      const allPages: number[] = [];
      const firstRows: number[] = [];
      const allRows: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        let start = performance.now();
        await runtime.json(`/api/jobs/${job.id}/tasks?limit=100`);
        firstPage.push(performance.now() - start);
        start = performance.now();
        let continuation: string | undefined;
        do {
          const page: { continuation?: string } = await runtime.json(
            `/api/jobs/${job.id}/tasks?limit=1000${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`,
          );
          continuation = page.continuation;
        } while (continuation);
        allPages.push(performance.now() - start);

        const context = await browser.newContext({
          baseURL: runtime.url,
          viewport: { width: 1280, height: 900 },
        });
        const page = await context.newPage();
        start = performance.now();
        await page.goto(`/jobs/${job.id}`, { waitUntil: 'commit' });
        await page.locator('[data-task]').first().waitFor({ timeout: 60_000 });
        firstRows.push(performance.now() - start);
        await page.getByText(`${TASKS} shown`, { exact: true }).waitFor({ timeout: 120_000 });
        allRows.push(performance.now() - start);
        await context.close();
      }
      await runtime.fetch(`/api/jobs/${job.id}/cancel`, { method: 'POST' });
      return {
        tasks: TASKS,
        firstRowsMs: median(firstRows),
        apiFirstPageMs: median(firstPage),
        firstRowsOverApiFirstPage: median(firstRows) / median(firstPage),
        allRowsMs: median(allRows),
        apiAllPagesMs: median(allPages),
        allRowsOverApiAllPages: median(allRows) / median(allPages),
      };
    } finally {
      await browser.close();
      await runtime.dispose();
    }
  },
};
