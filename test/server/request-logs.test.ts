import net, { type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { resolveServerConfig } from '../../lib/server/index.js';
import { cleanEnv, cliPath, runUntil } from '../helpers/cli.js';
import { tempDataDir } from './helpers.js';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs `diffusekit serve` outside a test runner's NODE_ENV, asks /health once, stops it; its output. */
async function serveOnce(extra: string[]): Promise<string> {
  const port = await freePort();
  const args = [cliPath, 'serve', '--no-auth', '--host', '127.0.0.1', '--port', String(port), '--data-dir', tempDataDir(), ...extra];
  const run = await runUntil(process.execPath, args, /diffusekit serving on/, (child) => {
    void fetch(`http://127.0.0.1:${port}/health`, { headers: { 'user-agent': 'request-logs-test' } })
      .then((response) => response.text())
      .finally(() => child.kill('SIGTERM'));
  }, { env: cleanEnv({ NODE_ENV: 'production' }) });
  expect(run.triggered).toBe(true);
  return run.output;
}

const jsonLines = (output: string) =>
  output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, any>);

describe('request logs', () => {
  it('are on by default, off under a test runner, and as asked otherwise', () => {
    expect(resolveServerConfig({}, { NODE_ENV: 'production' }).logger).toBe(true);
    expect(resolveServerConfig({}, {}).logger).toBe(true);
    expect(resolveServerConfig({}, { NODE_ENV: 'test' }).logger).toBe(false);
    expect(resolveServerConfig({ logger: true }, { NODE_ENV: 'test' }).logger).toBe(true);
    expect(resolveServerConfig({ logger: false }, {}).logger).toBe(false);
  });

  it('`diffusekit serve` writes JSON lines per request with its request id; --no-log silences them', async () => {
    const logged = jsonLines(await serveOnce([]));
    const incoming = logged.find((line) => line.msg === 'incoming request' && line.req?.url === '/health');
    expect(incoming).toBeDefined();
    expect(incoming!.reqId).toEqual(expect.any(String));
    const completed = logged.find((line) => line.msg === 'request completed' && line.reqId === incoming!.reqId);
    expect(completed).toMatchObject({ res: { statusCode: 200 }, responseTime: expect.any(Number) });

    const quiet = jsonLines(await serveOnce(['--no-log']));
    expect(quiet.filter((line) => line.reqId !== undefined)).toEqual([]);
  });
});
