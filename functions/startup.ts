import { app } from '@azure/functions';
import { getServices } from '../shared/composition.js';

// Configuration is checked when the app starts, so a missing setting stops it with every problem
// named, instead of failing the first request that needs it.
app.hook.appStart(() => {
  getServices();
});
