import fs from 'node:fs';
import path from 'node:path';
import type { JobRecord } from '../jobs/job-spec.js';
import { trainingFolder } from './training-spec.js';

/** Where a server keeps its trainings' folders. */
export const trainingDirOf = (dataDir: string): string => path.join(dataDir, 'training');

/** A training that ended without a LoRA (failed, cancelled) leaves nothing behind: its dataset and checkpoints go. */
export function endTraining(job: JobRecord, dataDir: string): void {
  if (job.status === 'success' || !job.spec.training) return;
  fs.rm(trainingFolder(trainingDirOf(dataDir), job.spec.training.trainingId), { recursive: true, force: true }, () => {});
}
