/** One dependency the app needs, and how to tell it answers. */
export interface HealthProbe {
  name: string;
  check(signal: AbortSignal): Promise<void>;
}

export interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

export interface HealthReport {
  healthy: boolean;
  checks: Record<string, CheckResult>;
}

/** Runs every probe at once, each bounded by `timeoutMs`; healthy only if all answer. */
export async function checkHealth(probes: readonly HealthProbe[], timeoutMs = 3000): Promise<HealthReport> {
  const results = await Promise.all(
    probes.map(async (probe): Promise<[string, CheckResult]> => {
      const started = performance.now();
      try {
        await probe.check(AbortSignal.timeout(timeoutMs));
        return [probe.name, { ok: true, ms: Math.round(performance.now() - started) }];
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return [probe.name, { ok: false, ms: Math.round(performance.now() - started), error: message }];
      }
    }),
  );
  const checks: Record<string, CheckResult> = Object.fromEntries(results);
  return { healthy: results.every(([, r]) => r.ok), checks };
}
