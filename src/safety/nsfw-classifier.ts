import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ModelLoadError } from '../errors.js';
import type { PixelImage } from '../pipeline/generated-image.js';
import { defined, invalidParameter, isPlainObject, numberIn, oneOf } from '../util/is.js';
import { importOptional } from '../util/optional-import.js';
import type { Classification } from './classification.js';

/**
 * A trained NSFW image classifier that needs no download: nsfwjs ships its models (MobileNet v2, a larger
 * MobileNet v2 graph model, Inception v3) inside its npm package, and they run on TensorFlow.js in this process:
 * the WebAssembly backend by default (an order of magnitude faster here than the pure-JS one), without
 * @tensorflow/tfjs-node, which would have to download a native library. Every file is read from the installed
 * packages on disk; nothing is fetched.
 */

export const NSFW_MODELS = ['MobileNetV2', 'MobileNetV2Mid', 'InceptionV3'] as const;
export type NsfwModel = (typeof NSFW_MODELS)[number];
export const NSFW_CLASSES = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'] as const;
export type NsfwClass = (typeof NSFW_CLASSES)[number];

export interface NsfwClassifierOptions {
  /** Which of nsfwjs's models. Default 'MobileNetV2' (the smallest and fastest). */
  model?: NsfwModel;
  /** TensorFlow.js backend: 'wasm' (default) or 'cpu' (pure JavaScript, slower). */
  backend?: 'wasm' | 'cpu';
  /** Probability from which a class flags an image, per class; classes left out never flag. */
  thresholds?: Partial<Record<NsfwClass, number>>;
}

export interface ResolvedNsfwOptions {
  model: NsfwModel;
  backend: 'wasm' | 'cpu';
  thresholds: Partial<Record<NsfwClass, number>>;
}

export const DEFAULT_NSFW_THRESHOLDS: Readonly<Partial<Record<NsfwClass, number>>> = { Porn: 0.5, Hentai: 0.5, Sexy: 0.8 };
const UNSAFE_CLASSES: readonly NsfwClass[] = ['Porn', 'Hentai', 'Sexy'];

/** Checks the options (where a server starts, so that a bad setting fails there, not at the first job). */
export function resolveNsfwOptions(value: unknown = {}, parameter = 'nsfwClassifier'): ResolvedNsfwOptions {
  if (!isPlainObject(value)) throw invalidParameter(parameter, '{ model?, backend?, thresholds? }', value);
  const model = defined(value.model) ? oneOf(`${parameter}.model`, value.model, NSFW_MODELS) : 'MobileNetV2';
  const backend = defined(value.backend) ? oneOf(`${parameter}.backend`, value.backend, ['wasm', 'cpu'] as const) : 'wasm';
  let thresholds: Partial<Record<NsfwClass, number>> = { ...DEFAULT_NSFW_THRESHOLDS };
  if (defined(value.thresholds)) {
    if (!isPlainObject(value.thresholds)) throw invalidParameter(`${parameter}.thresholds`, `object of class: probability (classes ${NSFW_CLASSES.join(', ')})`, value.thresholds);
    thresholds = {};
    for (const [name, threshold] of Object.entries(value.thresholds)) {
      const cls = oneOf(`${parameter}.thresholds key`, name, NSFW_CLASSES);
      thresholds[cls] = numberIn(`${parameter}.thresholds.${name}`, threshold, 0, 1);
    }
    if (Object.keys(thresholds).length === 0) throw invalidParameter(`${parameter}.thresholds`, 'at least one class', value.thresholds);
  }
  return { model, backend, thresholds };
}

/** The classes whose probability reached their threshold; a class without a threshold never flags. */
export function classesOverThreshold(scores: Record<string, number>, thresholds: Partial<Record<NsfwClass, number>>): NsfwClass[] {
  return NSFW_CLASSES.filter((c) => thresholds[c] !== undefined && (scores[c] ?? 0) >= thresholds[c]!);
}

const require = createRequire(import.meta.url);

/**
 * The model's files in the installed nsfwjs package, without loading anything: a missing package or model
 * fails here, with the package to install. Cheap enough for server start-up.
 */
