import { randomUUID } from 'node:crypto';
import type {
  CoreInvocationContext,
  FunctionCallback,
  FunctionMetadata,
  LogHookContext,
  PostInvocationContext,
  PreInvocationContext,
  RpcBindingInfo,
  RpcInvocationResponse,
  RpcLogCategory,
  RpcLogLevel,
  RpcParameterBinding,
  RpcRetryContext,
  RpcTypedData,
} from './coreTypes.js';
import type { FunctionRegistration, FunctionsCore, CoreSink } from './functionsCore.js';
import { describeError, type Logger } from './logger.js';

/** A function the app registered, with its bindings sorted by role. */
export interface RegisteredFunction {
  readonly name: string;
  readonly metadata: FunctionMetadata;
  readonly callback: FunctionCallback;
  readonly triggerName: string;
  readonly trigger: RpcBindingInfo;
  /** Lower-case trigger type, e.g. `httptrigger`. */
  readonly triggerType: string;
  readonly inputs: ReadonlyArray<[string, RpcBindingInfo]>;
  readonly outputs: ReadonlyArray<[string, RpcBindingInfo]>;
}

export interface InvocationRequest {
  /** Data for the trigger binding. */
  trigger: RpcTypedData | undefined;
  triggerMetadata?: Record<string, RpcTypedData>;
  retryContext?: RpcRetryContext;
  invocationId?: string;
}

export interface InvocationOutcome {
  invocationId: string;
  durationMs: number;
  /** The function's result after post-invocation hooks, as the handler returned it. */
  result?: unknown;
  /** What the function threw (after post-invocation hooks); undefined when it succeeded. */
  error?: unknown;
  failed: boolean;
  /** The response as the worker would send it to the host; absent when the function failed. */
  response?: RpcInvocationResponse;
}

/** Supplies the data of an input binding (e.g. `durableClient`) at invocation time. */
/** What an invocation's bindings may refer to: `{name}` in a blob path, say. */
export interface BindingContext {
  /** The trigger's data by name: its metadata, and for HTTP its route parameters and query. */
  bindingData: Readonly<Record<string, unknown>>;
}

export type InputProvider = (
  fn: RegisteredFunction,
  bindingName: string,
  binding: RpcBindingInfo,
  invocation: BindingContext,
) => RpcTypedData | Promise<RpcTypedData>;

/** Delivers the value a function set on an output binding (e.g. a Service Bus message). */
export type OutputHandler = (
  fn: RegisteredFunction,
  bindingName: string,
  binding: RpcBindingInfo,
  data: RpcTypedData,
  invocation: BindingContext,
) => Promise<void>;

const RETURN_BINDING = '$return';

/** A binding setting that should be text (a queue name, a schedule); empty when absent. */
export function bindingText(binding: RpcBindingInfo, key: string): string {
  const value = binding[key];
  return typeof value === 'string' ? value : '';
}

function isTriggerType(type: string | null | undefined): boolean {
  return !!type && /trigger$/i.test(type);
}

/**
 * The host side of the worker protocol, in process: holds the functions the app registered and
 * invokes them through the app's own programming model (`@azure/functions`), running the same
 * pre/post invocation hooks the worker runs, so handlers see exactly what they see in Azure.
 */
export class FunctionHost implements CoreSink {
  readonly functions = new Map<string, RegisteredFunction>();
  /** Functions registered but not served (a binding out of scope), with why. */
  readonly #disabled = new Map<string, string>();
  readonly #inputProviders = new Map<string, InputProvider>();
  readonly #outputHandlers = new Map<string, OutputHandler>();

  constructor(
    private readonly core: FunctionsCore,
    private readonly logger: Logger,
  ) {}

  registerFunction({ metadata, callback }: FunctionRegistration): void {
    const name = metadata.name;
    if (this.functions.has(name)) {
      throw new Error(`A function named "${name}" is already registered.`);
    }
    const entries = Object.entries(metadata.bindings);
    const triggers = entries.filter(([, binding]) => isTriggerType(binding.type));
    if (triggers.length !== 1) {
      throw new Error(`Function "${name}" must have exactly one trigger binding, found ${triggers.length}.`);
    }
    const [triggerName, trigger] = triggers[0]!;
    this.functions.set(name, {
      name,
      metadata,
      callback,
      triggerName,
      trigger,
      triggerType: String(trigger.type).toLowerCase(),
      inputs: entries.filter(([, b]) => b.direction === 'in' && !isTriggerType(b.type)),
      outputs: entries.filter(([, b]) => b.direction === 'out'),
    });
  }

  unregisterFunction(name: string): void {
    this.functions.delete(name);
  }

  systemLog(level: RpcLogLevel, _category: RpcLogCategory, message: string): void {
    this.logger.log({ level, source: 'worker', message });
  }

  setInputProvider(bindingType: string, provider: InputProvider): void {
    this.#inputProviders.set(bindingType.toLowerCase(), provider);
  }

