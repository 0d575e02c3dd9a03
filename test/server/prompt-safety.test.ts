import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { ENHANCE_SYSTEM_PROMPT, TRANSLATE_SYSTEM_PROMPT } from '../../lib/index.js';
import { createServer } from '../../lib/server/index.js';
import { startChatEndpoint } from '../helpers/chat-endpoint.js';
import { synthesizeLlamaGguf } from '../helpers/llama-gguf.js';
import { expectClassifierFlagsAndBlurs, post, startServer, tempDataDir } from './helpers.js';

const tiny = { width: 64, height: 64, num_inference_steps: 1, seed: 11 };

// An enhancer endpoint that translates and enhances by rote, so that what the server does with the answers shows.
describe('enhance_prompt, multi_lingual and the nsfwjs safety checker on a real server', () => {
  let server: DiffusekitServer;
  let endpoint: Awaited<ReturnType<typeof startChatEndpoint>>;
  beforeAll(async () => {
    endpoint = await startChatEndpoint(({ body }) => {
      const [system, user] = body.messages;
      if (system!.content === TRANSLATE_SYSTEM_PROMPT) return user!.content === 'un faro al atardecer con el mar' ? 'a lighthouse at dusk by the sea' : user!.content;
      if (user!.content === 'a plain cube') return 'a plain cube';
      if (user!.content === 'a sinking boat') return { status: 500 };
      return `Prompt: "${user!.content}, golden light on the water, oil painting"`;
    });
    // Neutral from 0: every output is flagged once safety_checker asks, whatever the (random) picture.
    server = await startServer({ syncWaitSeconds: 60, promptEnhancerUrl: endpoint.url, nsfwClassifier: { thresholds: { Neutral: 0 } } });
  });
  afterAll(async () => {
    await server?.close();
    await endpoint?.close();
  });

  it('translates, then enhances, and reports both with the original prompt', async () => {
    const { body } = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'un faro al atardecer con el mar', multi_lingual: 'yes', enhance_prompt: 'yes' });
    expect(body.status).toBe('success');
    expect(body.meta).toMatchObject({
      prompt: 'a lighthouse at dusk by the sea, golden light on the water, oil painting',
      original_prompt: 'un faro al atardecer con el mar',
      multi_lingual: 'yes',
      prompt_language: 'es',
      enhance_prompt: 'yes',
    });
  });

  it('says when there was nothing to change, and asks the model nothing it was not asked to', async () => {
    const before = endpoint.calls.length;
    const english = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'a plain cube', multi_lingual: 'yes', enhance_prompt: 'yes' });
    expect(english.body.meta).toMatchObject({ prompt: 'a plain cube', multi_lingual: 'unchanged', prompt_language: 'en', enhance_prompt: 'unchanged' });
    expect(english.body.meta).not.toHaveProperty('original_prompt');
    // English needs no translation: one call (the enhancement), not two.
    expect(endpoint.calls.length).toBe(before + 1);
    const plain = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'a plain cube' });
    expect(plain.body.meta).toMatchObject({ prompt: 'a plain cube', multi_lingual: 'no', enhance_prompt: 'no' });
    expect(endpoint.calls.length).toBe(before + 1);
    expect(endpoint.calls.at(-1)!.body.messages[0]!.content).toBe(ENHANCE_SYSTEM_PROMPT);
  });

  it('OpenAI generations come back with revised_prompt', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
    const result = await client.images.generate({ model: 'dall-e-3', prompt: 'a red barn', size: '64x64', steps: 1 } as never);
    expect(result.data![0]!.revised_prompt).toBe('a red barn, golden light on the water, oil painting');
  });

  it('classifies every output: flagged ones are blurred and listed in nsfw_content_detected', async () => {
    await expectClassifierFlagsAndBlurs(server);
  });

  it('a failing model: the prompt is used as given, and the response says why', async () => {
    const { body } = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'a sinking boat', enhance_prompt: 'yes' });
    expect(body.status).toBe('success');
    expect(body.meta).toMatchObject({ prompt: 'a sinking boat', enhance_prompt: 'failed' });
    expect(body.meta.prompt_model_error).toMatch(/^enhance_prompt: the prompt enhancer at http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions answered 500/);
  });

  it('the word list still checks the prompt first', async () => {
    const { body } = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'a nude statue', safety_checker: 'yes' });
    expect(body).toMatchObject({ nsfw_content_detected: [true], meta: { nsfw_reason: "the prompt contains 'nude'" } });
  });
});

describe('a local GGUF prompt model in the server (node-llama-cpp)', () => {
  let server: DiffusekitServer;
  beforeAll(async () => {
    server = await startServer({ syncWaitSeconds: 60, threads: 1, promptModel: synthesizeLlamaGguf() });
  });
  afterAll(async () => server?.close());

  it('enhances end to end: the job runs on what the model wrote, one line within the bound', async () => {
    const { body } = await post(`${server.url}/api/v6/images/text2img`, { ...tiny, prompt: 'a lighthouse at dusk', enhance_prompt: 'yes' });
    expect(body.status).toBe('success');
    expect(['yes', 'unchanged']).toContain(body.meta.enhance_prompt);
    expect(body.meta.prompt.length).toBeGreaterThan(0);
    expect(body.meta.prompt.length).toBeLessThanOrEqual(600);
    expect(body.meta.prompt).not.toMatch(/[\r\n]/);
    if (body.meta.enhance_prompt === 'yes') expect(body.meta.original_prompt).toBe('a lighthouse at dusk');
  });
});

describe('prompt and safety models that cannot load stop the server at start-up', () => {
  const start = (options: Parameters<typeof createServer>[0]) => createServer({ port: 0, dataDir: tempDataDir(), auth: false, ...options });

  it('names the file, the model or the setting', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-prompt-'));
    const notGguf = path.join(dir, 'model.gguf');
    fs.writeFileSync(notGguf, 'GGML? no');
    await expect(start({ promptModel: notGguf })).rejects.toThrow(/prompt model file .*model\.gguf is not a GGUF file/);
    await expect(start({ promptModel: path.join(dir, 'missing.gguf') })).rejects.toThrow(/not found/);
    await expect(start({ promptModel: notGguf, promptEnhancerUrl: 'http://127.0.0.1:1/v1' })).rejects.toThrow(/promptEnhancerUrl/);
    await expect(start({ promptEnhancerUrl: 'file:///etc/passwd' })).rejects.toThrow(/promptEnhancerUrl/);
    await expect(start({ nsfwClassifier: { model: 'ResNet50' as never } })).rejects.toThrow(/nsfwClassifier.model/);
    await expect(start({ nsfwClassifier: { thresholds: { Porn: 2 } } })).rejects.toThrow(/nsfwClassifier.thresholds.Porn/);
  });
});
