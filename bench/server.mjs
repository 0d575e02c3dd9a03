#!/usr/bin/env node
// npm run bench:server: `diffusekit serve` on the synthetic demo model (sdxs).
//   1. Throughput: a batch of --jobs text2img jobs submitted at once, with 1 and with 2 engine workers (threads per
//      worker = cores / workers): jobs per minute, and p50/p99 latency from submission to the finished answer
//      (the request waits for its job: syncWaitSeconds covers it).
//   2. Overhead: the same job (seed, size, steps, sampler) --repeat times through Pipeline.generate in a process of
//      its own, and --repeat times through the server (1 worker, one request at a time, end to end over HTTP),
//      taking turns.
//      The server's overhead per job is its median over the Pipeline's median; the target is at most 5%.
//   3. Slow clients and mixed load (bench/server-soak.mjs, loopback only): slowloris and stalled-upload clients and a
//      connection burst from one address beside real jobs; connections held and memory, sampled each second.
// Models are warm in both (one untimed job first).
// Options: --size 128 --steps 4 --jobs 12 --repeat 8 --workers 1,2 --seed 42 --out bench/results
//          --slow-clients 200 --stalled 200 --burst 64 --soak-jobs 6 --soak-seconds 20 --only soak (part 3 alone)
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const self = fileURLToPath(import.meta.url);
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '128' },
    steps: { type: 'string', default: '4' },
    jobs: { type: 'string', default: '12' },
    repeat: { type: 'string', default: '8' },
    workers: { type: 'string', default: '1,2' },
    seed: { type: 'string', default: '42' },
    out: { type: 'string', default: path.join(root, 'bench', 'results') },
    direct: { type: 'string' }, // internal: the Pipeline run, in a child process
    'slow-clients': { type: 'string', default: '200' },
    stalled: { type: 'string', default: '200' },
    burst: { type: 'string', default: '64' },
    'soak-jobs': { type: 'string', default: '6' },
    'soak-seconds': { type: 'string', default: '20' },
    only: { type: 'string' },
  },
});
const PROMPT = 'a cabin in misty mountains, watercolor';
const NEGATIVE = 'blurry';
const GUIDANCE = 7;
const SAMPLER = 'euler_a';
const TARGET_OVERHEAD = 0.05;

if (values.direct) {
  // Child mode (forked with IPC): load once, one untimed generate, then one timed generate per 'run' message.
  const { Pipeline } = await import('../lib/index.js');
  const job = JSON.parse(values.direct);
  const pipe = await Pipeline.load({ model: job.model, threads: job.threads });
  const options = { prompt: PROMPT, negativePrompt: NEGATIVE, width: job.size, height: job.size, steps: job.steps, seed: job.seed, sampler: SAMPLER, guidanceScale: GUIDANCE };
  await pipe.generate(options);
  process.on('message', async (message) => {
    if (message === 'run') {
      const t0 = performance.now();
      await pipe.generate(options);
      process.send({ seconds: (performance.now() - t0) / 1000 });
    } else {
      await pipe.dispose();
      process.exit(0);
    }
  });
  process.send({ ready: true });
  await new Promise(() => {});
}

const { synthesizeModel, VERSION } = await import('../lib/index.js');
const { createServer } = await import('../lib/server/index.js');
const size = Number(values.size);
const steps = Number(values.steps);
const jobs = Number(values.jobs);
const repeat = Number(values.repeat);
const seed = Number(values.seed);
const workerCounts = values.workers.split(',').map(Number);
const cores = os.availableParallelism();
const model = synthesizeModel({ architecture: 'sdxs' }).path;

const quantile = (xs, q) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const stats = (xs) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), median: median(xs), mean: xs.reduce((a, b) => a + b, 0) / xs.length, min: Math.min(...xs), max: Math.max(...xs) });

/** A server on the demo models; requests wait for their job (up to 10 minutes). */
async function withServer(workers, threads, fn) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-bench-server-'));
  const server = await createServer({ port: 0, dataDir, auth: false, workers, threads, syncWaitSeconds: 600, logger: false });
  await server.listen();
  try {
    return await fn(server);
  } finally {
    await server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** One text2img request, waited for; the seconds from sending it to the parsed answer. */
async function submit(server, jobSeed) {
  const t0 = performance.now();
  const response = await fetch(`${server.url}/api/v6/images/text2img`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      prompt: PROMPT, negative_prompt: NEGATIVE, width: size, height: size, num_inference_steps: steps,
      guidance_scale: GUIDANCE, scheduler: SAMPLER, seed: jobSeed, samples: 1,
    }),
  });
  const body = await response.json();
  const seconds = (performance.now() - t0) / 1000;
  if (response.status !== 200 || body.status !== 'success') throw new Error(`job failed: HTTP ${response.status} ${JSON.stringify(body).slice(0, 500)}`);
  return { seconds, generationTime: body.generationTime };
}

