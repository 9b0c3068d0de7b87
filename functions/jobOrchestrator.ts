import * as df from 'durable-functions';
import { JOB_ORCHESTRATOR } from '../shared/jobs/activities.js';
import { jobOrchestrator } from '../shared/jobs/jobOrchestrator.js';

df.app.orchestration(JOB_ORCHESTRATOR, jobOrchestrator);
