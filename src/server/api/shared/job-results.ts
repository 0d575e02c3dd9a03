import { ApiError } from '../../errors.js';
import type { ObjectStorage } from '../../storage/object-storage.js';
import type { JobRecord } from '../../jobs/job-spec.js';

/** HTTP status for a job that ended in error, from its error code: the client's fault or ours. */
export function httpStatusOfJobError(job: JobRecord): number {
  if (job.errorCode === 'ERR_INVALID_ARG' || job.errorCode === 'ERR_MODEL_FILE') return 400;
  if (job.errorCode === 'cancelled') return 200;
  return 500;
}

/** The bytes of a finished job's output file; a 410 when the sweeper (or anything else) has removed it. */
export async function readOutput(storage: ObjectStorage, file: string): Promise<Buffer> {
  const bytes = await storage.read('generations', file);
  if (!bytes) throw new ApiError(410, 'output_expired', `The output ${file} is no longer stored`);
  return bytes;
}
