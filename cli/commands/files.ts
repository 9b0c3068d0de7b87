import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { UserFile } from '../../client/index.js';
import type { Run } from '../context.js';
import { transferProgress } from '../download.js';
import { UsageError } from '../exit.js';
import { bytes, table } from '../format.js';

/** Your files: put, ls, get, rm. A job takes them as inputs `files://<path>`. */
export function filesCommands(program: Command, run: Run): void {
  const files = program
    .command('files')
    .description('your own files, which jobs take as inputs files://<path>: put, ls, get, rm');

  const put = files
    .command('put')
    .description('upload a file in parallel blocks; run it again to resume one cut short')
    .argument('<local>', 'the file to upload')
    .argument('[remote]', 'its path in your files (a folder if it ends in /); its name by default')
    .option('--block-size <MiB>', 'MiB per block', '8')
    .option('--concurrency <n>', 'blocks sent at once', '8')
    .addHelpText(
      'after',
      '\nExample:\n  cloudjobs files put ./reads.fastq.gz datasets/\n  # then in a job: "inputs": [{ "source": "files://datasets/reads.fastq.gz" }]',
    );
  run(put, async (context, local, remote) => {
    const options = put.opts<{ blockSize: string; concurrency: string }>();
    const blockSize = Number(options.blockSize);
    const concurrency = Number(options.concurrency);
    if (!(blockSize >= 1 && blockSize <= 4000)) throw new UsageError('--block-size must be 1 to 4000 MiB');
    if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 64)) {
      throw new UsageError('--concurrency must be 1 to 64');
    }
    const info = await stat(local).catch(() => undefined);
    if (!info?.isFile()) throw new UsageError(`${local} is not a file`);
    const name = path.basename(local);
    const target = !remote ? name : remote.endsWith('/') ? `${remote}${name}` : remote;
    const progress = transferProgress(context, target);
    let result;
    try {
      result = await context.client.files.upload(local, target, {
        blockSize: Math.round(blockSize * 1024 * 1024),
        concurrency,
        onProgress: (p) => progress.update(p.bytes, p.totalBytes),
      });
    } finally {
      progress.stop();
    }
    context.print(
      result,
      () =>
        `uploaded ${local} to ${result.source} (${bytes(result.size)}, ${result.blocks} blocks` +
        `${result.resumedBlocks > 0 ? `, ${result.resumedBlocks} already there from before` : ''})`,
    );
  });

  run(
    files
      .command('ls')
      .description('your files, in path order')
      .argument('[prefix]', 'only paths beginning with this')
      .addHelpText('after', '\nExample:\n  cloudjobs files ls datasets/'),
    async (context, prefix) => {
      const items: UserFile[] = [];
      for await (const file of context.client.files.listAll(prefix)) items.push(file);
      context.print(items, () =>
        items.length === 0
          ? `no files${prefix ? ` under ${prefix}` : ''}`
          : table(
              ['PATH', 'SIZE', 'MODIFIED'],
              items.map((file) => [file.path, bytes(file.size), file.lastModified]),
            ),
      );
    },
  );

  run(
    files
      .command('get')
      .description('download one of your files; run it again to resume one cut short')
      .argument('<remote>', 'its path in your files')
      .argument('[local]', 'where to write it (a directory keeps its name); its name here by default')
      .addHelpText('after', '\nExample:\n  cloudjobs files get datasets/reads.fastq.gz ./data/'),
    async (context, remote, local) => {
      const name = remote.slice(remote.lastIndexOf('/') + 1);
      let target = local ?? name;
      if ((await stat(target).catch(() => undefined))?.isDirectory()) target = path.join(target, name);
      const progress = transferProgress(context, remote);
      let result;
      try {
        result = await context.client.files.downloadTo(remote, target, {
          onProgress: (p) => progress.update(p.bytes, p.totalBytes),
        });
      } finally {
        progress.stop();
      }
      context.print(result, () => `downloaded ${remote} to ${target} (${bytes(result.size)})`);
    },
  );

  run(
    files
      .command('rm')
      .description('remove one of your files, or every file under a folder ending in /')
      .argument('<remote>', 'its path in your files')
      .addHelpText(
        'after',
        '\nExamples:\n  cloudjobs files rm datasets/old.csv\n  cloudjobs files rm datasets/',
      ),
    async (context, remote) => {
      const result = await context.client.files.remove(remote);
      context.print(result, () => `removed ${result.removed} file${result.removed === 1 ? '' : 's'}`);
    },
  );
}
