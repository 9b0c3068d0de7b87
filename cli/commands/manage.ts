import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { CloudJobsClient, type Subscription, type TemplateVersionInput } from '../../client/index.js';
import type { Io, Run } from '../context.js';
import { UsageError } from '../exit.js';
import { table } from '../format.js';
import { resolveTarget, writeProfile } from '../profile.js';
import { completionScript } from '../completion.js';

const subscriptionRow = (s: Subscription) => [
  s.id,
  s.target.kind === 'webhook' ? s.target.url : s.target.address,
  s.events.join(','),
  s.jobId ?? '(all jobs)',
  s.enabled ? 'on' : `off${s.disabledReason ? ` (${s.disabledReason})` : ''}`,
];

async function readDocument(file: string): Promise<unknown> {
  try {
    const source = await readFile(file, 'utf8');
    return file.endsWith('.json') ? JSON.parse(source) : parseYaml(source);
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** Templates, subscriptions and deliveries, pools, the inbox, login and shell completion. */
export function manageCommands(program: Command, run: Run, terminal: Io): void {
  templatesCommands(program, run);
  subscriptionsCommands(program, run);
  deliveriesCommand(program, run);
  poolsCommands(program, run);
  inboxCommand(program, run);
  accountCommands(program, run, terminal);
}

/** Templates: ls, show and put. */
function templatesCommands(program: Command, run: Run): void {
  const templates = program.command('templates').description('job templates: ls, show, put');
  run(templates.command('ls').description('templates you may use'), async (context) => {
    const items = await context.client.templates.list();
    context.print(items, () =>
      items.length === 0
        ? 'no templates'
        : table(
            ['NAME', 'OWNER', 'VERSIONS'],
            items.map((t) => [t.name, t.owner, t.versions.join(', ')]),
          ),
    );
  });
  run(
    templates.command('show').description("a template's versions").argument('<name>'),
    async (context, name) => {
      const template = await context.client.templates.get(name);
      context.print(template, () => JSON.stringify(template, null, 2));
    },
  );
  const put = templates
    .command('put')
    .description('register a template version (immutable) from a JSON or YAML spec of defaults')
    .argument('<name>')
    .argument('<version>')
    .argument('<file>')
    .option('--public', 'every user may use it')
    .option('--description <text>')
    .addHelpText('after', '\nExample:\n  cloudjobs templates put render 1.0 render.yaml --public');
  run(put, async (context, name, version, file) => {
    const options = put.opts<{ public?: boolean; description?: string }>();
    const body: TemplateVersionInput = {
      spec: (await readDocument(file)) as TemplateVersionInput['spec'],
      ...(options.public ? { public: true } : {}),
      ...(options.description ? { description: options.description } : {}),
    };
    const template = await context.client.templates.put(name, version, body);
    context.print(template, () => `template ${template.name} ${template.version} registered`);
  });
}

/** Subscriptions: ls, show, create, enable, disable, delete, rotate-secret, redeliver. */
function subscriptionsCommands(program: Command, run: Run): void {
  const subscriptions = program.command('subscriptions').description('webhook and email subscriptions');
  run(subscriptions.command('ls').description('your subscriptions'), async (context) => {
    const items = await context.client.subscriptions.list();
    context.print(items, () =>
      items.length === 0
        ? 'no subscriptions'
        : table(['ID', 'TARGET', 'EVENTS', 'JOB', 'STATE'], items.map(subscriptionRow)),
    );
  });
  run(subscriptions.command('show').argument('<id>').description('one subscription'), async (context, id) => {
    const item = await context.client.subscriptions.get(id);
    context.print(item, () => table(['ID', 'TARGET', 'EVENTS', 'JOB', 'STATE'], [subscriptionRow(item)]));
  });
  const create = subscriptions
    .command('create')
    .description('subscribe a webhook URL or an email address; prints the signing secret once')
    .option('--url <url>', 'a webhook endpoint')
    .option('--email <address>', 'an email address')
    .option('--events <patterns...>', 'event patterns, e.g. job.* task.status.changed', ['job.*'])
    .option('--job <id>', 'only this job')
    .option('--status <statuses...>', 'only these job statuses')
    .addHelpText(
      'after',
      '\nExample:\n  cloudjobs subscriptions create --url https://example.org/hook --events job.* task.*',
    );
  run(create, async (context) => {
    const options = create.opts<{
      url?: string;
      email?: string;
      events: string[];
      job?: string;
      status?: string[];
    }>();
    if (Boolean(options.url) === Boolean(options.email)) throw new UsageError('give either --url or --email');
    const filters = {
      events: options.events,
      ...(options.job ? { jobId: options.job } : {}),
      ...(options.status ? { statuses: options.status } : {}),
    };
    const created = await context.client.subscriptions.create(
      (options.url ? { url: options.url, ...filters } : { email: options.email!, ...filters }) as Parameters<
        CloudJobsClient['subscriptions']['create']
      >[0],
    );
    context.print(created, () =>
      [
        `subscription ${created.id} created`,
        ...(created.secret ? [`signing secret (shown this once, keep it): ${created.secret}`] : []),
      ].join('\n'),
    );
  });
  for (const [name, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    run(
      subscriptions
        .command(name)
        .argument('<id>')
        .description(`turn a subscription ${enabled ? 'on' : 'off'}`),
      async (context, id) => {
        const item = await context.client.subscriptions.update(id, { enabled });
        context.print(item, () => `subscription ${item.id} ${item.enabled ? 'on' : 'off'}`);
      },
    );
  }
  run(
    subscriptions.command('delete').argument('<id>').description('remove a subscription and its deliveries'),
    async (context, id) => {
      await context.client.subscriptions.delete(id);
      context.print({ id, deleted: true }, () => `subscription ${id} deleted`);
    },
  );
  run(
    subscriptions
      .command('rotate-secret')
      .argument('<id>')
      .description('a new signing secret, shown once; the old one signs for a day'),
    async (context, id) => {
      const rotated = await context.client.subscriptions.rotateSecret(id);
      context.print(rotated, () => `new signing secret (shown this once, keep it): ${rotated.secret}`);
    },
  );
  const redeliver = subscriptions
    .command('redeliver')
    .argument('<id>')
    .argument('[deliveryId]', 'one delivery; all dead-lettered ones when absent')
    .description('try failed deliveries again now');
  run(redeliver, async (context, id, deliveryId) => {
    if (deliveryId) {
      const delivery = await context.client.subscriptions.redeliver(id, deliveryId);
      context.print(delivery, () => `delivery ${delivery.id}: ${delivery.status}`);
      return;
    }
    const result = await context.client.subscriptions.redeliverDeadLetters(id);
    context.print(
      result,
      () =>
        `${result.delivered.length} delivered${result.failed ? `; ${result.failed.id} failed again` : ''}${result.more ? '; more remain' : ''}`,
    );
  });
}

/** Deliveries: a subscription's deliveries with their attempts. */
function deliveriesCommand(program: Command, run: Run): void {
  const deliveries = program
    .command('deliveries')
    .description("a subscription's deliveries, each with its attempts")
    .argument('<subscriptionId>')
    .option('--job <id>', 'only of this job')
    .option('--status <status>', 'pending, retrying, delivered or dead-lettered')
    .option('-l, --limit <n>', 'at most this many', '50');
  run(deliveries, async (context, id) => {
    const options = deliveries.opts<{ job?: string; status?: string; limit: string }>();
    const page = await context.client.subscriptions.deliveries(id, {
      limit: Number(options.limit),
      ...(options.job ? { jobId: options.job } : {}),
      ...(options.status ? { status: options.status as 'pending' } : {}),
    });
    context.print(page, () =>
      page.items.length === 0
        ? 'no deliveries'
        : table(
            ['ID', 'JOB', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST'],
            page.items.map((d) => {
              const last = d.attempts.at(-1);
              return [
                d.id,
                d.jobId,
                d.eventType,
                d.status,
                d.attempts.length,
                last ? `${last.at} ${last.statusCode ?? last.error ?? ''}` : '',
              ];
            }),
          ),
    );
  });
}

/** Pools: ls, create, resize and delete. */
function poolsCommands(program: Command, run: Run): void {
  const pools = program.command('pools').description('compute pools (changes: admins)');
  run(pools.command('ls').description('the pools'), async (context) => {
    const items = await context.client.pools.list();
    // Why a pool could not grow (no capacity, quota) is why jobs on it wait: said under the table.
    const errors = items.flatMap((p) =>
      p.resizeErrors.map((e) => `pool ${p.id} could not resize: ${e.code}: ${e.message}`),
    );
    context.print(items, () =>
      [
        table(
          ['ID', 'VM SIZE', 'STATE', 'NODES', 'TARGET', 'SLOTS/NODE'],
          items.map((p) => [
            p.id,
            p.vmSize,
            `${p.state}/${p.allocationState}`,
            p.dedicatedNodes + p.lowPriorityNodes,
            p.targetDedicatedNodes + p.targetLowPriorityNodes,
            p.slotsPerNode,
          ]),
        ),
        ...errors,
      ].join('\n'),
    );
  });
  run(
    program
      .command('presets')
      .description('resource presets a job or task may name instead of a pool')
      .addHelpText(
        'after',
        '\nExample:\n  cloudjobs presets   # then "preset": "small" in a spec, or on a task',
      ),
    async (context) => {
      const items = await context.client.presets.list();
      context.print(items, () =>
        items.length === 0
          ? 'this deployment has no presets'
          : table(
              ['NAME', 'CPUS', 'MEMORY', 'GPUS', 'NODES', 'POOL', 'SLOTS', 'DESCRIPTION'],
              items.map((p) => [
                p.name,
                p.cpus,
                `${p.memoryGiB} GiB`,
                p.gpus,
                p.spot ? 'spot' : 'dedicated',
                p.pool,
                p.slots,
                p.description,
              ]),
            ),
      );
    },
  );
  const createPool = pools
    .command('create')
    .argument('<id>')
    .requiredOption('--vm-size <size>', 'e.g. standard_d2s_v3')
    .requiredOption('--nodes <n>', 'dedicated nodes')
    .option('--low-priority <n>', 'Spot nodes')
    .option('--slots <n>', 'task slots per node');
  run(createPool, async (context, id) => {
    const o = createPool.opts<{ vmSize: string; nodes: string; lowPriority?: string; slots?: string }>();
    const pool = await context.client.pools.create({
      id: id,
      vmSize: o.vmSize,
      dedicatedNodes: Number(o.nodes),
      ...(o.lowPriority ? { lowPriorityNodes: Number(o.lowPriority) } : {}),
      ...(o.slots ? { slotsPerNode: Number(o.slots) } : {}),
    });
    context.print(pool, () => `pool ${pool.id} created`);
  });
  const resize = pools
    .command('resize')
    .argument('<id>')
    .requiredOption('--nodes <n>')
    .option('--low-priority <n>');
  run(resize, async (context, id) => {
    const o = resize.opts<{ nodes: string; lowPriority?: string }>();
    const pool = await context.client.pools.resize(id, {
      dedicatedNodes: Number(o.nodes),
      ...(o.lowPriority ? { lowPriorityNodes: Number(o.lowPriority) } : {}),
    });
    context.print(pool, () => `pool ${pool.id} resizing to ${pool.targetDedicatedNodes} node(s)`);
  });
  run(pools.command('delete').argument('<id>').description('delete a pool'), async (context, id) => {
    await context.client.pools.delete(id);
    context.print({ id, deleted: true }, () => `pool ${id} deleting`);
  });
}

/** Inbox: upload a manifest into your blob inbox. */
function inboxCommand(program: Command, run: Run): void {
  const inbox = program
    .command('inbox')
    .description('upload a job manifest into your blob inbox; the job starts when it lands')
    .argument('<file>', 'a .json, .yaml or .yml manifest')
    .addHelpText('after', '\nExample:\n  cloudjobs inbox examples/sweep.yaml && cloudjobs ls --name sweep');
  run(inbox, async (context, file) => {
    let content: string;
    try {
      content = await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
    }
    const target = await context.client.inbox.upload(content, path.basename(file));
    context.print(
      { container: target.container, blobName: target.blobName },
      () => `uploaded to ${target.container}/${target.blobName}`,
    );
  });
}

/** Login and shell completion. */
function accountCommands(program: Command, run: Run, terminal: Io): void {
  const login = program
    .command('login')
    .description('keep a URL and token in your config directory for the next commands')
    .addHelpText(
      'after',
      '\nExample:\n  echo "$TOKEN" | cloudjobs login --url https://cloudjobs.example.org',
    );
  run(login, async (context) => {
    const options = login.optsWithGlobals<{ url?: string; token?: string }>();
    const target = await resolveTarget(options);
    const token =
      options.token ?? (process.stdin.isTTY ? undefined : (await text(terminal.in)).trim()) ?? target.token;
    const client = new CloudJobsClient({ url: target.url, ...(token ? { token } : {}) });
    // A token that does not work is not kept.
    const caller = await client.me();
    const file = await writeProfile({ url: target.url, ...(token ? { token } : {}) });
    context.print(
      { url: target.url, profile: file, owner: caller.owner, admin: caller.admin },
      () =>
        `logged in to ${target.url} as ${caller.owner}${caller.admin ? ' (admin)' : ''} (kept in ${file})`,
    );
  });

  run(program.command('whoami').description('who the service takes you to be'), async (context) => {
    const caller = await context.client.me();
    context.print(caller, () => `${caller.owner}${caller.admin ? ' (admin)' : ''} at ${context.client.url}`);
  });

  const completion = program
    .command('completion')
    .description('a shell completion script: eval "$(cloudjobs completion bash)"')
    .argument('<shell>', 'bash or zsh');
  completion.action((shell: string) => {
    if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`no completion for ${shell}: bash or zsh`);
    terminal.out.write(completionScript(program, shell));
  });
}