/** Part 3: the soak, on a server with short timeouts so that a bounded run sees them act. */
async function soak() {
  const { runSoak } = await import('./server-soak.mjs');
  process.stderr.write(`soak: ${values['slow-clients']} slowloris, ${values.stalled} stalled uploads, a burst of ${values.burst}, ${values['soak-jobs']} jobs ... `);
  const start = async (http) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-bench-soak-'));
    const server = await createServer({ port: 0, dataDir, auth: false, workers: 1, threads: cores, syncWaitSeconds: 600, logger: false, http });
    await server.listen();
    return { url: server.url, app: server.app, close: async () => { await server.close(); fs.rmSync(dataDir, { recursive: true, force: true }); } };
  };
  const report = await runSoak(start, {
    slowClients: Number(values['slow-clients']), stalledBodies: Number(values.stalled), burst: Number(values.burst),
    jobs: Number(values['soak-jobs']), seconds: Number(values['soak-seconds']), submit,
  });
  process.stderr.write(`${report.pass ? 'shed every slow client' : 'FAILED'}\n`);
  return report;
}

function printSoak(r) {
  const f = (n, d = 1) => n.toFixed(d);
  const max = (xs) => (xs.length ? Math.max(...xs) : NaN);
  console.log(`\n| soak (${f(r.seconds)} s, loopback) | clients | closed by server | 408 / 429 | longest held s |`);
  console.log(`|---|---|---|---|---|`);
  console.log(`| slowloris headers (timeout ${r.limits.headersTimeoutSeconds} s) | ${r.slowloris.clients} | ${r.slowloris.closedByServer} | ${r.slowloris.answered408} | ${f(max(r.slowloris.closeSeconds))} |`);
  console.log(`| stalled bodies (idle ${r.limits.idleTimeoutSeconds} s) | ${r.stalledBodies.clients} | ${r.stalledBodies.closedByServer} | ${r.stalledBodies.answered408} | ${f(max(r.stalledBodies.closeSeconds))} |`);
  console.log(`| burst from one address (bound ${r.limits.maxConnectionsPerAddress}) | ${r.burst.connections} | ${r.burst.connections - r.burst.held} | ${r.burst.refused429} | |`);
  console.log(`\njobs meanwhile: ${r.work.succeeded}/${r.work.jobs} succeeded, p50 ${f(quantile(r.work.latencies, 0.5), 2)} s (the same jobs without slow clients: ${f(quantile(r.work.baselineLatencies, 0.5), 2)} s); ${r.work.polls} system_load polls, ${r.work.pollErrors} errors`);
  console.log(`connections held: max ${r.connectionsHeld.max}, at the end ${r.connectionsHeld.atEnd}; RSS ${f(r.memoryMiB.rssStart, 0)} -> max ${f(r.memoryMiB.rssMax, 0)} -> ${f(r.memoryMiB.rssEnd, 0)} MiB, heap max ${f(r.memoryMiB.heapMax, 0)} MiB`);
  console.log(`${r.pass ? 'PASS' : 'FAIL'}: soak`);
}

if (values.only === 'soak') {
  const report = await soak();
  fs.mkdirSync(values.out, { recursive: true });
  const file = path.join(values.out, `server-soak-${new Date().toISOString().slice(0, 16).replace(/:/g, '')}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), diffusekit: VERSION, machine: { cpus: os.cpus()[0]?.model, cores, memoryGiB: Math.round(os.totalmem() / 2 ** 30) }, soak: report }, null, 2)}\n`);
  printSoak(report);
  console.log(`(${path.relative(root, file)})`);
  process.exit(report.pass ? 0 : 1);
}

