import * as df from 'durable-functions';
import {
  SUBMIT_ORCHESTRATOR,
  submitTasksOrchestrator,
} from '../shared/orchestration/submitTasksOrchestrator.js';

df.app.orchestration(SUBMIT_ORCHESTRATOR, submitTasksOrchestrator);
