import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DASHBOARD_SERVICE } from '../../support/driftDashboard.js';

/**
 * azure.yaml and main.parameters.json, checked offline as azd would read them. The schema below
 * restates the rules of azd's azure.yaml schema (v1.0) that this project's file touches; azd itself
 * cannot run here.
 */

const root = path.resolve(import.meta.dirname, '../../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

const HOOK_FIELDS = [
  'shell',
  'run',
  'continueOnError',
  'interactive',
  'dir',
  'kind',
  'secrets',
  'config',
] as const;
const hookCommand = z.strictObject({
  shell: z.enum(['sh', 'pwsh']).optional(),
  kind: z.enum(['sh', 'pwsh', 'js', 'ts', 'python', 'dotnet']).optional(),
  run: z.string().min(1).optional(),
  dir: z.string().optional(),
  continueOnError: z.boolean().optional(),
  interactive: z.boolean().optional(),
  secrets: z.record(z.string(), z.string()).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
});
const hook = hookCommand
  .extend({ windows: hookCommand.optional(), posix: hookCommand.optional() })
  .superRefine((value, context) => {
    const perPlatform = value.windows !== undefined && value.posix !== undefined;
    const shared = HOOK_FIELDS.filter((field) => value[field] !== undefined);
    if (perPlatform && shared.length > 0)
      context.addIssue({
        code: 'custom',
        message: `with windows and posix, ${shared.join(', ')} may not be set too`,
      });
    if (!perPlatform && shared.length > 0 && value.run === undefined)
      context.addIssue({ code: 'custom', message: 'run is required' });
  });
const hooks = (names: readonly string[]) =>
  z.partialRecord(z.enum(names as [string, ...string[]]), z.union([hook, z.array(hook)]));
const PROJECT_HOOKS = [
  'provision',
  'infracreate',
  'infradelete',
  'down',
  'up',
  'package',
  'publish',
  'deploy',
  'restore',
].flatMap((name) => [`pre${name}`, `post${name}`]);
const SERVICE_HOOKS = ['deploy', 'restore', 'build', 'package', 'publish'].flatMap((name) => [
  `pre${name}`,
  `post${name}`,
]);

const service = z
  .looseObject({
    host: z.string().min(1),
    project: z.string().optional(),
    image: z.string().optional(),
    language: z.string().optional(),
    remoteBuild: z.boolean().optional(),
    dist: z.string().optional(),
    condition: z.union([z.string(), z.boolean()]).optional(),
    hooks: hooks(SERVICE_HOOKS).optional(),
  })
  .superRefine((value, context) => {
    if (value.host === 'function' && (value.project === undefined) === (value.image === undefined))
      context.addIssue({
        code: 'custom',
        message: 'a function service takes exactly one of project and image',
      });
    if (value.host === 'staticwebapp' && (value.dist === undefined || /^\.?\/?$/.test(value.dist)))
      context.addIssue({
        code: 'custom',
        message: 'a static web app service needs a dist folder other than its project root',
      });
    if (value.remoteBuild !== undefined && value.host !== 'function')
      context.addIssue({ code: 'custom', message: 'remoteBuild is for function services only' });
  });

const azureYaml = z.looseObject({
  name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/)
    .min(2),
  metadata: z
    .looseObject({
      template: z
        .string()
        .regex(/^[^@]+@[^@]+$/)
        .optional(),
    })
    .optional(),
  infra: z
    .looseObject({
      provider: z.string().optional(),
      path: z.string().optional(),
      module: z.string().optional(),
    })
    .optional(),
  services: z.record(z.string(), service).refine((services) => Object.keys(services).length > 0),
  hooks: hooks(PROJECT_HOOKS).optional(),
});

