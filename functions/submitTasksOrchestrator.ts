import * as df from 'durable-functions';
import { SUBMIT_ORCHESTRATOR, submitTasksOrchestrator } from '../shared/jobs/jobOrchestrator.js';

df.app.orchestration(SUBMIT_ORCHESTRATOR, submitTasksOrchestrator);