  setOutputHandler(bindingType: string, handler: OutputHandler): void {
    this.#outputHandlers.set(bindingType.toLowerCase(), handler);
  }

  byTrigger(triggerType: string): RegisteredFunction[] {
    const wanted = triggerType.toLowerCase();
    return [...this.functions.values()].filter((fn) => fn.triggerType === wanted);
  }

  /** Binding types the app uses that nothing in the runtime can serve, by function, as readable problems. */
  unsupportedBindings(supportedTriggers: ReadonlySet<string>): Array<{ fn: string; problem: string }> {
    const problems: Array<{ fn: string; problem: string }> = [];
    for (const fn of this.functions.values()) {
      const add = (problem: string) => problems.push({ fn: fn.name, problem });
      if (!supportedTriggers.has(fn.triggerType)) {
        add(`trigger type "${String(fn.trigger.type)}" is not supported`);
      }
      for (const [bindingName, binding] of fn.inputs) {
        if (!this.#inputProviders.has(String(binding.type).toLowerCase())) {
          add(`input binding "${bindingName}" of type "${String(binding.type)}" is not supported`);
        }
      }
      for (const [bindingName, binding] of fn.outputs) {
        const type = String(binding.type).toLowerCase();
        if (type === 'http' && fn.triggerType === 'httptrigger') continue;
        if (!this.#outputHandlers.has(type)) {
          add(`output binding "${bindingName}" of type "${String(binding.type)}" is not supported`);
        }
      }
    }
    return problems;
  }

  /** Keeps a function registered but refuses to run it, saying `why` to whoever invokes it. */
  disable(name: string, why: string): void {
    this.#disabled.set(name, why);
  }

  /** Why a function is not served, or undefined when it is. */
  disabledReason(name: string): string | undefined {
    return this.#disabled.get(name);
  }

