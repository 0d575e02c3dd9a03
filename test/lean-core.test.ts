import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanEnv } from './helpers/cli.js';
import { tempDir, tinyModel } from './helpers/models.js';

// The core package, laid out as an install without its optional peers: lib/ copied (a link would resolve
// packages from the repository's node_modules), only the core's own dependencies (and `extra`) in node_modules.
const repo = path.resolve(import.meta.dirname, '..');
const CORE_DEPENDENCIES = Object.keys(JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')).dependencies);

function coreInstall(extra: readonly string[] = []): string {
  const root = path.join(tempDir(), 'node_modules', 'diffusekit');
  fs.mkdirSync(path.join(root, 'node_modules', '@fastify'), { recursive: true });
  fs.cpSync(path.join(repo, 'lib'), path.join(root, 'lib'), { recursive: true });
  for (const file of ['package.json', 'engine.json']) fs.copyFileSync(path.join(repo, file), path.join(root, file));
  fs.symlinkSync(path.join(repo, 'build'), path.join(root, 'build'));
  for (const name of [...CORE_DEPENDENCIES, ...extra]) fs.symlinkSync(path.join(repo, 'node_modules', name), path.join(root, 'node_modules', name));
  return root;
}

function runNode(root: string, args: string[], env: NodeJS.ProcessEnv = cleanEnv()) {
  return spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env });
}

/** Runs an ES module script inside the install; its last stdout line is JSON. */
function runScript(root: string, source: string, env?: NodeJS.ProcessEnv): { status: number | null; stderr: string; result: any } {
  const file = path.join(root, 'probe.mjs');
  fs.writeFileSync(file, source);
  const child = runNode(root, [file], env);
  const lastLine = child.stdout.trim().split('\n').at(-1) ?? '';
  return { status: child.status, stderr: child.stderr, result: lastLine ? JSON.parse(lastLine) : undefined };
}

