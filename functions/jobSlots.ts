import * as df from 'durable-functions';
import { JOB_SLOTS_ENTITY, jobSlotsEntity } from '../shared/orchestration/jobSlots.js';

df.app.entity(JOB_SLOTS_ENTITY, jobSlotsEntity);
