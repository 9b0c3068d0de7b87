import type { TableClient } from '@azure/data-tables';
import { ConflictError, ValidationError } from '../errors.js';
import type { TemplateBody } from '../domain/jobSpec.js';
import type { TemplateRecord } from '../store/jobStore.js';
import { isStatus, joinJson, MAX_INLINE_JSON, odata, splitJson, type Entity } from './tables.js';

/**
 * Job templates on Azure Table storage: a partition per template name, a row per version
 * (immutable once written), and a `~owner` row that reserves the name for its first owner.
 */
export class TableTemplates {
  readonly #table: TableClient;

  constructor(
    table: TableClient,
    private readonly ready: () => Promise<void>,
  ) {
    this.#table = table;
  }

  async put(template: TemplateRecord): Promise<{ template: TemplateRecord; created: boolean }> {
    await this.ready();
    const body = JSON.stringify(template.body);
    if (body.length > MAX_INLINE_JSON) {
      throw new ValidationError('the template is too large', [
        { path: '(body)', message: `is ${body.length} characters; the limit is ${MAX_INLINE_JSON}` },
      ]);
    }
    try {
      await this.#table.createEntity({
        partitionKey: template.name,
        rowKey: '~owner',
        Owner: template.owner,
      });
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
      const owner = await this.#table.getEntity<Entity>(template.name, '~owner');
      if (owner.Owner !== template.owner) {
        throw new ConflictError(
          `the template name "${template.name}" belongs to another user; choose another name`,
          'TEMPLATE_NAME_TAKEN',
        );
      }
    }
    const entity: Entity = {
      partitionKey: template.name,
      rowKey: template.version,
      Owner: template.owner,
      Public: template.public,
      ...(template.description !== undefined ? { Description: template.description } : {}),
      CreatedAt: template.createdAt,
      ...splitJson(template.body, 'Body'),
    };
    try {
      await this.#table.createEntity(entity);
      return { template, created: true };
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
    }
    const existing = toTemplate(await this.#table.getEntity<Entity>(template.name, template.version));
    if (
      JSON.stringify(existing.body) === body &&
      existing.public === template.public &&
      existing.description === template.description
    ) {
      return { template: existing, created: false };
    }
    throw new ConflictError(
      `template ${template.name}@${template.version} exists with other content; versions do not change, register a new one`,
      'TEMPLATE_VERSION_EXISTS',
    );
  }

  async get(name: string, version: string, caller: string): Promise<TemplateRecord | undefined> {
    await this.ready();
    if (version.startsWith('~')) return undefined;
    try {
      const template = toTemplate(await this.#table.getEntity<Entity>(name, version));
      return template.public || template.owner === caller ? template : undefined;
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async versions(name: string, caller: string): Promise<TemplateRecord[]> {
    await this.ready();
    const out: TemplateRecord[] = [];
    for await (const entity of this.#table.listEntities<Entity>({
      queryOptions: { filter: `PartitionKey eq ${odata(name)} and RowKey lt '~'` },
    })) {
      const template = toTemplate(entity);
      if (template.public || template.owner === caller) out.push(template);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async list(caller: string): Promise<Array<{ name: string; owner: string; versions: string[] }>> {
    await this.ready();
    const byName = new Map<string, { name: string; owner: string; versions: string[] }>();
    for await (const entity of this.#table.listEntities<Entity>({
      queryOptions: {
        filter: `RowKey lt '~' and (Public eq true or Owner eq ${odata(caller)})`,
        select: ['PartitionKey', 'RowKey', 'Owner'],
      },
    })) {
      const entry = byName.get(entity.partitionKey) ?? {
        name: entity.partitionKey,
        owner: entity.Owner as string,
        versions: [],
      };
      entry.versions.push(entity.rowKey);
      byName.set(entity.partitionKey, entry);
    }
    return [...byName.values()];
  }
}

function toTemplate(entity: Entity): TemplateRecord {
  const template: TemplateRecord = {
    name: entity.partitionKey,
    version: entity.rowKey,
    owner: entity.Owner as string,
    public: entity.Public === true,
    body: joinJson<TemplateBody>(entity, 'Body') ?? {},
    createdAt: entity.CreatedAt as string,
  };
  if (entity.Description !== undefined) template.description = entity.Description as string;
  return template;
}
