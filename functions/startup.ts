import { app } from '@azure/functions';
import { getServices } from '../shared/composition.js';

// Responses stream: event streams stay open for minutes, and logs and outputs are passed on as
// storage sends them rather than held whole in memory first.
app.setup({ enableHttpStream: true });

// Configuration is checked when the app starts, so a missing setting stops it with every problem
// named, instead of failing the first request that needs it. The containers are made then too:
// users write into the inbox with their own tools, before the app has written anything.
app.hook.appStart(async () => {
  const services = getServices();
  try {
    await services.ensureContainers();
  } catch (error) {
    // Storage may be down at start; the health endpoint says so, and the app retries on use.
    console.warn(`cloudjobs: could not create the storage containers yet: ${String(error)}`);
  }
});

// Log lines and metrics are sent in batches; what is waiting goes before the host stops the worker.
app.hook.appTerminate(async () => {
  await getServices().telemetry.flush?.();
});
