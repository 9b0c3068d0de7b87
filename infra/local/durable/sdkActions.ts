import type { HistoryEvent, RetryPolicy } from './history.js';
import { scheduledKind, type ScheduledTask } from './state.js';
import { BUILTIN_HTTP_ACTIVITY } from './durableHttp.js';
import { entityInstanceId } from './entities.js';

/** SDK action types (durable-functions ActionType). */
export const Action = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

export interface SdkAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryPolicy;
  instanceId?: string;
  version?: string;
  fireAt?: Date | string;
  isCanceled?: boolean;
  compoundActions?: SdkAction[];
  /** A callHttp's request (durable-functions' DurableHttpRequest). */
  httpRequest?: unknown;
  /** A callEntity's or signalEntity's operation name. */
  operation?: string;
  /** A lock's entities (sorted and deduplicated by the SDK) and its request id. */
  lockSet?: Array<{ name: string; key: string }>;
  lockRequestId?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Flattens the SDK's action tree (WhenAll / WhenAny nest their children) into the order the SDK
 * numbered the tasks. An action object that appears twice (a task yielded alone, then again inside
 * Task.all) was scheduled once, so it is kept once.
 */
export function flattenActions(actions: unknown): SdkAction[] {
  const result: SdkAction[] = [];
  const seen = new Set<object>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (!isObject(node) || typeof node.actionType !== 'number') return;
    if (seen.has(node)) return;
    seen.add(node);
    const action = node as unknown as SdkAction;
    if (action.actionType === Action.WhenAll || action.actionType === Action.WhenAny) {
      visit(action.compoundActions ?? []);
    } else {
      result.push(action);
    }
  };
  visit(actions);
  return result;
}

/**
 * The actions with a release of a critical section spelled out: the SDK numbers one task per
 * entity released, so the runtime records one release per entity of the lock it ends.
 */
export function expandReleases(actions: SdkAction[]): SdkAction[] {
  const expanded: SdkAction[] = [];
  let held: string[] = [];
  for (const action of actions) {
    if (action.actionType === Action.LockEntities) {
      held = (action.lockSet ?? []).map(entityInstanceId);
    }
    if (action.actionType === Action.ReleaseEntities && action.instanceId === undefined) {
      for (const instanceId of held) expanded.push({ actionType: Action.ReleaseEntities, instanceId });
      held = [];
      continue;
    }
    expanded.push(action);
  }
  return expanded;
}

/** Whether the SDK numbered the action with a task id (every action but these two). */
export function consumesId(action: SdkAction): boolean {
  return action.actionType !== Action.ContinueAsNew && action.actionType !== Action.WaitForExternalEvent;
}

/** JSON text for an input the SDK passed through `Utils.processInput` (strings arrive pre-encoded). */
export function processedInputText(input: unknown): string | null {
  if (input === undefined) return null;
  return typeof input === 'string' ? input : JSON.stringify(input);
}

/** JSON text for an input the SDK passed as it was given. */
export function rawInputText(input: unknown): string | null {
  return input === undefined ? null : JSON.stringify(input);
}

/** The value of JSON text as history stores it: nothing for null or empty. */
export function parseJsonText(text: string | null | undefined): unknown {
  if (text === null || text === undefined || text === '') return undefined;
  return JSON.parse(text);
}

/** The delay before retry attempt `attempt + 1`, as DTFx's RetryInterceptor computes it. */
export function retryDelayMs(policy: RetryPolicy, attempt: number): number {
  const coefficient = policy.backoffCoefficient ?? 1;
  const delay = policy.firstRetryIntervalInMilliseconds * Math.pow(coefficient, attempt - 1);
  const cap = policy.maxRetryIntervalInMilliseconds;
  return cap && cap > 0 ? Math.min(delay, cap) : delay;
}

/** How a kind of task is named in a non-determinism failure. */
const KIND_NAMES: Record<ScheduledTask['kind'], string> = {
  activity: 'activity',
  timer: 'timer',
  subOrchestration: 'sub-orchestration',
  eventSent: 'event',
};

/** The kind of task an action starts, as its scheduling event will record it. */
function actionKind(action: SdkAction): ScheduledTask['kind'] {
  switch (action.actionType) {
    case Action.CallActivity:
    case Action.CallActivityWithRetry:
    case Action.CallHttp:
      return 'activity';
    case Action.CreateTimer:
      return 'timer';
    case Action.CallSubOrchestrator:
    case Action.CallSubOrchestratorWithRetry:
      return 'subOrchestration';
    default:
      return 'eventSent';
  }
}

/** How a replayed action differs from the one its history recorded, if it does. */
export function actionMismatch(action: SdkAction, event: HistoryEvent): string | undefined {
  const expected = scheduledKind(event);
  const actual = actionKind(action);
  if (expected !== actual)
    return `task ${event.EventId} was a ${KIND_NAMES[expected]} and is now a ${KIND_NAMES[actual]}`;
  if (actual === 'eventSent') {
    const target =
      action.actionType === Action.LockEntities && action.lockSet?.[0]
        ? entityInstanceId(action.lockSet[0])
        : action.instanceId;
    return event.InstanceId !== target
      ? `task ${event.EventId} was sent to "${event.InstanceId}" and is now sent to "${target}"`
      : undefined;
  }
  const name = action.actionType === Action.CallHttp ? BUILTIN_HTTP_ACTIVITY : action.functionName;
  if (actual !== 'timer' && event.Name !== undefined && name !== event.Name) {
    return `task ${event.EventId} called "${event.Name}" and now calls "${name}"`;
  }
  return undefined;
}

/** A retry policy with the SDK's defaults filled in and nonsense values replaced. */
export function normalizeRetry(options: RetryPolicy | undefined): RetryPolicy {
  const first = Number(options?.firstRetryIntervalInMilliseconds ?? 1000);
  const attempts = Number(options?.maxNumberOfAttempts ?? 1);
  return {
    firstRetryIntervalInMilliseconds: first > 0 ? first : 1000,
    maxNumberOfAttempts: attempts >= 1 ? Math.floor(attempts) : 1,
    ...(options?.backoffCoefficient !== undefined
      ? { backoffCoefficient: Number(options.backoffCoefficient) }
      : {}),
    ...(options?.maxRetryIntervalInMilliseconds !== undefined
      ? { maxRetryIntervalInMilliseconds: Number(options.maxRetryIntervalInMilliseconds) }
      : {}),
    ...(options?.retryTimeoutInMilliseconds !== undefined
      ? { retryTimeoutInMilliseconds: Number(options.retryTimeoutInMilliseconds) }
      : {}),
  };
}
