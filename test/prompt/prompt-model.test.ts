import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, ENHANCE_SYSTEM_PROMPT, LocalLanguageModel, ModelFileError, ModelLoadError, TRANSLATE_SYSTEM_PROMPT, detectLanguage, enhancePrompt, isEnglish,
  openPromptModel, Pipeline, translatePrompt, type PromptLanguageModel,
} from '../../src/index.js';
import { cleanAnswer } from '../../src/prompt/prompt-rewriter.js';
import { startChatEndpoint } from '../helpers/chat-endpoint.js';
import { synthesizeLlamaGguf } from '../helpers/llama-gguf.js';
import { tinyModel } from '../helpers/models.js';

describe('language detection (local, no model)', () => {
  it('tells English from other languages by script and common words', () => {
    expect(detectLanguage('a red fox in the snow, watercolor')).toBe('en');
    expect(detectLanguage('castle, sunset, 4k, dramatic')).toBe('en');
    expect(detectLanguage('un gato con un sombrero en la playa')).toBe('es');
    expect(detectLanguage('une maison dans la forêt avec des arbres')).toBe('fr');
    expect(detectLanguage('ein Hund mit einem Ball auf der Wiese')).toBe('de');
    expect(detectLanguage('кошка на крыше')).toBe('ru');
    expect(detectLanguage('夕暮れの富士山')).toBe('ja');
    expect(detectLanguage('山上的日落')).toBe('zh');
    expect(detectLanguage('바다 위의 등대')).toBe('ko');
    expect(detectLanguage('1234 !!')).toBe('und');
    expect(isEnglish('a lighthouse at dusk')).toBe(true);
    expect(isEnglish('un faro al atardecer con el mar')).toBe(false);
  });
});

describe('cleaning a model answer', () => {
  it('keeps the first line of prompt text, without labels, quotes, control or broken characters, within the bound', () => {
    expect(cleanAnswer('\n  Prompt: "a cat on a roof, moonlight"\nThis prompt adds light.', 600)).toBe('a cat on a roof, moonlight');
    expect(cleanAnswer('Translation: a dog\u0005 in \uFFFDthe park', 600)).toBe('a dog in the park');
    expect(cleanAnswer(' \n\n ', 600)).toBeUndefined();
    const cut = cleanAnswer('word '.repeat(100), 42)!;
    expect(cut.length).toBeLessThanOrEqual(42);
    expect(cut.endsWith('word')).toBe(true);
  });
});