  /**
   * Invokes a function the way the worker does: arguments from the programming model,
   * pre-invocation hooks, the handler, post-invocation hooks, then the response. Output bindings
   * other than the HTTP response are delivered before this resolves; a failed delivery fails the
   * invocation, as it does in Azure.
   */
  async invoke(fn: RegisteredFunction, request: InvocationRequest): Promise<InvocationOutcome> {
    const invocationId = request.invocationId ?? randomUUID();
    const disabled = this.#disabled.get(fn.name);
    if (disabled !== undefined) {
      const error = new Error(`function "${fn.name}" is disabled on the embedded runtime: ${disabled}`);
      return { invocationId, durationMs: 0, error, failed: true };
    }
    const started = performance.now();
    const model = this.core.programmingModel;
    if (!model) throw new Error('The app did not set a programming model (is @azure/functions imported?).');

    const inputData: RpcParameterBinding[] = [{ name: fn.triggerName, data: request.trigger ?? null }];
    // Read only by bindings that use expressions: most invocations never parse their metadata.
    let data: Record<string, unknown> | undefined;
    const bindings: BindingContext = {
      get bindingData() {
        return (data ??= bindingData(request));
      },
    };
    for (const [bindingName, binding] of fn.inputs) {
      const provider = this.#inputProviders.get(String(binding.type).toLowerCase());
      if (!provider) continue;
      try {
        inputData.push({ name: bindingName, data: await provider(fn, bindingName, binding, bindings) });
      } catch (error) {
        // As on Azure: an input that cannot be read fails the invocation before the function runs.
        return { invocationId, durationMs: performance.now() - started, error, failed: true };
      }
    }

    const logCategory = `Function.${fn.name}`;
    const coreContext: CoreInvocationContext = {
      invocationId,
      request: {
        invocationId,
        functionId: fn.name,
        inputData,
        triggerMetadata: request.triggerMetadata ?? {},
        retryContext: request.retryContext ?? null,
        traceContext: { traceParent: null, traceState: null, attributes: {} },
      },
      metadata: { name: fn.name, functionId: fn.name, bindings: this.#rpcBindings(fn) },
      log: (level, category, message) => {
        const userCategory = category === 'user' ? `${logCategory}.User` : logCategory;
        this.logger.log({ level, source: fn.name, invocationId, message }, userCategory);
        if (category === 'user') this.#runLogHooks(level, category, message, holder.context);
      },
    };
    // The log callback exists before the context does; it reads the context once there is one.
    const holder: { context?: unknown } = {};

    const invocationModel = await model.getInvocationModel(coreContext);
    const args = await invocationModel.getArguments();
    const invocationContext = args.context;
    holder.context = invocationContext;
    const hookData = {};
    const appHookData = this.core.appHookData;
    const pre: PreInvocationContext = {
      hookData,
      appHookData,
      invocationContext,
      inputs: args.inputs,
      functionCallback: fn.callback,
    };
    coreContext.state = 'preInvocationHooks';
    try {
      for (const hook of this.core.hooks('preInvocation')) await hook(pre as never);
    } finally {
      coreContext.state = undefined;
    }

    const post: PostInvocationContext = {
      hookData,
      appHookData,
      invocationContext,
      inputs: pre.inputs,
      result: null,
      error: null,
    };
    coreContext.state = 'invocation';
    try {
      post.result = await invocationModel.invokeFunction(invocationContext, pre.inputs, pre.functionCallback);
    } catch (error) {
      post.error = error ?? new Error('The function threw a null or undefined value.');
    } finally {
      coreContext.state = undefined;
    }
    coreContext.state = 'postInvocationHooks';
    try {
      for (const hook of this.core.hooks('postInvocation')) await hook(post as never);
    } finally {
      coreContext.state = undefined;
    }

    if (post.error !== null && post.error !== undefined) {
      return {
        invocationId,
        durationMs: performance.now() - started,
        result: post.result,
        error: post.error,
        failed: true,
      };
    }

    try {
      const response = await invocationModel.getResponse(invocationContext, post.result);
      await this.#deliverOutputs(fn, response, bindings);
      return {
        invocationId,
        durationMs: performance.now() - started,
        result: post.result,
        failed: false,
        response,
      };
    } catch (error) {
      return {
        invocationId,
        durationMs: performance.now() - started,
        result: post.result,
        error,
        failed: true,
      };
    }
  }

  /** Logs an invocation's end the way Core Tools does, at a level that keeps busy triggers quiet. */
  logOutcome(fn: RegisteredFunction, outcome: InvocationOutcome, reason: string, quiet = true): void {
    const duration = `${Math.round(outcome.durationMs)}ms`;
    if (outcome.failed) {
      this.logger.log(
        {
          level: 'error',
          source: fn.name,
          invocationId: outcome.invocationId,
          message: `Executed (Failed, ${reason}, ${duration}): ${describeError(outcome.error)}`,
        },
        `Function.${fn.name}`,
      );
    } else {
      this.logger.log(
        {
          level: quiet ? 'debug' : 'information',
          source: fn.name,
          invocationId: outcome.invocationId,
          message: `Executed (Succeeded, ${reason}, ${duration})`,
        },
        `Function.${fn.name}`,
      );
    }
  }

  #rpcBindings(fn: RegisteredFunction): Record<string, RpcBindingInfo> {
    // The worker only passes type, direction and data type through the RPC boundary; keeping to
    // that means the app sees the same `context.options` here as in Azure.
    const bindings: Record<string, RpcBindingInfo> = {};
    for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
      bindings[name] = {
        type: binding.type ?? null,
        direction: binding.direction ?? null,
        dataType: binding.dataType ?? null,
      };
    }
    return bindings;
  }

  async #deliverOutputs(
    fn: RegisteredFunction,
    response: RpcInvocationResponse,
    bindings: BindingContext,
  ): Promise<void> {
    const deliveries: Promise<void>[] = [];
    for (const item of response.outputData ?? []) {
      const name = item.name ?? '';
      const binding = fn.metadata.bindings[name];
      if (!binding || !item.data) continue;
      deliveries.push(this.#deliver(fn, name, binding, item.data, bindings));
    }
    const returnBinding = fn.metadata.bindings[RETURN_BINDING];
    if (returnBinding && response.returnValue && String(returnBinding.type).toLowerCase() !== 'http') {
      deliveries.push(this.#deliver(fn, RETURN_BINDING, returnBinding, response.returnValue, bindings));
    }
    const results = await Promise.allSettled(deliveries);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  async #deliver(
    fn: RegisteredFunction,
    name: string,
    binding: RpcBindingInfo,
    data: RpcTypedData,
    bindings: BindingContext,
  ): Promise<void> {
    const handler = this.#outputHandlers.get(String(binding.type).toLowerCase());
    if (!handler)
      throw new Error(`No handler for output binding "${name}" of type "${String(binding.type)}".`);
    await handler(fn, name, binding, data, bindings);
  }

  #runLogHooks(
    level: RpcLogLevel,
    category: RpcLogCategory,
    message: string,
    invocationContext: unknown,
  ): void {
    const hooks = this.core.hooks('log');
    if (hooks.length === 0) return;
    const context: LogHookContext = {
      hookData: {},
      appHookData: this.core.appHookData,
      level,
      category,
      message,
      invocationContext,
    };
    for (const hook of hooks) {
      try {
        const result = hook(context as never);
        if (result instanceof Promise) result.catch(() => undefined);
      } catch {
        // A failing log hook must not fail the invocation that logged.
      }
    }
  }
}

/**
 * The names an invocation's binding expressions may use: the trigger metadata (JSON values
 * parsed), and for an HTTP trigger its route parameters and query, as the host binds them.
 */
function bindingData(request: InvocationRequest): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(request.triggerMetadata ?? {})) {
    if (value.string !== undefined && value.string !== null) data[key] = value.string;
    else if (value.json !== undefined && value.json !== null) {
      try {
        data[key] = JSON.parse(value.json) as unknown;
      } catch {
        data[key] = value.json;
      }
    }
  }
  const http = request.trigger?.http;
  if (http) Object.assign(data, http.query ?? {}, http.params ?? {});
  return data;
}
