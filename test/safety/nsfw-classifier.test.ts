import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_NSFW_THRESHOLDS, InvalidArgumentError, NSFW_CLASSES, NsfwClassifier, Pipeline, classifyImage, type GeneratedImage,
} from '../../src/index.js';
import { classesOverThreshold, nsfwModelFiles, resolveNsfwOptions } from '../../src/safety/nsfw-classifier.js';
import { tinyModel } from '../helpers/models.js';

describe('the nsfwjs classifier (trained weights from the npm package)', () => {
  let images: GeneratedImage[];
  let classifier: NsfwClassifier;
  const fetched: string[] = [];
  const realFetch = globalThis.fetch;

  beforeAll(async () => {
    const pipeline = await Pipeline.load({ model: tinyModel(), threads: 1 });
    images = await pipeline.generate({ prompt: 'a teapot', width: 64, height: 64, steps: 1, seed: 5, batchSize: 2 });
    await pipeline.dispose();
    // Every byte of the model must come from the installed package: any fetch during loading is recorded.
    globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      fetched.push(String(input));
      return realFetch(input, init);
    }) as typeof fetch;
    try {
      classifier = await NsfwClassifier.load();
    } finally {
      globalThis.fetch = realFetch;
    }
  });
  afterAll(() => classifier?.dispose());

  it('loads MobileNetV2 on the WebAssembly backend from files on disk, fetching nothing', () => {
    expect(classifier.options).toEqual({ model: 'MobileNetV2', backend: 'wasm', thresholds: DEFAULT_NSFW_THRESHOLDS });
    expect(fetched).toEqual([]);
    expect(nsfwModelFiles('MobileNetV2').map((f) => f.split('/').slice(-3).join('/'))).toEqual(expect.arrayContaining(['models/mobilenet_v2/model.min.js', 'models/mobilenet_v2/group1-shard1of1.min.js']));
  });

  it('returns a probability for each of its five classes for generated images', async () => {
    for (const image of images) {
      const result = await classifier.classify(image);
      expect(Object.keys(result.scores).sort()).toEqual([...NSFW_CLASSES].sort());
      const total = Object.values(result.scores).reduce((a, b) => a + b, 0);
      expect(total).toBeCloseTo(1, 3);
      expect(result.unsafe).toBeCloseTo(result.scores.Porn! + result.scores.Hentai! + result.scores.Sexy!, 6);
      expect(result.flagged).toBe(result.flaggedClasses!.length > 0);
      expect(result.flaggedClasses).toEqual(classesOverThreshold(result.scores, DEFAULT_NSFW_THRESHOLDS));
    }
    // Different pictures, different verdicts: the scores come from the pixels.
    const [a, b] = await Promise.all(images.map((i) => classifier.classify(i)));
    expect(a!.scores).not.toEqual(b!.scores);
    // The shared classifyImage() gives the same numbers as a classifier of the same options.
    expect((await classifyImage(images[0]!)).scores).toEqual(a!.scores);
  });

  it('flags a class from its own threshold, and never a class without one', () => {
    const scores = { Drawing: 0.1, Hentai: 0.05, Neutral: 0.2, Porn: 0.55, Sexy: 0.1 };
    expect(classesOverThreshold(scores, { Porn: 0.5, Hentai: 0.5, Sexy: 0.8 })).toEqual(['Porn']);
    expect(classesOverThreshold(scores, { Porn: 0.6 })).toEqual([]);
    expect(classesOverThreshold(scores, { Sexy: 0.1, Neutral: 0.2 })).toEqual(['Neutral', 'Sexy']);
    expect(classesOverThreshold(scores, {})).toEqual([]);
  });

  it('refuses bad settings with the setting named', () => {
    expect(() => resolveNsfwOptions({ model: 'ResNet50' })).toThrow(/Expected one of MobileNetV2, MobileNetV2Mid, InceptionV3 for nsfwClassifier.model/);
    expect(() => resolveNsfwOptions({ backend: 'webgl' })).toThrow(/nsfwClassifier.backend/);
    expect(() => resolveNsfwOptions({ thresholds: { Gore: 0.5 } })).toThrow(InvalidArgumentError);
    expect(() => resolveNsfwOptions({ thresholds: { Porn: 1.5 } })).toThrow(/nsfwClassifier.thresholds.Porn/);
    expect(() => resolveNsfwOptions({ thresholds: {} })).toThrow(/at least one class/);
    expect(resolveNsfwOptions({ thresholds: { Porn: 0.3 } }).thresholds).toEqual({ Porn: 0.3 });
  });
});
