import type { FunctionHost, RegisteredFunction } from '../host/functionHost.js';
import type { OrchestratorInvocation, OrchestratorOutcome } from './orchestrationSession.js';
import { EventType, type FailureDetails } from './history.js';

const OUT_OF_PROC_LABEL = '\n\n$OutOfProcData$:';

/** Finds a durable function by name, case-insensitively as the Durable extension does. */
export function findDurableFunction(
  host: FunctionHost,
  triggerType: string,
  name: string,
): RegisteredFunction | undefined {
  const wanted = name.toLowerCase();
  return host.byTrigger(triggerType).find((fn) => fn.name.toLowerCase() === wanted);
}

export function failureFromError(error: unknown): FailureDetails {
  if (error instanceof Error) {
    return {
      ErrorType: error.name || 'Error',
      ErrorMessage: error.message,
      ...(error.stack ? { StackTrace: error.stack } : {}),
    };
  }
  return { ErrorType: 'Error', ErrorMessage: String(error) };
}

/**
 * Runs an orchestrator function once over a history, through the app's own registration (which
 * wraps the handler in durable-functions' Orchestrator), and reads back its state or failure.
 */
export async function runOrchestrator(
  host: FunctionHost,
  invocation: OrchestratorInvocation,
): Promise<OrchestratorOutcome> {
  const fn = findDurableFunction(host, 'orchestrationTrigger', invocation.name);
  if (!fn) {
    const message = `The function '${invocation.name}' doesn't exist, is disabled, or is not an orchestrator function.`;
    return {
      kind: 'failed',
      message,
      failureDetails: { ErrorType: 'FunctionNotFound', ErrorMessage: message },
      customStatus: undefined,
    };
  }
  const replays = invocation.history.filter((e) => e.EventType === EventType.OrchestratorStarted).length > 1;
  const bindingInfo = {
    history: invocation.history,
    input: invocation.input,
    instanceId: invocation.instanceId,
    isReplaying: replays,
    parentInstanceId: invocation.parentInstanceId,
    // Replay schema V4: the SDK splits long timers itself and expects these durations, and may
    // take entity locks (context.df.lock).
    upperSchemaVersion: 3,
    upperSchemaVersionNew: 3,
    maximumShortTimerDuration: '6.00:00:00',
    longRunningTimerIntervalDuration: '3.00:00:00',
    defaultHttpAsyncRequestSleepTimeMillseconds: 30_000,
  };
  const outcome = await host.invoke(fn, { trigger: { string: JSON.stringify(bindingInfo) } });
  if (outcome.failed) {
    const error = outcome.error;
    const text = error instanceof Error ? error.message : String(error);
    const cut = text.indexOf(OUT_OF_PROC_LABEL);
    if (cut >= 0) {
      const state = JSON.parse(text.slice(cut + OUT_OF_PROC_LABEL.length)) as {
        error?: string;
        customStatus?: unknown;
        failureDetails?: FailureDetails;
      };
      // The SDK builds this error from a flag rather than the exception, so the exception's own
      // message is the state's `error`, not the text before the label.
      const message = state.error ?? text.slice(0, cut);
      const stack = error instanceof Error ? error.stack : undefined;
      const typeMatch = stack ? /^([A-Za-z_$][\w$]*):/.exec(stack) : null;
      return {
        kind: 'failed',
        message,
        failureDetails: state.failureDetails ?? {
          ErrorType: typeMatch?.[1] ?? 'Error',
          ErrorMessage: message,
          ...(stack ? { StackTrace: stack } : {}),
        },
        customStatus: state.customStatus,
      };
    }
    return {
      kind: 'failed',
      message: text,
      failureDetails: failureFromError(error),
      customStatus: undefined,
    };
  }
  const result = outcome.result as
    { isDone?: unknown; actions?: unknown; output?: unknown; customStatus?: unknown } | undefined;
  if (!result || typeof result.isDone !== 'boolean' || !Array.isArray(result.actions)) {
    const message = `Orchestrator '${fn.name}' did not return an orchestration state; is it registered with df.app.orchestration?`;
    return {
      kind: 'failed',
      message,
      failureDetails: { ErrorType: 'Error', ErrorMessage: message },
      customStatus: undefined,
    };
  }
  return {
    kind: 'ran',
    isDone: result.isDone,
    actions: result.actions,
    output: result.output,
    customStatus: result.customStatus,
  };
}
