// A bounded load test: 500 text2img submissions over 10 connections (autocannon), answered "processing" at
// once (syncWaitSeconds 0). Every submission must be accepted and accounted for, and every job must end
// (success, or cancelled by the test) — none lost, none left processing. No timing thresholds: the p99
// submission latency is printed.
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { eventually, post, startServer } from './helpers.js';

const AMOUNT = 500;
const CONNECTIONS = 10;

/** Runs `fn` over `items`, `limit` at a time, keeping the results in order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

describe('load', () => {
  let server: DiffusekitServer;

  beforeAll(async () => {
    server = await startServer({ syncWaitSeconds: 0, limits: { maxQueued: 1000 } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it(`accepts ${AMOUNT} submissions from ${CONNECTIONS} connections and accounts for every job`, async () => {
    const answers: { status: number; body: string }[] = [];
    const result = await autocannon({
      url: server.url,
      connections: CONNECTIONS,
      amount: AMOUNT,
      timeout: 30,
      requests: [
        {
          method: 'POST',
          path: '/api/v6/images/text2img',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: 'a lighthouse under load', width: 64, height: 64, num_inference_steps: 1 }),
          onResponse: (status: number, body: string) => {
            answers.push({ status, body });
          },
        },
      ],
    });
    const p99 = result.latency.p99;
    console.log(
      `load: ${AMOUNT} submissions over ${CONNECTIONS} connections in ${result.duration.toFixed(2)} s; ` +
        `submit latency p50 ${result.latency.p50} ms, p99 ${p99} ms, max ${result.latency.max} ms`,
    );
    expect(Number.isFinite(p99)).toBe(true);
    expect(result.errors).toBe(0);
    expect(result.timeouts).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result['2xx']).toBe(AMOUNT);
    expect(answers).toHaveLength(AMOUNT);

    const bodies = answers.map((a) => JSON.parse(a.body) as { status: string; id: number });
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // "processing" unless the job already finished (the first ones may have) before the answer was made.
    expect(bodies.every((b) => b.status === 'processing' || b.status === 'success')).toBe(true);
    const ids = bodies.map((b) => b.id);
    expect(new Set(ids).size).toBe(AMOUNT);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);

    // Every job is there.
    const fetched = await mapLimit(ids, CONNECTIONS, (id) => post(`${server.url}/api/v6/images/fetch/${id}`, {}));
    expect(fetched.every((f) => f.status === 200)).toBe(true);
    expect(fetched.map((f) => f.body.id)).toEqual(ids);
    expect(fetched.every((f) => f.body.status === 'processing' || f.body.status === 'success')).toBe(true);

    // The queue drains in order while submissions go on: let the first job finish, then cancel the rest
    // (in submission order: the worker takes the lowest id next).
    await eventually(async () => (await post(`${server.url}/api/v6/images/fetch/${ids[0]}`, {})).body.status === 'success', 60_000, 'the first job');
    const pending = ids.slice(1);
    const cancelled = await mapLimit(pending, 4, (id) => post(`${server.url}/api/v6/images/cancel/${id}`, {}));
    expect(cancelled.every((c) => c.status === 200 && (c.body.status === 'success' || c.body.cancelled === true || c.body.status === 'processing'))).toBe(true);

    // Every one of the jobs ends: success, or cancelled.
    const final = await mapLimit(ids, CONNECTIONS, async (id) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await post(`${server.url}/api/v6/images/fetch/${id}`, {});
        if (r.body.status !== 'processing' || Date.now() > deadline) return r.body;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });
    const succeeded = final.filter((b) => b.status === 'success');
    const wasCancelled = final.filter((b) => b.status === 'error' && b.cancelled === true);
    console.log(`load: ${succeeded.length} jobs succeeded, ${wasCancelled.length} cancelled`);
    expect(final.filter((b) => b.status === 'processing')).toEqual([]);
    expect(succeeded.length + wasCancelled.length).toBe(AMOUNT);
    expect(final[0]!.status).toBe('success');
    expect(succeeded.every((b) => b.output.length === 1)).toBe(true);
    const after = (await post(`${server.url}/api/v6/system_load`, {})).body;
    expect({ queued: after.queue_num, running: after.running }).toEqual({ queued: 0, running: 0 });
  });
});
