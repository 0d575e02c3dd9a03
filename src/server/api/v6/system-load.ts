import os from 'node:os';
import type { JobService } from '../../jobs/job-service.js';
import type { ServedModel } from '../../models/model-registry.js';

const MiB = 1024 * 1024;

/**
 * The v6 system_load answer: queue length and expected wait, plus what a self-hoster wants to see. An API key
 * sees counts and worker states, not which jobs (of other keys) the workers run; the admin sees those too.
 */
export async function systemLoad(service: JobService, models: ServedModel[], showJobs: boolean) {
  const [counts, averages, workers] = await Promise.all([service.counts(), service.averageDurations(), service.workers()]);
  const perTask = Object.values(averages);
  const jobs = perTask.reduce((n, a) => n + a.jobs, 0);
  const mean = jobs ? perTask.reduce((s, a) => s + a.seconds * a.jobs, 0) / jobs : 0;
  const memory = process.memoryUsage();
  return {
    status: 'success' as const,
    queue_num: counts.queued,
    queue_time: Math.round((counts.queued * mean) / Math.max(1, workers.length)),
    running: counts.running,
    average_seconds_last_hour: averages,
    workers: showJobs ? workers : workers.map(({ job: _job, ...worker }) => worker),
    models: models.map((m) => ({ id: m.id, role: m.role, family: m.family, size: m.size, synthetic: m.synthetic })),
    memory: {
      total_mib: Math.round(os.totalmem() / MiB),
      free_mib: Math.round(os.freemem() / MiB),
      server_rss_mib: Math.round(memory.rss / MiB),
    },
    load_average: os.loadavg(),
  };
}

/** The system_load answer's type (the TypeScript client reads it). */
export type SystemLoad = Awaited<ReturnType<typeof systemLoad>>;
