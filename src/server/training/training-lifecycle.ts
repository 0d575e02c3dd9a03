import fs from 'node:fs';
import path from 'node:path';
import type { JobRecord } from '../jobs/job-spec.js';
import type { ObjectStorage } from '../storage/object-storage.js';
import { datasetBundleName } from './dataset-bundle.js';
import { trainingFolder } from './training-spec.js';

/** Where a server keeps its trainings' folders. */
export const trainingDirOf = (dataDir: string): string => path.join(dataDir, 'training');

/**
 * A training that ended without a LoRA (failed, cancelled) leaves nothing behind: its dataset and checkpoints go.
 * With the Redis queue the API node's prepared copy and the one in the shared storage go whatever the end (the
 * worker node that trained removes its own).
 */
export function endTraining(job: JobRecord, dataDir: string, sharedStorage?: ObjectStorage): void {
  if (!job.spec.training) return;
  if (sharedStorage) sharedStorage.remove('inputs', datasetBundleName(job.spec.training.trainingId)).catch(() => {});
  if (job.status === 'success' && !sharedStorage) return;
  fs.rm(trainingFolder(trainingDirOf(dataDir), job.spec.training.trainingId), { recursive: true, force: true }, () => {});
}
