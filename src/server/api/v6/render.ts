import type { JobProgress, JobRecord } from '../../jobs/job-spec.js';
import { isVideoTask, outputFileNames } from '../../jobs/job-spec.js';
import type { OutputLinks } from '../../security/output-links.js';

export { httpStatusOfJobError } from '../shared/job-results.js';

/** What a v6 answer shows besides the record: looked up by the route before rendering. */
export interface V6JobState {
  /** Seconds until done (queued and running jobs). */
  eta?: number;
  progress?: JobProgress;
  webhookStatus?: string;
  /** Why the last delivery try failed, while it is retried or once it has failed. */
  webhookError?: string;
  ttlSeconds: number;
  /** Output URLs (signed in 'private' mode). */
  links: OutputLinks;
}

/** What every v6 job answer carries. */
interface V6JobCommon {
  id: number;
  track_id: string | null;
  /** Only for jobs with a webhook: pending, delivered or failed. */
  webhook_status?: string;
  /** Why the last delivery try failed, while it is retried or once it has failed. */
  webhook_error?: string;
  /** The request's parameters as the job runs them; when done also width, height and the seeds. */
  meta: Record<string, unknown> & { seeds?: number[]; seed?: number; width?: number; height?: number };
}

/** A finished job: its outputs' URLs. */
export interface V6Success extends V6JobCommon {
  status: 'success';
  generationTime: number;
  output: string[];
  proxy_links: string[];
  nsfw_content_detected: boolean[];
}

/** A queued or running job: when to look again, and where. */
export interface V6Processing extends V6JobCommon {
  status: 'processing';
  tip: string;
  /** Seconds until it is expected to be done. */
  eta: number;
  fetch_result: string;
  output: [];
  future_links: string[];
  progress?: JobProgress;
}

/** A job that failed, was cancelled or whose outputs expired. */
export interface V6Failure extends V6JobCommon {
  status: 'error';
  message: string;
  /** The job's error code (cancelled, ERR_INVALID_ARG, ...), as errors of requests carry theirs. */
  code?: string;
  cancelled?: true;
  expired?: true;
}

/** The v6 answer for a job (routes, webhooks, the event stream): the type the clients read. */
export type V6JobResponse = V6Success | V6Processing | V6Failure;

/** The answer of /api/v6/images/jobs: the caller's newest jobs, newest first. */
export interface V6JobList {
  status: 'success';
  jobs: V6JobResponse[];
}

/**
 * The v6 response body for a job in its current state: success (outputs), processing (eta and
 * future links), or error. Routes and webhooks send exactly this.
 */
export async function renderV6(job: JobRecord, context: V6JobState): Promise<V6JobResponse> {
  const meta: V6JobCommon['meta'] = { ...((job.request.meta as Record<string, unknown> | undefined) ?? {}) };
  const webhook = job.webhook ? { webhook_status: context.webhookStatus ?? 'pending', ...(context.webhookError ? { webhook_error: context.webhookError } : {}) } : {};
  const common = { id: job.id, track_id: job.trackId, ...webhook };
  if (job.status === 'success') {
    const first = job.outputs[0];
    if (first) Object.assign(meta, { width: first.width, height: first.height });
    if (first?.frames !== undefined) Object.assign(meta, { num_frames: first.frames, fps: first.fps });
    const seeds = job.outputs.map((o) => o.seed).filter((s): s is number => s !== undefined);
    if (seeds.length) meta.seeds = seeds;
    if (job.expired) {
      return { status: 'error', ...common, message: `The outputs of job ${job.id} expired ${context.ttlSeconds / 3600} hours after it finished`, expired: true, meta };
    }
    const urls = await Promise.all(job.outputs.map((o) => context.links.link(job, o.file)));
    return {
      status: 'success',
      ...common,
      generationTime: ((job.finishedAt ?? 0) - (job.startedAt ?? 0)) / 1000,
      output: urls,
      proxy_links: urls,
      nsfw_content_detected: job.outputs.map((o) => o.nsfw),
      meta,
    };
  }
  if (job.status === 'queued' || job.status === 'running') {
    const progress = context.progress;
    const futureLinks = await Promise.all(outputFileNames(job.id, job.spec).map((file) => context.links.link(job, file)));
    return {
      status: 'processing',
      ...common,
      tip: job.status === 'queued' ? 'Your job is queued; fetch_result returns it when it is ready' : 'Your job is running; fetch_result returns it when it is ready',
      eta: context.eta ?? 1,
      fetch_result: `${job.baseUrl}/api/v6/${isVideoTask(job.task) ? 'video' : 'images'}/fetch/${job.id}`,
      output: [] as [],
      future_links: futureLinks,
      ...(progress ? { progress } : {}),
      meta,
    };
  }
  return { status: 'error', ...common, message: job.error ?? `Job ${job.status}`, ...(job.errorCode ? { code: job.errorCode } : {}), ...(job.status === 'cancelled' ? { cancelled: true } : {}), meta };
}