export function nsfwModelFiles(model: NsfwModel): string[] {
  let packageDir: string;
  try {
    for (const pkg of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm']) require.resolve(pkg);
    packageDir = path.dirname(path.dirname(path.dirname(require.resolve('nsfwjs'))));
  } catch (err) {
    throw new ModelLoadError(
      `the NSFW image classifier needs the optional packages nsfwjs, @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm (${(err as Error).message.split('\n')[0]}); ` +
        'install them with: npm install nsfwjs @tensorflow/tfjs @tensorflow/tfjs-backend-wasm',
    );
  }
  const dir = path.join(packageDir, 'dist', 'models', MODEL_DIRS[model]);
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.min.js')) : [];
  if (!files.includes('model.min.js') || files.length < 2) throw new ModelLoadError(`the NSFW classifier model ${model} is missing from the installed nsfwjs package (${dir})`);
  return files.map((f) => path.join(dir, f));
}

const MODEL_DIRS: Record<NsfwModel, string> = { MobileNetV2: 'mobilenet_v2', MobileNetV2Mid: 'mobilenet_v2_mid', InceptionV3: 'inception_v3' };

type Tf = typeof import('@tensorflow/tfjs');
type NsfwModelInstance = Awaited<ReturnType<(typeof import('nsfwjs'))['load']>>;

let backendReady: Promise<Tf> | undefined;

/** TensorFlow.js's backend is process-wide: chosen once, by the first classifier loaded. */
function tensorflow(backend: 'wasm' | 'cpu'): Promise<Tf> {
  backendReady ??= (async () => {
    const tf = await importOptional('@tensorflow/tfjs', 'the NSFW image classifier', () => import('@tensorflow/tfjs'));
    if (backend === 'wasm') {
      const wasm = await importOptional('@tensorflow/tfjs-backend-wasm', 'the NSFW image classifier', () => import('@tensorflow/tfjs-backend-wasm'));
      // The .wasm binaries from the installed package, read from disk.
      wasm.setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}${path.sep}`);
    }
    if (!(await tf.setBackend(backend))) throw new ModelLoadError(`TensorFlow.js could not start its ${backend} backend`);
    await tf.ready();
    return tf;
  })();
  backendReady.catch(() => (backendReady = undefined));
  return backendReady;
}

export class NsfwClassifier {
  readonly options: ResolvedNsfwOptions;
  readonly #tf: Tf;
  readonly #model: NsfwModelInstance;
  readonly #size: number;

  private constructor(options: ResolvedNsfwOptions, tf: Tf, model: NsfwModelInstance) {
    this.options = options;
    this.#tf = tf;
    this.#model = model;
    this.#size = options.model === 'InceptionV3' ? 299 : 224;
  }

  /** Loads the model from the nsfwjs package (about 2 s for MobileNetV2). Fails with ModelLoadError. */
  static async load(options: NsfwClassifierOptions | ResolvedNsfwOptions = {}): Promise<NsfwClassifier> {
    const resolved = resolveNsfwOptions(options);
    nsfwModelFiles(resolved.model);
    const tf = await tensorflow(resolved.backend);
    const nsfwjs = await importOptional('nsfwjs', 'the NSFW image classifier', () => import('nsfwjs'));
    // nsfwjs announces the model on console.info; a server's log is not the place for it.
    const info = console.info;
    console.info = () => {};
    try {
      // A known model name makes nsfwjs import the bundled files; anything else would be fetched as a URL.
      const model = await nsfwjs.load(resolved.model, { size: resolved.model === 'InceptionV3' ? 299 : 224 });
      return new NsfwClassifier(resolved, tf, model);
    } catch (err) {
      throw new ModelLoadError(`cannot load the NSFW classifier ${resolved.model}: ${(err as Error).message}`);
    } finally {
      console.info = info;
    }
  }

  /** Class probabilities of one image and whether any class reached its threshold. */
  async classify(image: PixelImage): Promise<Classification> {
    const size = this.#size;
    const pixels = await image.toSharp().removeAlpha().resize(size, size, { fit: 'fill' }).raw().toBuffer();
    const input = this.#tf.tensor3d(new Int32Array(pixels), [size, size, 3], 'int32');
    let predictions: { className: string; probability: number }[];
    try {
      predictions = await this.#model.classify(input, NSFW_CLASSES.length);
    } finally {
      input.dispose();
    }
    const scores = Object.fromEntries(NSFW_CLASSES.map((c) => [c, predictions.find((p) => p.className === c)?.probability ?? 0]));
    const flaggedClasses = classesOverThreshold(scores, this.options.thresholds);
    const unsafe = UNSAFE_CLASSES.reduce((sum, c) => sum + scores[c]!, 0);
    return { scores, unsafe, flagged: flaggedClasses.length > 0, flaggedClasses };
  }

  dispose(): void {
    this.#model.dispose();
  }
}

const shared = new Map<string, Promise<NsfwClassifier>>();

/**
 * Classifies one image with nsfwjs, loading the classifier on the first call (per option set) and keeping it
 * for later calls. For repeated use with a known lifetime, NsfwClassifier.load() and dispose() instead.
 */
export async function classifyImage(image: PixelImage, options: NsfwClassifierOptions = {}): Promise<Classification> {
  const resolved = resolveNsfwOptions(options, 'options');
  const key = JSON.stringify(resolved);
  let classifier = shared.get(key);
  if (!classifier) {
    classifier = NsfwClassifier.load(resolved);
    shared.set(key, classifier);
    classifier.catch(() => shared.delete(key));
  }
  return (await classifier).classify(image);
}
