import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../../errors.js';
import type { PixelImage } from '../../pipeline/generated-image.js';
import type { Classification } from '../../safety/classification.js';
import { defined, integerIn, invalidParameter, isPlainObject, isString, numberIn, oneOf } from '../../util/is.js';

/**
 * The image half of `safety_checker: "yes"`: an ONNX image classifier (for example an NSFW detector exported
 * from Hugging Face, with its config.json beside it) run on every output; an output whose unsafe labels score
 * at least `threshold` is flagged and blurred. Runs with onnxruntime-node (an optional dependency) on the CPU.
 */
export interface SafetyClassifierOptions {
  /** The .onnx file. */
  model: string;
  /** Class names in output order; default: id2label of a config.json beside the model. */
  labels?: string[];
  /** Labels that count as unsafe. Default: nsfw, porn, hentai, sexy, unsafe, explicit (whichever the model has). */
  unsafeLabels?: string[];
  /** Probability (summed over the unsafe labels) from which an image is flagged, 0-1. Default 0.5. */
  threshold?: number;
  /** Side of the square input. Default 224. */
  size?: number;
  /** Per-channel normalisation of 0-1 pixels. Default mean 0.5, std 0.5 (ViT image processors). */
  mean?: [number, number, number];
  std?: [number, number, number];
  /** 'nchw' (PyTorch exports, default) or 'nhwc' (Keras/TF exports). */
  layout?: 'nchw' | 'nhwc';
  /** How outputs become probabilities: 'softmax' (logits, default), 'sigmoid' (independent labels) or 'none'. */
  activation?: 'softmax' | 'sigmoid' | 'none';
}

export type ResolvedClassifierOptions = Required<Omit<SafetyClassifierOptions, 'labels'>> & { labels: string[] };

const DEFAULT_UNSAFE = ['nsfw', 'porn', 'hentai', 'sexy', 'unsafe', 'explicit'];

/** Checks the options where the server starts (a bad model path fails there, not at the first job). */
export function resolveClassifierOptions(value: unknown): ResolvedClassifierOptions {
  if (!isPlainObject(value) || !isString(value.model)) throw invalidParameter('safetyClassifier', '{ model: path to .onnx, labels?, threshold?, ... }', value);
  const model = path.resolve(value.model);
  if (!fs.existsSync(model)) throw new InvalidArgumentError('safetyClassifier.model', `safetyClassifier.model file not found: ${model}`);
  const labels = defined(value.labels) ? stringList('safetyClassifier.labels', value.labels) : labelsFromConfig(model);
  const unsafe = defined(value.unsafeLabels) ? stringList('safetyClassifier.unsafeLabels', value.unsafeLabels) : DEFAULT_UNSAFE.filter((l) => labels.some((m) => m.toLowerCase() === l));
  const unknown = unsafe.filter((l) => !labels.some((m) => m.toLowerCase() === l.toLowerCase()));
  if (unsafe.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError('safetyClassifier.unsafeLabels', `safetyClassifier.unsafeLabels must name labels of the model (${labels.join(', ')}); ${unknown.length ? `unknown: ${unknown.join(', ')}` : 'none given or found'}`);
  }
  const triple = (name: string, v: unknown, fallback: number): [number, number, number] => {
    if (!defined(v)) return [fallback, fallback, fallback];
    if (!Array.isArray(v) || v.length !== 3) throw invalidParameter(`safetyClassifier.${name}`, 'three numbers (R, G, B)', v);
    return v.map((x, i) => numberIn(`safetyClassifier.${name}[${i}]`, x, -10, 10)) as [number, number, number];
  };
  return {
    model,
    labels,
    unsafeLabels: unsafe,
    threshold: numberIn('safetyClassifier.threshold', value.threshold, 0, 1, 0.5),
    size: integerIn('safetyClassifier.size', value.size, 16, 1024, 224),
    mean: triple('mean', value.mean, 0.5),
    std: triple('std', value.std, 0.5),
    layout: defined(value.layout) ? oneOf('safetyClassifier.layout', value.layout, ['nchw', 'nhwc'] as const) : 'nchw',
    activation: defined(value.activation) ? oneOf('safetyClassifier.activation', value.activation, ['softmax', 'sigmoid', 'none'] as const) : 'softmax',
  };
}

function stringList(parameter: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every(isString)) throw invalidParameter(parameter, 'non-empty array of strings', value);
  return value;
}

/** Hugging Face exports keep the class names in config.json (id2label) beside the model. */
function labelsFromConfig(model: string): string[] {
  const file = path.join(path.dirname(model), 'config.json');
  let config: { id2label?: Record<string, string> };
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw new InvalidArgumentError('safetyClassifier.labels', `safetyClassifier.labels: give the class names, or put the model's config.json (with id2label) beside ${model}`);
  }
  const entries = Object.entries(config.id2label ?? {}).sort((a, b) => Number(a[0]) - Number(b[0]));
  if (entries.length === 0) throw new InvalidArgumentError('safetyClassifier.labels', `${file} has no id2label: give safetyClassifier.labels`);
  return entries.map(([, label]) => label);
}

export type { Classification };

type Ort = typeof import('onnxruntime-node');
type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

export class ImageClassifier {
  readonly #options: ResolvedClassifierOptions;
  readonly #ort: Ort;
  readonly #session: Session;

  private constructor(options: ResolvedClassifierOptions, ort: Ort, session: Session) {
    this.#options = options;
    this.#ort = ort;
    this.#session = session;
  }

  static async load(options: ResolvedClassifierOptions): Promise<ImageClassifier> {
    let ort: Ort;
    try {
      ort = await import('onnxruntime-node');
    } catch (err) {
      throw new InvalidArgumentError(
        'safetyClassifier',
        `the image classifier needs onnxruntime-node (an optional dependency that did not install: ${(err as Error).message}); ` +
          'install it with: npm install onnxruntime-node --onnxruntime-node-install=skip',
      );
    }
    const session = await ort.InferenceSession.create(options.model, { intraOpNumThreads: 1 });
    return new ImageClassifier(options, ort, session);
  }

  async classify(image: PixelImage): Promise<Classification> {
    const { size, mean, std, layout, labels, unsafeLabels, threshold, activation } = this.#options;
    const pixels = await image.toSharp().removeAlpha().resize(size, size, { fit: 'fill' }).raw().toBuffer();
    const input = new Float32Array(3 * size * size);
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < 3; c++) {
        const v = (pixels[p * 3 + c] / 255 - mean[c]) / std[c];
        input[layout === 'nchw' ? c * size * size + p : p * 3 + c] = v;
      }
    }
    const shape = layout === 'nchw' ? [1, 3, size, size] : [1, size, size, 3];
    const result = await this.#session.run({ [this.#session.inputNames[0]]: new this.#ort.Tensor('float32', input, shape) });
    const raw = Array.from(result[this.#session.outputNames[0]].data as Float32Array);
    if (raw.length !== labels.length) throw new Error(`the classifier gave ${raw.length} outputs for ${labels.length} labels`);
    const probabilities = activation === 'softmax' ? softmax(raw) : activation === 'sigmoid' ? raw.map((x) => 1 / (1 + Math.exp(-x))) : raw;
    const scores = Object.fromEntries(labels.map((l, i) => [l, probabilities[i]]));
    const unsafeSet = new Set(unsafeLabels.map((l) => l.toLowerCase()));
    const unsafe = labels.reduce((sum, l, i) => sum + (unsafeSet.has(l.toLowerCase()) ? probabilities[i] : 0), 0);
    return { scores, unsafe, flagged: unsafe >= threshold };
  }
}

function softmax(values: number[]): number[] {
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}
