import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiffusekitClient } from '../../lib/client/index.js';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { startServer } from '../server/helpers.js';

// The Python client's pytest suite (clients/python/tests) against a real server on a real port, run from here
// so that its result counts in the one test run. The venv comes from clients/python/setup-venv.sh (~/.cache).
const run = promisify(execFile);
const ADMIN_KEY = 'admin-key-for-the-python-tests-0123456789';
const PYTHON_DIR = path.resolve('clients/python');

describe('Python client (pytest) against a real server', () => {
  let server: DiffusekitServer;
  let env: NodeJS.ProcessEnv;
  let python: string;
  beforeAll(async () => {
    python = (await run('bash', [path.join(PYTHON_DIR, 'setup-venv.sh')], { timeout: 300_000 })).stdout.trim();
    server = await startServer({ auth: true, adminKey: ADMIN_KEY, syncWaitSeconds: 0, allowHosts: ['127.0.0.1'] });
    const key = await new DiffusekitClient({ baseUrl: server.url, key: ADMIN_KEY }).keys.create({ name: 'python-tests', max_concurrent: 4 });
    env = { ...process.env, DIFFUSEKIT_URL: server.url, DIFFUSEKIT_KEY: key.key, DIFFUSEKIT_ADMIN_KEY: ADMIN_KEY, DIFFUSEKIT_WEBHOOK_SECRET: key.webhook_secret };
  }, 360_000);
  afterAll(async () => server?.close());

  it('its request types are the ones the server schemas generate', async () => {
    await expect(run(process.execPath, ['scripts/python-types.mjs', '--check'])).resolves.toBeDefined();
  });

  it('installs from its pyproject and passes its tests (sync, async, events, errors, webhooks)', async () => {
    const target = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-python-'));
    try {
      await run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--no-build-isolation', '--target', target, PYTHON_DIR], { timeout: 120_000 });
      expect(fs.existsSync(path.join(target, 'diffusekit_client', 'py.typed'))).toBe(true);
      const result = await run(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', path.join(PYTHON_DIR, 'tests')], {
        env: { ...env, PYTHONPATH: target },
        cwd: target,
        timeout: 600_000,
      }).catch((err: { stdout?: string; stderr?: string; code?: number }) => err);
      const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
      expect({ code: 'code' in result ? result.code : 0, output }).toEqual({ code: 0, output: expect.stringMatching(/\b6 passed\b/) });
    } finally {
      fs.rmSync(target, { recursive: true, force: true });
    }
  });
});
