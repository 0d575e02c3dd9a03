import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, DownloadError, listModels, pullModel, resolveModel, type ModelAlias, type PullOptions } from '../src/index.js';
import { FAKE_COMMIT, startFakeHub, TEST_TOKEN, tinyCheckpointBytes, type FakeHub } from './helpers/fake-hub.js';
import { tempDir } from './helpers/models.js';

const sha256 = (body: Buffer) => crypto.createHash('sha256').update(body).digest('hex');

describe('pulling models from the Hub', () => {
  let hub: FakeHub;
  let model: Buffer;
  let other: Buffer;
  const savedEnv = { HF_ENDPOINT: process.env.HF_ENDPOINT, HF_TOKEN: process.env.HF_TOKEN };

  beforeAll(async () => {
    const scratch = tempDir();
    model = tinyCheckpointBytes(scratch, 1);
    other = tinyCheckpointBytes(scratch, 2, 96);
    hub = await startFakeHub({
      'acme/tiny': { files: { 'README.md': { body: Buffer.from('# tiny') }, 'config.json': { body: Buffer.from('{}') }, 'tiny.safetensors': { body: model } } },
      'acme/two': { files: { 'a.safetensors': { body: model }, 'b.gguf': { body: other }, 'unet/x.safetensors': { body: model } } },
      'acme/nested': { files: { 'README.md': { body: Buffer.from('x') }, 'weights/only.safetensors': { body: model } } },
      'acme/gated': { gated: true, files: { 'gated.safetensors': { body: model } } },
      'acme/flaky': { files: { 'flaky.safetensors': { body: other, dropAfter: 40_000 } } },
      'acme/stubborn': { files: { 'stubborn.safetensors': { body: other, dropAfter: 30_000, ignoreRange: true } } },
      'acme/corrupt': { files: { 'corrupt.safetensors': { body: model, advertisedSha256: sha256(other) } } },
      'acme/generic': { files: { 'diffusion_pytorch_model.safetensors': { body: other } } },
    });
    process.env.HF_ENDPOINT = hub.url;
    delete process.env.HF_TOKEN;
  });

  afterAll(async () => {
    await hub.close();
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  afterEach(() => {
    hub.requests.length = 0;
  });

  const options = (dir: string, extra: PullOptions = {}): PullOptions => ({ dir, retryDelayMs: 5, ...extra });
  const libraryFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f !== '.partial' && f !== 'manifest.json');

  it('pulls owner/repo:file, verifies it against the Hub and records its source', async () => {
    const dir = tempDir();
    const events: { received: number; total?: number }[] = [];
    const result = await pullModel('acme/tiny:tiny.safetensors', options(dir, { onProgress: (e) => events.push(e) }));
    expect(result).toMatchObject({
      name: 'tiny', fileName: 'tiny.safetensors', path: path.join(dir, 'tiny.safetensors'), repo: 'acme/tiny', file: 'tiny.safetensors',
      revision: 'main', commit: FAKE_COMMIT, sha256: sha256(model), size: model.length, downloaded: true,
    });
    expect(fs.readFileSync(result.path).equals(model)).toBe(true);
    expect(events.at(-1)).toMatchObject({ file: 'tiny.safetensors', received: model.length, total: model.length });
    expect(events.at(-1)!.bytesPerSecond).toBeGreaterThanOrEqual(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.files['tiny.safetensors']).toMatchObject({ repo: 'acme/tiny', file: 'tiny.safetensors', revision: 'main', sha256: sha256(model), size: model.length });
    // The HEAD asks the Hub (which redirects); the bytes come from the CDN.
    expect(hub.requests.some((r) => r.method === 'HEAD' && r.url === '/acme/tiny/resolve/main/tiny.safetensors')).toBe(true);
    expect(hub.cdnRequests()).toHaveLength(1);
    expect(fs.readdirSync(path.join(dir, '.partial'))).toEqual([]);
    const [listed] = await listModels({ dir });
    expect(listed).toMatchObject({ name: 'tiny', family: 'sd1', role: 'checkpoint', weightType: 'f16', size: model.length, source: { repo: 'acme/tiny' } });
  });

  it('without a file, picks the repository\'s single checkpoint (top level first)', async () => {
    const dir = tempDir();
    expect((await pullModel('acme/tiny', options(dir))).file).toBe('tiny.safetensors');
    expect(hub.requests.some((r) => r.url === '/api/models/acme/tiny/revision/main')).toBe(true);
    const nested = await pullModel('acme/nested', options(dir));
    expect([nested.file, nested.fileName]).toEqual(['weights/only.safetensors', 'only.safetensors']);
  });

  it('refuses an ambiguous repository, listing the candidates, and leaves nothing behind', async () => {
    const dir = tempDir();
    const error = await pullModel('acme/two', options(dir)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error).toMatchObject({ code: 'ERR_DOWNLOAD', reason: 'ambiguous', candidates: ['a.safetensors', 'b.gguf'] });
    expect((error as Error).message).toContain("diffusekit models pull acme/two:FILE");
    expect(fs.existsSync(dir) ? libraryFiles(dir) : []).toEqual([]);
  });

  it('a gated repository needs HF_TOKEN: 401 says so; the token goes to the Hub, never to the CDN', async () => {
    const dir = tempDir();
    const refused = await pullModel('acme/gated:gated.safetensors', options(dir)).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'ERR_DOWNLOAD', reason: 'gated', status: 401 });
    expect((refused as Error).message).toMatch(/acme\/gated is gated.*accept its license on http:\/\/127\.0\.0\.1:\d+\/acme\/gated.*HF_TOKEN/);
    const wrong = await pullModel('acme/gated:gated.safetensors', options(dir, { token: 'nope' })).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ reason: 'gated', status: 403 });
    expect((wrong as Error).message).toContain('HF_TOKEN has no access');

    hub.requests.length = 0;
    process.env.HF_TOKEN = TEST_TOKEN;
    try {
      const result = await pullModel('acme/gated:gated.safetensors', options(dir));
      expect(result.downloaded).toBe(true);
    } finally {
      delete process.env.HF_TOKEN;
    }
    const resolves = hub.requests.filter((r) => r.url.includes('/resolve/'));
    expect(resolves.length).toBeGreaterThan(0);
    for (const r of resolves) expect(r.headers.authorization).toBe(`Bearer ${TEST_TOKEN}`);
    expect(hub.cdnRequests()).toHaveLength(1);
    expect(hub.cdnRequests()[0].headers.authorization).toBeUndefined();
  });

  it('resumes a dropped connection from the partial file (Range, If-Range) and verifies the whole file', async () => {
    const dir = tempDir();
    const result = await pullModel('acme/flaky:flaky.safetensors', options(dir));
    expect(fs.readFileSync(result.path).equals(other)).toBe(true);
    expect(result.sha256).toBe(sha256(other));
    const [first, second] = hub.cdnRequests();
    expect(first.headers.range).toBeUndefined();
    expect(second.headers.range).toBe('bytes=40000-');
    expect(second.headers['if-range']).toMatch(/^"cdn-/);
  });

  it('keeps an interrupted pull as a partial that is never listed, and resumes it on the next pull', async () => {
    const dir = tempDir();
    hub.repos['acme/later'] = { files: { 'later.safetensors': { body: other, dropAfter: 25_000 } } };
    const dropped = await pullModel('acme/later:later.safetensors', options(dir, { retries: 0 })).catch((e: unknown) => e);
    expect(dropped).toMatchObject({ code: 'ERR_DOWNLOAD', reason: 'network' });
    expect((dropped as Error).message).toContain('run the pull again to resume');
    expect(fs.statSync(path.join(dir, '.partial', 'later.safetensors.part')).size).toBe(25_000);
    expect(await listModels({ dir })).toEqual([]);
    await expect(resolveModel('later', { dir })).rejects.toThrow(/neither a file nor a model in the library/);

    hub.requests.length = 0;
    const result = await pullModel('acme/later:later.safetensors', options(dir));
    expect(hub.cdnRequests().map((r) => r.headers.range)).toEqual(['bytes=25000-']);
    expect(fs.readFileSync(result.path).equals(other)).toBe(true);
    expect((await listModels({ dir })).map((m) => m.name)).toEqual(['later']);
  });

  it('starts over when the server answers a Range request with the whole file (200)', async () => {
    const dir = tempDir();
    const result = await pullModel('acme/stubborn:stubborn.safetensors', options(dir));
    expect(hub.cdnRequests().map((r) => r.headers.range)).toEqual([undefined, 'bytes=30000-']);
    expect(fs.readFileSync(result.path).equals(other)).toBe(true);
  });

  it('deletes a download whose bytes do not match the Hub\'s sha256, and leaves no model behind', async () => {
    const dir = tempDir();
    const error = await pullModel('acme/corrupt:corrupt.safetensors', options(dir)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error).toMatchObject({ reason: 'verification' });
    expect((error as Error).message).toMatch(/corrupt\.safetensors: the download is corrupt \(its sha256 is [0-9a-f]{64}, the Hub lists [0-9a-f]{64}\)/);
    expect(libraryFiles(dir)).toEqual([]);
    expect(fs.readdirSync(path.join(dir, '.partial'))).toEqual([]);
    expect(await listModels({ dir })).toEqual([]);
  });

  it('names missing files and repositories', async () => {
    const dir = tempDir();
    await expect(pullModel('acme/tiny:nope.safetensors', options(dir))).rejects.toMatchObject({ reason: 'not-found', status: 404 });
    await expect(pullModel('acme/missing', options(dir))).rejects.toThrow(/repository acme\/missing not found on http:\/\/127\.0\.0\.1:\d+/);
    await expect(pullModel('not a repo', options(dir))).rejects.toThrow(/Expected an alias \(sd-1\.5, sdxl.*\) or owner\/repo\[:file\] for source/);
  });

  it('pulls by alias: saved under the alias\'s name, resolvable by it, and not downloaded twice', async () => {
    const dir = tempDir();
    const aliases: ModelAlias[] = [
      { name: 'tiny-vae', repo: 'acme/generic', file: 'diffusion_pytorch_model.safetensors', saveAs: 'tiny-vae.safetensors', family: 'sd1', role: 'taesd', description: 'test' },
    ];
    const result = await pullModel('tiny-vae', options(dir, { aliases }));
    expect(result).toMatchObject({ name: 'tiny-vae', alias: 'tiny-vae', repo: 'acme/generic', downloaded: true });
    expect(await resolveModel('tiny-vae', { dir })).toBe(path.join(dir, 'tiny-vae.safetensors'));
    expect((await listModels({ dir }))[0]).toMatchObject({ name: 'tiny-vae', alias: 'tiny-vae' });

    hub.requests.length = 0;
    const again = await pullModel('tiny-vae', options(dir, { aliases }));
    expect(again).toMatchObject({ downloaded: false, sha256: sha256(other) });
    expect(hub.cdnRequests()).toEqual([]);

    // The same generic file name from another repository gets the repository's name in front.
    const generic = await pullModel('acme/generic', options(dir));
    expect(generic.fileName).toBe('diffusion_pytorch_model.safetensors');
    hub.repos['other/generic'] = { files: { 'diffusion_pytorch_model.safetensors': { body: model } } };
    const clash = await pullModel('other/generic', options(dir));
    expect(clash.fileName).toBe('generic-diffusion_pytorch_model.safetensors');
    expect(await resolveModel('other/generic', { dir })).toBe(clash.path);
  });

  it('aborts on its signal and keeps the partial for later', async () => {
    const dir = tempDir();
    hub.repos['acme/slow'] = { files: { 'slow.safetensors': { body: other, dropAfter: 10_000 } } };
    const controller = new AbortController();
    const pulling = pullModel('acme/slow:slow.safetensors', options(dir, { signal: controller.signal, retryDelayMs: 10_000 }));
    setTimeout(() => controller.abort(), 200);
    const error = await pulling.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(fs.statSync(path.join(dir, '.partial', 'slow.safetensors.part')).size).toBe(10_000);
  });
});