describe('the core without the server, stores and ffmpeg installed', () => {
  it('does not list them as dependencies', () => {
    expect(CORE_DEPENDENCIES).not.toEqual(expect.arrayContaining(['fastify']));
    for (const name of ['fastify', 'better-sqlite3', 'bullmq', 'ioredis', '@aws-sdk/client-s3', '@ffmpeg-installer/ffmpeg', 'onnxruntime-node']) {
      expect(CORE_DEPENDENCIES).not.toContain(name);
    }
  });

  it('generates an image, and names the package that MP4 encoding needs', () => {
    const root = coreInstall();
    const model = tinyModel();
    const { status, stderr, result } = runScript(root, `
      import { Pipeline, encodeVideo, PixelImage, MissingDependencyError } from 'diffusekit';
      const pipe = await Pipeline.load({ model: ${JSON.stringify(model)}, logLevel: 'error' });
      const [image] = await pipe.generate({ prompt: 'a red apple', width: 64, height: 64, steps: 1, seed: 7 });
      const png = await image.toPNG();
      await pipe.dispose();
      let mp4;
      try { await encodeVideo([image], 8, 'mp4'); mp4 = 'encoded'; }
      catch (err) { mp4 = { name: err.name, code: err.code, packageName: err.packageName, isMissing: err instanceof MissingDependencyError, message: err.message }; }
      console.log(JSON.stringify({ width: image.width, height: image.height, png: png.subarray(1, 4).toString(), mp4 }));
    `);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(result).toMatchObject({ width: 64, height: 64, png: 'PNG' });
    expect(result.mp4).toMatchObject({ name: 'MissingDependencyError', code: 'ERR_MISSING_DEPENDENCY', packageName: '@ffmpeg-installer/ffmpeg', isMissing: true });
    expect(result.mp4.message).toContain('npm install @ffmpeg-installer/ffmpeg');
  });

  it('`diffusekit generate` writes an image', () => {
    const root = coreInstall();
    const out = path.join(root, 'apple.png');
    const child = runNode(root, [path.join(root, 'lib', 'cli', 'main.js'), 'generate', 'a red apple', '-m', tinyModel(), '--size', '64x64', '--steps', '1', '-o', out, '--quiet']);
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(fs.readFileSync(out).subarray(1, 4).toString()).toBe('PNG');
  });

  it('`diffusekit serve` and `diffusekit keys` say to install diffusekit-server', () => {
    const root = coreInstall();
    for (const command of [['serve', '--no-auth'], ['keys', 'list']]) {
      const child = runNode(root, [path.join(root, 'lib', 'cli', 'main.js'), ...command]);
      expect(child.status).toBe(1);
      expect(child.stderr).toMatch(new RegExp(`diffusekit ${command[0]} needs the package (@fastify/\\w+|fastify|better-sqlite3|ipaddr\\.js|ioredis|bullmq), which is not installed: npm install diffusekit-server`));
    }
  });

  it('the Redis queue and S3 storage name their packages when only the server itself is installed', () => {
    const server = ['fastify', '@fastify/ajv-compiler', '@fastify/formbody', '@fastify/multipart', '@fastify/static', '@fastify/swagger', '@fastify/swagger-ui', 'better-sqlite3', 'ipaddr.js'];
    const root = coreInstall(server);
    const { status, stderr, result } = runScript(root, `
      import { createServer } from 'diffusekit/server';
      const outcome = async (options) => {
        try { const server = await createServer({ auth: false, logger: false, dataDir: ${JSON.stringify(path.join(root, 'data'))}, ...options }); await server.close(); return 'created'; }
        catch (err) { return { code: err.code, packageName: err.packageName, message: err.message }; }
      };
      console.log(JSON.stringify({
        redis: await outcome({ queue: 'redis', redisUrl: 'redis://127.0.0.1:1' }),
        s3: await outcome({ queue: 'redis', redisUrl: 'redis://127.0.0.1:1', storage: 's3', s3: { bucket: 'b', endpoint: 'http://127.0.0.1:1', region: 'us-east-1' } }),
      }));
    `);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(result.redis).toMatchObject({ code: 'ERR_MISSING_DEPENDENCY', packageName: expect.stringMatching(/^(bullmq|ioredis)$/) });
    expect(result.redis.message).toContain('The Redis queue (--queue redis) needs the package');
    expect(result.s3).toMatchObject({ code: 'ERR_MISSING_DEPENDENCY', packageName: expect.stringMatching(/^@aws-sdk\/(client-s3|s3-request-presigner)$/) });
    expect(result.s3.message).toContain('npm install @aws-sdk/client-s3 @aws-sdk/s3-request-presigner');
  });
});

describe('the diffusekit-server package (npm workspace packages/diffusekit-server)', () => {
  it('re-exports diffusekit/server and runs `diffusekit serve` as its bin', async () => {
    const [serverPackage, core] = await Promise.all([import('diffusekit-server'), import('diffusekit/server')]);
    expect(serverPackage.createServer).toBe(core.createServer);
    const manifest = JSON.parse(fs.readFileSync(path.join(repo, 'packages', 'diffusekit-server', 'package.json'), 'utf8'));
    const corePeers = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')).peerDependencies;
    // It brings the core's optional peers that the server needs, at the same versions.
    for (const [name, version] of Object.entries(manifest.dependencies)) if (name in corePeers) expect(version).toBe(corePeers[name]);
    expect(Object.keys(manifest.dependencies)).toEqual(expect.arrayContaining(['fastify', 'better-sqlite3', 'bullmq', 'ioredis', '@aws-sdk/client-s3']));
    const help = spawnSync(process.execPath, [path.join(repo, 'packages', 'diffusekit-server', manifest.bin['diffusekit-server']), '--help'], { encoding: 'utf8', env: cleanEnv() });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^diffusekit serve: /);
  });
});