// 1. Throughput with 1 and 2 workers.
const throughput = [];
for (const workers of workerCounts) {
  const threads = Math.max(1, Math.floor(cores / workers));
  process.stderr.write(`throughput: ${workers} worker(s) x ${threads} thread(s), ${jobs} jobs ... `);
  const run = await withServer(workers, threads, async (server) => {
    // Warm up: one job per worker, at once, so that every worker has loaded the model.
    await Promise.all(Array.from({ length: workers }, (_, i) => submit(server, seed + 1000 + i)));
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: jobs }, (_, i) => submit(server, seed + i)));
    const wallSeconds = (performance.now() - t0) / 1000;
    return { wallSeconds, latencies: results.map((r) => r.seconds) };
  });
  const latency = stats(run.latencies);
  const row = { workers, threadsPerWorker: threads, jobs, wallSeconds: run.wallSeconds, jobsPerMinute: (jobs / run.wallSeconds) * 60, latencySeconds: latency, latencies: run.latencies };
  throughput.push(row);
  process.stderr.write(`${row.jobsPerMinute.toFixed(1)} jobs/min, p50 ${latency.p50.toFixed(2)} s, p99 ${latency.p99.toFixed(2)} s\n`);
}

// 2. Overhead of the server over a direct Pipeline call, same job, 1 worker with every core. The Pipeline runs in a
// process of its own, loaded and warm beside the (idle) server; the two take turns, one job each per round, so
// that a change in the machine's load between them (other processes) touches both alike.
process.stderr.write(`overhead: ${repeat} rounds of Pipeline.generate, then the same job through the server ... `);
const { direct, viaServer } = await withServer(1, cores, async (server) => {
  await submit(server, seed);
  const child = fork(self, ['--direct', JSON.stringify({ model, threads: cores, size, steps, seed })], { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const nextMessage = () => new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`the Pipeline process exited with ${code}`));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m);
    });
  });
  try {
    await nextMessage();
    const direct = [];
    const viaServer = [];
    for (let i = 0; i < repeat; i++) {
      const answer = nextMessage();
      child.send('run');
      direct.push((await answer).seconds);
      viaServer.push(await submit(server, seed));
    }
    return { direct, viaServer };
  } finally {
    child.send('exit');
    await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
  }
});
const serverSeconds = viaServer.map((r) => r.seconds);
const overhead = median(serverSeconds) / median(direct) - 1;
process.stderr.write(`${(overhead * 100).toFixed(1)}%\n`);

// 3. Slow clients and mixed load.
const soakReport = await soak();

const result = {
  date: new Date().toISOString(),
  diffusekit: VERSION,
  machine: { cpus: os.cpus()[0]?.model, cores, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
  model: 'synthetic sdxs (demo model of `diffusekit serve`)',
  job: { task: 'txt2img', size: `${size}x${size}`, steps, sampler: SAMPLER, guidanceScale: GUIDANCE },
  throughput,
  overhead: {
    repeat,
    threads: cores,
    directSeconds: { ...stats(direct), runs: direct },
    serverSeconds: { ...stats(serverSeconds), runs: serverSeconds },
    serverGenerationTimeSeconds: viaServer.map((r) => r.generationTime),
    overhead,
    target: TARGET_OVERHEAD,
  },
  soak: soakReport,
  pass: overhead <= TARGET_OVERHEAD && soakReport.pass,
};
fs.mkdirSync(values.out, { recursive: true });
const file = path.join(values.out, `server-${result.date.slice(0, 16).replace(/:/g, '')}.json`);
fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);

const f = (n, d = 2) => n.toFixed(d);
console.log(`\ntxt2img ${size}x${size}, ${steps} steps, ${SAMPLER}, synthetic sdxs, ${cores} cores`);
console.log(`\n| workers | threads/worker | jobs | wall s | jobs/min | p50 latency s | p99 latency s |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const r of throughput) {
  console.log(`| ${r.workers} | ${r.threadsPerWorker} | ${r.jobs} | ${f(r.wallSeconds)} | ${f(r.jobsPerMinute, 1)} | ${f(r.latencySeconds.p50)} | ${f(r.latencySeconds.p99)} |`);
}
console.log(`\n| path (${repeat} runs, warm) | median s | mean s | min s | max s |`);
console.log(`|---|---|---|---|---|`);
const o = result.overhead;
console.log(`| Pipeline.generate (own process) | ${f(o.directSeconds.median, 3)} | ${f(o.directSeconds.mean, 3)} | ${f(o.directSeconds.min, 3)} | ${f(o.directSeconds.max, 3)} |`);
console.log(`| server, 1 worker, HTTP end to end | ${f(o.serverSeconds.median, 3)} | ${f(o.serverSeconds.mean, 3)} | ${f(o.serverSeconds.min, 3)} | ${f(o.serverSeconds.max, 3)} |`);
printSoak(soakReport);
console.log(`\n${result.pass ? 'PASS' : 'FAIL'}: server overhead per job ${f(overhead * 100, 1)}% (target <= ${TARGET_OVERHEAD * 100}%) (${path.relative(root, file)})`);
process.exitCode = result.pass ? 0 : 1;