describe('a local GGUF language model (node-llama-cpp, synthetic tiny llama)', () => {
  let model: PromptLanguageModel;
  beforeAll(async () => {
    model = await openPromptModel({ model: synthesizeLlamaGguf(), threads: 1 });
  });
  afterAll(async () => model?.dispose());

  it('loads and answers a chat request within the token budget', async () => {
    expect(model).toBeInstanceOf(LocalLanguageModel);
    const short = await model.complete({ system: ENHANCE_SYSTEM_PROMPT, user: 'a cat', maxTokens: 3 });
    expect(typeof short).toBe('string');
    // Three tokens of this vocabulary are at most 3 x 11 bytes; without the budget the model writes until its context ends.
    expect(Buffer.byteLength(short)).toBeLessThanOrEqual(33);
    expect(short).not.toMatch(/[\r\n]/);
  });

  it('enhances a prompt end to end: one line, within the length bound, reported as revised only when changed', async () => {
    const result = await enhancePrompt(model, 'a lighthouse at dusk', { maxTokens: 40, maxLength: 80 });
    expect(result.prompt.length).toBeGreaterThan(0);
    expect(result.prompt.length).toBeLessThanOrEqual(80);
    expect(result.prompt).not.toMatch(/[\r\n\uFFFD]/);
    expect(result.revised).toBe(result.prompt !== 'a lighthouse at dusk');
  });

  it('translates only what is not English, and leaves an empty prompt alone', async () => {
    const english = await translatePrompt(model, 'a lighthouse at dusk');
    expect(english).toEqual({ prompt: 'a lighthouse at dusk', language: 'en', translated: false });
    const spanish = await translatePrompt(model, 'un faro en la costa al atardecer', { maxTokens: 20, maxLength: 100 });
    expect(spanish.language).toBe('es');
    expect(spanish.prompt.length).toBeLessThanOrEqual(100);
    expect(await enhancePrompt(model, '  ')).toEqual({ prompt: '  ', revised: false });
  });

  it('gives up at the time limit with an AbortError naming the model, and stays usable', async () => {
    const error = await enhancePrompt(model, 'a lighthouse at dusk', { maxTokens: 2000, timeoutMs: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as Error).message).toMatch(/tiny-llama.*gave no answer within 1 ms/);
    const caller = new AbortController();
    caller.abort();
    await expect(enhancePrompt(model, 'a cat', { signal: caller.signal })).rejects.toThrow(AbortError);
    expect(typeof (await model.complete({ system: 's', user: 'a cat', maxTokens: 2 }))).toBe('string');
  });

  it('checks options with the parameter named', async () => {
    await expect(enhancePrompt(model, 'a cat', { maxTokens: 0 })).rejects.toThrow(/Expected integer between 1 and 4096 for maxTokens/);
    await expect(enhancePrompt(model, 42 as unknown as string)).rejects.toThrow(/Expected string for prompt/);
    await expect(enhancePrompt({} as PromptLanguageModel, 'a cat')).rejects.toThrow(/for model/);
  });
});

describe('loading a prompt model that is not there or not a model', () => {
  it('fails with ModelFileError before node-llama-cpp sees the file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-prompt-'));
    const notGguf = path.join(dir, 'notes.gguf');
    fs.writeFileSync(notGguf, 'not a model at all');
    await expect(openPromptModel({ model: notGguf })).rejects.toThrow(ModelFileError);
    await expect(openPromptModel({ model: notGguf })).rejects.toThrow(/is not a GGUF file/);
    await expect(openPromptModel({ model: path.join(dir, 'missing.gguf') })).rejects.toThrow(/not found/);
    await expect(LocalLanguageModel.load(path.join(dir, 'missing.gguf'))).rejects.toThrow(ModelFileError);
    await expect(openPromptModel({ model: synthesizeLlamaGguf(), contextSize: 10 })).rejects.toThrow(/for contextSize/);
  });

  it('reports a GGUF file llama.cpp refuses as ModelLoadError', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-prompt-'));
    const truncated = path.join(dir, 'truncated.gguf');
    fs.writeFileSync(truncated, fs.readFileSync(synthesizeLlamaGguf()).subarray(0, 4096));
    await expect(openPromptModel({ model: truncated, threads: 1 })).rejects.toThrow(ModelLoadError);
  });
});

