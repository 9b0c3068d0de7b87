import { describe, expect, it } from 'vitest';
import { deployTemplate, Unknown, type Value } from '../../support/armTemplate.js';

/** The offline ARM evaluator the drift test stands on: it must read templates as ARM does. */

const template = (body: Record<string, unknown>) => ({
  $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
  contentVersion: '1.0.0.0',
  ...body,
});

const output = (expression: string, parameters: Record<string, Value> = {}) =>
  deployTemplate(
    template({
      parameters: { name: { type: 'string', defaultValue: 'jobs' }, count: { type: 'int', defaultValue: 3 } },
      variables: { list: ['a', 'b'], map: { Key: 'v' } },
      outputs: { result: { type: 'object', value: expression } },
    }),
    parameters,
  ).outputs.result;

describe('the offline ARM template evaluator', () => {
  it.each([
    ["[format('st{0}-{1}', parameters('name'), 2)]", 'stjobs-2'],
    ["[format('{{literal}} {0}', 'x')]", '{literal} x'],
    ["[concat('a', 'b', string(1))]", 'ab1'],
    ["[concat(variables('list'), createArray('c'))]", ['a', 'b', 'c']],
    ["[variables('map').key]", 'v'],
    ["[variables('list')[1]]", 'b'],
    ["[union(createObject('a', 1), createObject('b', 2, 'a', 3))]", { a: 3, b: 2 }],
    ["[union(createArray('a', 'b'), createArray('b', 'c'))]", ['a', 'b', 'c']],
    ["[if(equals(parameters('name'), 'JOBS'), 'same', 'other')]", 'same'],
    ["[if(true(), 'taken', reference('nowhere').never)]", 'taken'],
    ["[map(variables('list'), lambda('x', toUpper(lambdaVariables('x'))))]", ['A', 'B']],
    ["[tryGet(variables('map'), 'missing')]", null],
    ["[coalesce(null(), 'fallback')]", 'fallback'],
    ["[join(createArray('a', 'b'), ',')]", 'a,b'],
    ['[string(true())]', 'True'],
    ["[replace('https://x:443/', ':443/', '')]", 'https://x'],
    ['[[not an expression]', '[not an expression]'],
  ])('should evaluate %s', (expression, expected) => {
    expect(output(expression)).toEqual(expected);
  });

  it('should take parameters over defaults, and refuse one the template does not declare', () => {
    expect(output("[parameters('name')]", { name: 'other' })).toBe('other');
    expect(() => output("[parameters('name')]", { nmae: 'typo' })).toThrow(/takes no parameter nmae/);
  });

  it('should give the same uniqueString and guid for the same inputs, as ARM does', () => {
    expect(output("[uniqueString('a', 'b')]")).toBe(output("[uniqueString('a', 'b')]"));
    expect(output("[uniqueString('a', 'b')]")).not.toBe(output("[uniqueString('a', 'c')]"));
    expect(output("[guid('a')]")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('should refuse a function it does not know rather than guess', () => {
    expect(() => output("[pickZones('Microsoft.Compute', 'virtualMachines', 'westeurope')]")).toThrow(
      /does not know the ARM function pickZones/,
    );
  });

  it('should expand copy loops, apply conditions per iteration, and expand property loops', () => {
    const { resources } = deployTemplate(
      template({
        parameters: { names: { type: 'array', defaultValue: ['a', 'skip', 'c'] } },
        resources: [
          {
            type: 'Microsoft.Storage/storageAccounts/blobServices/containers',
            apiVersion: '2026-09-01',
            name: "[format('st/default/{0}', parameters('names')[copyIndex()])]",
            condition: "[not(equals(parameters('names')[copyIndex()], 'skip'))]",
            copy: { name: 'containers', count: "[length(parameters('names'))]" },
            properties: {
              copy: [{ name: 'rules', count: 2, input: { n: "[copyIndex('rules', 1)]" } }],
            },
          },
        ],
      }),
    );
    expect(resources.map((r) => r.name)).toEqual(['st/default/a', 'st/default/c']);
    expect(resources[0]!.properties.rules).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('should follow modules with their own scope, and read their outputs through reference()', () => {
    const module = (name: string, body: Record<string, unknown>, parameters: Record<string, unknown>) => ({
      type: 'Microsoft.Resources/deployments',
      apiVersion: '2025-04-01',
      name,
      resourceGroup: 'rg-jobs',
      properties: {
        mode: 'Incremental',
        expressionEvaluationOptions: { scope: 'inner' },
        parameters,
        template: template(body),
      },
    });
    const deployed = deployTemplate(
      template({
        languageVersion: '2.0',
        resources: {
          identity: module(
            'identity',
            {
              languageVersion: '2.0',
              parameters: { name: { type: 'string' } },
              resources: {
                id: {
                  type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
                  apiVersion: '2024-11-30',
                  name: "[parameters('name')]",
                },
              },
              outputs: {
                id: {
                  type: 'string',
                  value:
                    "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', parameters('name'))]",
                },
                principalId: { type: 'string', value: "[reference('id').principalId]" },
              },
            },
            { name: { value: 'id-pool' } },
          ),
          roles: module(
            'roles',
            {
              parameters: { principal: { type: 'string' }, identityId: { type: 'string' } },
              resources: [
                {
                  type: 'Microsoft.Authorization/roleAssignments',
                  apiVersion: '2022-04-01',
                  name: "[guid(parameters('identityId'))]",
                  properties: { principalId: "[parameters('principal')]" },
                },
              ],
            },
            {
              principal: { value: "[reference('identity').outputs.principalId.value]" },
              identityId:
                "[if(true(), createObject('value', reference('identity').outputs.id.value), createObject('value', ''))]",
            },
          ),
        },
      }),
    );
    expect(deployed.resources.map((r) => r.type)).toEqual([
      'Microsoft.ManagedIdentity/userAssignedIdentities',
      'Microsoft.Authorization/roleAssignments',
    ]);
    const principal = deployed.resources[1]!.properties.principalId;
    // What only Azure knows stays unknown, and says what it is.
    expect(principal).toBeInstanceOf(Unknown);
    expect((principal as Unknown).toString()).toBe(
      '<reference(Microsoft.ManagedIdentity/userAssignedIdentities id-pool).principalId>',
    );
    expect(deployed.resources[1]!.name).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('should refuse to decide a condition only Azure knows', () => {
    expect(() =>
      deployTemplate(
        template({
          resources: [
            {
              type: 'Microsoft.Storage/storageAccounts',
              apiVersion: '2026-09-01',
              name: 'st',
              condition: "[empty(reference('elsewhere').value)]",
            },
          ],
        }),
      ),
    ).toThrow(/condition of "st" is not known/);
  });
});
