import type { JobProgress, JobRecord, JobStatus } from '../../jobs/job-spec.js';

/** The hosted API's words for a training's state (fine_tune_status `messege`), by job status. */
export const TRAINING_STATUS_WORDS: Record<JobStatus, string> = {
  queued: 'deploying_gpu',
  running: 'training_started',
  success: 'training_success',
  error: 'training_failed',
  cancelled: 'training_cancelled',
};

/** A training's state as fine_tune_status answers it and as its webhook sends it. */
export function renderTraining(job: JobRecord, progress?: JobProgress, eta?: number): Record<string, unknown> {
  const word = TRAINING_STATUS_WORDS[job.status];
  const trainingId = job.spec.training!.trainingId;
  return {
    status: job.status === 'error' ? 'error' : 'success',
    // The hosted API spells it "messege"; "message" is sent too.
    messege: word,
    message: job.status === 'error' ? job.error : word,
    training_status: word,
    training_id: trainingId,
    // Once trained, the LoRA is served under the training id: lora_model in text2img, <lora:id:w> in prompts.
    model_id: job.status === 'success' ? trainingId : null,
    lora_model: job.status === 'success' ? trainingId : null,
    base_model: job.model,
    max_train_steps: job.spec.training!.steps,
    step: progress?.step ?? (job.status === 'success' ? job.spec.training!.steps : 0),
    loss: progress?.loss ?? null,
    eta: eta ?? progress?.eta ?? null,
    track_id: job.trackId,
    error_code: job.errorCode,
  };
}
