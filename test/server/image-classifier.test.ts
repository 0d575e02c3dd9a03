import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { expectClassifierFlagsAndBlurs, startServer } from './helpers.js';
import { PixelImage } from '../../src/index.js';
import { ImageClassifier, resolveClassifierOptions } from '../../src/server/safety/image-classifier.js';
import { writeTestClassifier } from '../helpers/onnx-classifier.js';

const solid = (r: number, g: number, b: number) => new PixelImage({ width: 40, height: 30, channels: 3, data: Buffer.from(Array.from({ length: 40 * 30 }, () => [r, g, b]).flat()) });

describe('the NSFW image classifier (ONNX)', () => {
  it('scores images with the model and flags those over the threshold; labels come from config.json', async () => {
    const options = resolveClassifierOptions({ model: writeTestClassifier(), size: 32 });
    expect(options).toMatchObject({ labels: ['normal', 'nsfw'], unsafeLabels: ['nsfw'], threshold: 0.5, layout: 'nchw' });
    const classifier = await ImageClassifier.load(options);
    const red = await classifier.classify(solid(230, 20, 20));
    const green = await classifier.classify(solid(20, 230, 20));
    expect(red.flagged).toBe(true);
    expect(red.scores.nsfw).toBeGreaterThan(0.9);
    expect(red.scores.nsfw + red.scores.normal).toBeCloseTo(1, 5);
    expect(green.flagged).toBe(false);
    expect(green.unsafe).toBeLessThan(0.1);
    const strict = await ImageClassifier.load(resolveClassifierOptions({ model: options.model, threshold: 0.999 }));
    expect((await strict.classify(solid(150, 100, 100))).flagged).toBe(false);
  });

  it('refuses bad settings at start-up with the setting named', () => {
    expect(() => resolveClassifierOptions({ model: '/no/such/model.onnx' })).toThrow(/safetyClassifier.model file not found/);
    expect(() => resolveClassifierOptions({ model: writeTestClassifier(), unsafeLabels: ['gore'] })).toThrow(/unknown: gore/);
    expect(() => resolveClassifierOptions({ model: writeTestClassifier(), threshold: 2 })).toThrow(/threshold/);
    expect(() => resolveClassifierOptions({ model: writeTestClassifier(), labels: [] })).toThrow(/safetyClassifier.labels/);
  });
});

// A classifier that calls everything nsfw: what the server does with its verdict, whatever the picture.
describe('safety_checker with an image classifier on a real server', () => {
  let server: DiffusekitServer;
  beforeAll(async () => {
    server = await startServer({ syncWaitSeconds: 60, safetyClassifier: { model: writeTestClassifier([[0, 0], [0, 0], [0, 0]], [-5, 5]), size: 32 } });
  });
  afterAll(async () => server?.close());

  it('flags and blurs what the classifier flags, with an innocent prompt; safety_checker "no" skips it', async () => {
    await expectClassifierFlagsAndBlurs(server);
  });
});
