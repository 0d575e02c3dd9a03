import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

it("the client's request and answer types accept what the server's schemas accept and refuse the rest (tsc on types.check.ts)", async () => {
  const tsc = 'node_modules/typescript/bin/tsc';
  const args = ['--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', 'test/client/types.check.ts'];
  const result = await promisify(execFile)(process.execPath, [tsc, ...args]).catch((err: { stdout?: string; code?: number }) => err);
  expect({ code: 'code' in result ? result.code : 0, output: result.stdout }).toEqual({ code: 0, output: '' });
}, 120_000);