describe('an OpenAI-compatible chat endpoint (loopback stand-in)', () => {
  it('sends our system prompt and budget, and reads the answer; the configured loopback host is allowed', async () => {
    const endpoint = await startChatEndpoint(({ body }) => (body.messages[0]!.content === TRANSLATE_SYSTEM_PROMPT ? 'a lighthouse on the coast at dusk' : '"A lighthouse on the coast at dusk, warm light on the waves, oil painting"'));
    try {
      const model = await openPromptModel({ url: endpoint.url, model: 'qwen2.5:0.5b', apiKey: 'sk-test' });
      expect(await translatePrompt(model, 'un faro en la costa al atardecer')).toEqual({ prompt: 'a lighthouse on the coast at dusk', language: 'es', translated: true });
      expect(await enhancePrompt(model, 'a lighthouse on the coast at dusk', { maxTokens: 77 })).toEqual({ prompt: 'A lighthouse on the coast at dusk, warm light on the waves, oil painting', revised: true });
      const call = endpoint.calls[1]!;
      expect(call.body).toMatchObject({ model: 'qwen2.5:0.5b', max_tokens: 77, messages: [{ role: 'system', content: ENHANCE_SYSTEM_PROMPT }, { role: 'user', content: 'a lighthouse on the coast at dusk' }] });
      expect(call.headers.authorization).toBe('Bearer sk-test');
    } finally {
      await endpoint.close();
    }
  });

  it('an answer that gives the prompt back is not a revision', async () => {
    const endpoint = await startChatEndpoint(({ body }) => body.messages[1]!.content);
    try {
      const model = await openPromptModel({ url: `${endpoint.url}/chat/completions` });
      expect(await enhancePrompt(model, 'a red barn')).toEqual({ prompt: 'a red barn', revised: false });
    } finally {
      await endpoint.close();
    }
  });

  it('turns failures into errors that name the endpoint, and follows no redirect', async () => {
    const failing = await startChatEndpoint(() => ({ status: 503 }));
    const redirecting = await startChatEndpoint(() => ({ redirect: 'http://127.0.0.2:9/v1/chat/completions' }));
    const notChat = await startChatEndpoint(() => ({ status: 200 }));
    try {
      await expect(enhancePrompt(await openPromptModel({ url: failing.url }), 'a cat')).rejects.toThrow(/127\.0\.0\.1:\d+\/v1\/chat\/completions answered 503/);
      await expect(enhancePrompt(await openPromptModel({ url: redirecting.url }), 'a cat')).rejects.toThrow(/redirects are not followed/);
      await expect(enhancePrompt(await openPromptModel({ url: notChat.url }), 'a cat')).rejects.toThrow(/did not answer with an OpenAI chat completion/);
      await expect(openPromptModel({ url: 'ftp://127.0.0.1/v1' })).rejects.toThrow(/promptEnhancerUrl/);
    } finally {
      await Promise.all([failing.close(), redirecting.close(), notChat.close()]);
    }
  });

  it('times out a silent endpoint', async () => {
    let release!: () => void;
    const silent = await startChatEndpoint(() => new Promise<string>((resolve) => (release = () => resolve('late'))));
    try {
      await expect(enhancePrompt(await openPromptModel({ url: silent.url }), 'a cat', { timeoutMs: 200 })).rejects.toThrow(/gave no answer within 200 ms/);
    } finally {
      release?.();
      await silent.close();
    }
  });
});

describe('Pipeline options multilingual and enhancePrompt', () => {
  it('translate, then enhance, before the engine runs; the image records the prompt used', async () => {
    const endpoint = await startChatEndpoint(({ body }) => (body.messages[0]!.content === TRANSLATE_SYSTEM_PROMPT ? 'a cat on the beach' : `${body.messages[1]!.content}, soft morning light`));
    const pipeline = await Pipeline.load({ model: tinyModel(), threads: 1 });
    try {
      const promptModel = await openPromptModel({ url: endpoint.url });
      const [image] = await pipeline.generate({ prompt: 'un gato en la playa', multilingual: true, enhancePrompt: true, promptModel, width: 64, height: 64, steps: 1, seed: 3 });
      expect(image!.infotext).toMatch(/^a cat on the beach, soft morning light\n/);
      expect(endpoint.calls).toHaveLength(2);
      await expect(pipeline.generate({ prompt: 'a cat', enhancePrompt: true })).rejects.toThrow(/for promptModel/);
      await expect(pipeline.generate({ prompt: 'a cat', multilingual: 'yes' as never, promptModel })).rejects.toThrow(/Expected boolean for multilingual/);
      const [plain] = await pipeline.generate({ prompt: 'a cat', multilingual: false, width: 64, height: 64, steps: 1, seed: 3 });
      expect(plain!.infotext).toMatch(/^a cat\n/);
    } finally {
      await pipeline.dispose();
      await endpoint.close();
    }
  });
});
