import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { connectionString } from '../../infra/local/storage/account.js';
import { startAzurite } from '../../infra/local/storage/azurite.js';
import { Logger } from '../../infra/local/host/logger.js';
import { benchmarks, type Figures } from './benchmarks.js';

const program = new Command()
  .name('bench')
  .description('Runs cloudjobs benchmarks and prints one table (see docs/benchmarks.md).')
  .argument('[ids...]', 'benchmarks to run (default: all)')
  .option('--json <file>', 'also write the figures as JSON, one object per benchmark id')
  .option('--list', 'list the benchmarks and exit');
program.parse();
const ids = program.args;
const options = program.opts<{ json?: string; list?: boolean }>();

if (options.list) {
  for (const b of benchmarks) console.log(`${b.id.padEnd(22)} ${b.description}`);
  process.exit(0);
}
const unknown = ids.filter((id) => !benchmarks.some((b) => b.id === id));
if (unknown.length > 0) {
  console.error(
    `unknown benchmark(s): ${unknown.join(', ')}; known: ${benchmarks.map((b) => b.id).join(', ')}`,
  );
  process.exit(2);
}
const selected = ids.length > 0 ? benchmarks.filter((b) => ids.includes(b.id)) : benchmarks;

const logger = new Logger({ defaultLevel: 'warning' }).child('azurite');
const results: Record<string, Figures> = {};
for (const benchmark of selected) {
  process.stderr.write(`running ${benchmark.id}: ${benchmark.description}\n`);
  const started: Array<() => Promise<void>> = [];
  try {
    results[benchmark.id] = await benchmark.run({
      // Azurite slows as it fills, so each measurement gets a fresh, empty one.
      freshStorage: async () => {
        const azurite = await startAzurite({
          host: '127.0.0.1',
          blobPort: 0,
          queuePort: 0,
          tablePort: 0,
          logger,
        });
        started.push(() => azurite.stop());
        return connectionString(azurite.endpoints);
      },
    });
  } finally {
    for (const stop of started) await stop();
  }
}

const rows = Object.entries(results).map(([id, figures]) => [
  id,
  Object.entries(figures)
    .map(
      ([key, value]) =>
        `${key}=${typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(3) : value}`,
    )
    .join('  '),
]);
const width = Math.max(...rows.map(([id]) => id!.length), 9);
console.log(`${'benchmark'.padEnd(width)}  figures`);
for (const [id, text] of rows) console.log(`${id!.padEnd(width)}  ${text}`);
if (options.json) await writeFile(options.json, JSON.stringify(results, null, 2));
