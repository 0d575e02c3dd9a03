// Slow clients and mixed load against one server, loopback only (part 3 of `npm run bench:server`):
//   - slowloris clients that send headers a byte at a time and never finish them,
//   - stalled uploads that send the headers and a few bytes of a body, then nothing,
//   - a burst of connections from one address beyond the per-address bound,
//   - meanwhile real work: text2img jobs, fetch polls and output downloads.
// Sampled once a second: connections the server holds, and the server process's memory. Bounded in time.
import net from 'node:net';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Source addresses on loopback (127.0.0.0/8 is all loopback on Linux), so the per-address bound is not what closes them. */
const sourceAddress = (i, spread) => `127.0.1.${1 + (i % spread)}`;

function connect(port, localAddress) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const record = { socket, openedAt: performance.now(), closedAt: undefined, answer: '' };
    socket.on('data', (d) => (record.answer += d.toString('latin1')));
    socket.on('close', () => (record.closedAt = performance.now()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve(record));
    socket.once('error', () => resolve(record));
  });
}

/**
 * Runs the soak on a server made by `startServer(httpLimits)` (which must return { url, app, close }) and
 * reports what the server held and how it answered.
 */
export async function runSoak(startServer, options) {
  const { slowClients, stalledBodies, burst, jobs, seconds, submit } = options;
  const limits = { headersTimeoutSeconds: 4, idleTimeoutSeconds: 3, requestTimeoutSeconds: 10, keepAliveTimeoutSeconds: 5, maxConnectionsPerAddress: 32 };
  const server = await startServer(limits);
  const port = Number(new URL(server.url).port);
  const samples = [];
  const sample = async () => {
    const held = await new Promise((resolve) => server.app.server.getConnections((_err, n) => resolve(n)));
    const memory = process.memoryUsage();
    samples.push({ t: performance.now(), held, rssMiB: memory.rss / 2 ** 20, heapMiB: memory.heapUsed / 2 ** 20 });
  };
  let sampler;
  const runJobs = (first) => Promise.all(Array.from({ length: jobs }, (_, i) => submit(server, first + i).then((r) => ({ ok: true, ...r }), (err) => ({ ok: false, error: String(err) }))));
  try {
    // Warm (the model loaded), then the same jobs without any slow client: the latency to compare with.
    await submit(server, 6999);
    const baseline = await runJobs(8000);
    const t0 = performance.now();
    await sample();
    sampler = setInterval(() => void sample(), 1000);
    // Slowloris: a request line and one header byte every second, never the blank line.
    const slow = await Promise.all(Array.from({ length: slowClients }, (_, i) => connect(port, sourceAddress(i, 16))));
    for (const c of slow) c.socket.write('GET /api/v6/system_load HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const trickle = setInterval(() => slow.forEach((c) => c.closedAt === undefined && c.socket.write('a')), 1000);
    // Stalled uploads: headers and 7 of 1000 body bytes.
    const stalled = await Promise.all(Array.from({ length: stalledBodies }, (_, i) => connect(port, sourceAddress(i, 16))));
    for (const c of stalled) c.socket.write('POST /api/v6/images/text2img HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"promp');
    // A burst from one address beyond its bound: the excess is refused at once.
    const crowd = await Promise.all(Array.from({ length: burst }, () => connect(port, '127.0.2.1')));
    // Real work meanwhile, over ordinary keep-alive connections from 127.0.0.1.
    const work = runJobs(7000);
    const polls = (async () => {
      let n = 0;
      let errors = 0;
      while (performance.now() - t0 < seconds * 1000) {
        const response = await fetch(`${server.url}/api/v6/system_load`).catch(() => undefined);
        if (!response || response.status >= 500) errors += 1;
        await response?.arrayBuffer();
        n += 1;
        await sleep(100);
      }
      return { n, errors };
    })();
    const done = await work;
    const pollResult = await polls;
    clearInterval(trickle);
    await sample();
    const closeSeconds = (list) => list.filter((c) => c.closedAt !== undefined).map((c) => (c.closedAt - c.openedAt) / 1000);
    const status = (c) => Number(/^HTTP\/1\.1 (\d{3})/.exec(c.answer)?.[1] ?? 0);
    const report = {
      seconds: (performance.now() - t0) / 1000,
      limits,
      slowloris: { clients: slowClients, closedByServer: slow.filter((c) => c.closedAt !== undefined).length, answered408: slow.filter((c) => status(c) === 408).length, closeSeconds: closeSeconds(slow) },
      stalledBodies: { clients: stalledBodies, closedByServer: stalled.filter((c) => c.closedAt !== undefined).length, answered408: stalled.filter((c) => status(c) === 408).length, closeSeconds: closeSeconds(stalled) },
      burst: { connections: burst, refused429: crowd.filter((c) => status(c) === 429).length, held: crowd.filter((c) => c.closedAt === undefined).length },
      work: { jobs, succeeded: done.filter((r) => r.ok).length, latencies: done.filter((r) => r.ok).map((r) => r.seconds), baselineLatencies: baseline.filter((r) => r.ok).map((r) => r.seconds), failures: done.filter((r) => !r.ok).map((r) => r.error), polls: pollResult.n, pollErrors: pollResult.errors },
      connectionsHeld: { max: Math.max(...samples.map((s) => s.held)), atEnd: samples.at(-1).held },
      memoryMiB: { rssStart: samples[0].rssMiB, rssMax: Math.max(...samples.map((s) => s.rssMiB)), rssEnd: samples.at(-1).rssMiB, heapMax: Math.max(...samples.map((s) => s.heapMiB)) },
      samples: samples.map((s) => ({ t: (s.t - t0) / 1000, held: s.held, rssMiB: Math.round(s.rssMiB), heapMiB: Math.round(s.heapMiB) })),
    };
    for (const c of [...slow, ...stalled, ...crowd]) c.socket.destroy();
    // Passes when the server shed every slow client, refused the excess of the burst, and did all the real work.
    report.pass =
      report.slowloris.closedByServer === slowClients &&
      report.stalledBodies.closedByServer === stalledBodies &&
      report.burst.refused429 === Math.max(0, burst - limits.maxConnectionsPerAddress) &&
      report.work.succeeded === jobs &&
      report.work.pollErrors === 0;
    return report;
  } finally {
    clearInterval(sampler);
    await server.close();
  }
}
