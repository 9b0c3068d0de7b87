import * as df from 'durable-functions';
import { JOB_ORCHESTRATOR } from '../shared/orchestration/activities.js';
import { jobOrchestrator } from '../shared/orchestration/jobOrchestrator.js';

df.app.orchestration(JOB_ORCHESTRATOR, jobOrchestrator);