describe('azure.yaml and the deployment parameters', () => {
  const config = azureYaml.parse(parse(read('azure.yaml')));

  it('should point azd at infra/azure, where main.bicep, main.json and main.parameters.json are', () => {
    const infra = path.join(config.infra?.path ?? 'infra', config.infra?.module ?? 'main');
    for (const file of [`${infra}.bicep`, `${infra}.json`, `${infra}.parameters.json`])
      expect(existsSync(path.join(root, file)), file).toBe(true);
  });

  it('should deploy the app as a Flex Consumption function that builds with npm run build', () => {
    const api = config.services.api!;
    expect(api).toMatchObject({ host: 'function', language: 'ts', project: '.' });
    const pkg = JSON.parse(read(path.join(api.project!, 'package.json'))) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.build).toBeTruthy();
    // A remote build installs the packages itself: they must stay out of the uploaded package.
    if (api.remoteBuild) expect(read('.funcignore').split('\n')).toContain('node_modules');
  });

  it('should deploy the dashboard from where Vite builds it, only when the deployment has one', () => {
    const web = config.services[DASHBOARD_SERVICE]!;
    expect(web).toMatchObject({ host: 'staticwebapp', project: '.', dist: 'dist/web' });
    expect(read('web/vite.config.ts')).toContain("new URL('../dist/web', import.meta.url)");
    // The same variable turns the site on in the templates and its deployment in azd.
    const parameters = JSON.parse(read('infra/azure/main.parameters.json')) as {
      parameters: Record<string, { value: string }>;
    };
    const variable = /^\$\{([A-Z_]+)=false\}$/.exec(parameters.parameters.dashboard!.value)?.[1];
    expect(variable).toBeDefined();
    expect(web.condition).toBe(`\${${variable}}`);
  });

  it('should name hook scripts that exist', () => {
    const runs = Object.values(config.hooks ?? {})
      .flatMap((value) => (Array.isArray(value) ? value : value ? [value] : []))
      .flatMap((value) => [value, value.posix, value.windows])
      .map((value) => value?.run)
      .filter((run): run is string => run !== undefined);
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) expect(existsSync(path.join(root, run)), run).toBe(true);
  });

  it('should refuse what azd would: a hook with both platforms and a shared run, a service without a host', () => {
    expect(() =>
      azureYaml.parse({
        name: 'x1',
        services: { api: { host: 'function', project: '.' } },
        hooks: { postdeploy: { run: 'a.sh', posix: { run: 'a.sh' }, windows: { run: 'a.ps1' } } },
      }),
    ).toThrow(/may not be set too/);
    expect(() => azureYaml.parse({ name: 'x1', services: { api: { project: '.' } } })).toThrow();
    expect(() => azureYaml.parse({ name: 'x1', services: { api: { host: 'function' } } })).toThrow(
      /exactly one/,
    );
    expect(() =>
      azureYaml.parse({
        name: 'x1',
        services: { api: { host: 'function', project: '.' } },
        hooks: { postinstall: { run: 'a.sh' } },
      }),
    ).toThrow();
  });

  it('should give every parameter main.json requires, and only parameters it declares', () => {
    const parameters = (
      JSON.parse(read('infra/azure/main.parameters.json')) as {
        parameters: Record<string, { value: unknown }>;
      }
    ).parameters;
    const declared = (
      JSON.parse(read('infra/azure/main.json')) as {
        parameters: Record<string, { defaultValue?: unknown; nullable?: boolean }>;
      }
    ).parameters;
    for (const name of Object.keys(parameters))
      expect(declared, `main.json declares ${name}`).toHaveProperty(name);
    for (const [name, declaration] of Object.entries(declared)) {
      if (declaration.defaultValue === undefined && !declaration.nullable)
        expect(parameters, `${name} is required`).toHaveProperty(name);
    }
    // azd substitutes ${VAR} and ${VAR=default}: anything else would reach ARM as text.
    for (const [name, { value }] of Object.entries(parameters)) {
      if (typeof value === 'string' && value.includes('$'))
        expect(value, name).toMatch(/^\$\{[A-Z][A-Z0-9_]*(=[^}]*)?\}$/);
    }
  });
});
