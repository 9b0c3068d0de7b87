import Module from 'node:module';
import type {
  FunctionCallback,
  FunctionMetadata,
  HookCallback,
  HookData,
  HookName,
  ProgrammingModel,
  RpcLogCategory,
  RpcLogLevel,
} from './coreTypes.js';

/** What the runtime receives when the app registers a function. */
export interface FunctionRegistration {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

/** The part of the runtime that the core module hands registrations and system logs to. */
export interface CoreSink {
  registerFunction(registration: FunctionRegistration): void;
  unregisterFunction(name: string): void;
  systemLog(level: RpcLogLevel, category: RpcLogCategory, message: string): void;
}

const HOOK_NAMES: readonly HookName[] = [
  'preInvocation',
  'postInvocation',
  'appStart',
  'appTerminate',
  'log',
];

/** Mirrors the worker's Disposable: `@azure/functions` hands these back to the app. */
class Disposable {
  static from(...likes: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => likes.forEach((like) => like.dispose()));
  }

  #callOnDispose?: () => unknown;

  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }

  dispose(): unknown {
    const call = this.#callOnDispose;
    this.#callOnDispose = undefined;
    return call?.();
  }
}

/**
 * The state behind the `@azure/functions-core` module. There is one per process, as there is one
 * worker per process in Azure: `@azure/functions` caches the module the first time it asks for it.
 */
export class FunctionsCore {
  readonly version = '3.12.0-cloudjobs-local';
  readonly hostVersion = '4.1037.0';
  readonly appHookData: HookData = {};
  programmingModel: ProgrammingModel | undefined;
  readonly #hooks = new Map<HookName, HookCallback[]>(HOOK_NAMES.map((name) => [name, []]));
  #sink: CoreSink | undefined;

  /** Directs registrations to a runtime; returns the previous sink. */
  attach(sink: CoreSink | undefined): CoreSink | undefined {
    const previous = this.#sink;
    this.#sink = sink;
    return previous;
  }

  hooks(name: HookName): readonly HookCallback[] {
    return this.#hooks.get(name) ?? [];
  }

  /** Forgets hooks and the programming model, so a second runtime in this process starts clean. */
  reset(): void {
    for (const list of this.#hooks.values()) list.length = 0;
    for (const key of Object.keys(this.appHookData)) delete this.appHookData[key];
  }

  /** The object `require('@azure/functions-core')` returns. */
  readonly api = {
    version: this.version,
    hostVersion: this.hostVersion,
    Disposable,
    registerFunction: (metadata: FunctionMetadata, callback: FunctionCallback): Disposable => {
      const sink = this.#requireSink();
      sink.registerFunction({ metadata, callback });
      return new Disposable(() => sink.unregisterFunction(metadata.name));
    },
    registerHook: (hookName: string, callback: HookCallback): Disposable => {
      const list = this.#hooks.get(hookName as HookName);
      if (!list) {
        const error = new RangeError(`Unrecognized hook "${hookName}"`);
        Object.assign(error, { isAzureFunctionsSystemError: true });
        throw error;
      }
      list.push(callback);
      return new Disposable(() => {
        const index = list.indexOf(callback);
        if (index >= 0) list.splice(index, 1);
      });
    },
    setProgrammingModel: (model: ProgrammingModel): void => {
      this.programmingModel = model;
    },
    getProgrammingModel: (): ProgrammingModel | undefined => this.programmingModel,
    log: (level: RpcLogLevel, category: RpcLogCategory, message: string): void => {
      this.#sink?.systemLog(level, category, message);
    },
  };

  #requireSink(): CoreSink {
    if (!this.#sink) {
      throw new Error('A function was registered while no embedded runtime was loading an app.');
    }
    return this.#sink;
  }
}

const GLOBAL_KEY = Symbol.for('cloudjobs.local.functionsCore');
type GlobalWithCore = typeof globalThis & { [GLOBAL_KEY]?: FunctionsCore };

/**
 * Makes `require('@azure/functions-core')` answer with the runtime's core module, the way the
 * Functions Node.js worker does before it loads an app. Idempotent per process.
 */
export function installFunctionsCore(): FunctionsCore {
  const globals = globalThis as GlobalWithCore;
  const existing = globals[GLOBAL_KEY];
  if (existing) return existing;

  const core = new FunctionsCore();
  globals[GLOBAL_KEY] = core;
  const prototype = Module.prototype as unknown as { require: (id: string) => unknown };
  prototype.require = new Proxy(prototype.require, {
    apply(target, thisArg: unknown, args: [string]) {
      if (args[0] === '@azure/functions-core') return core.api;
      return Reflect.apply<unknown, [string], unknown>(target, thisArg, args);
    },
  });
  return core;
}
