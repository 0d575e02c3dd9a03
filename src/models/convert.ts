import fs from 'node:fs';
import path from 'node:path';
import { nativeBinding } from '../engine/binding.js';
import { logLevelFromNative, logLevelToNative, type LogCallback, type LogLevel } from '../engine/logging.js';
import { InvalidArgumentError, ModelLoadError } from '../errors.js';
import { WEIGHT_TYPES, type LoadProgressEvent, type WeightType } from '../pipeline/options.js';
import { invalidParameter, isPlainObject, oneOf, optionalFunction, optionalString } from '../util/is.js';
import { inspectModelFile, type ModelFileInfo } from './inspect.js';

export interface ConvertOptions {
  /** Weight type of the output, e.g. 'q8_0', 'q5_0', 'q4_0', 'f16'. */
  weightType: WeightType;
  /** A separate VAE to bake into the output. */
  vae?: string;
  /** Per-tensor overrides, the engine's syntax: "regex=type,regex=type" (e.g. "^vae\\.=f16"). */
  tensorTypeRules?: string;
  onLog?: LogCallback;
  logLevel?: LogLevel;
  /** Tensors read so far, while the input loads (the output is written after). */
  onProgress?: (event: LoadProgressEvent) => void;
}

/**
 * Writes a checkpoint converted to `weightType` (quantized .gguf, or .safetensors for float types), on a
 * worker thread. Small and normalization tensors keep a float type, as the engine decides. The output
 * is written under a temporary name and renamed, so a failed run leaves no partial file.
 */
export async function convertModel(input: string, output: string, options: ConvertOptions): Promise<ModelFileInfo> {
  if (!isPlainObject(options)) throw invalidParameter('options', 'object', options);
  const weightType = oneOf('weightType', options.weightType, WEIGHT_TYPES);
  if (typeof output !== 'string' || !/\.(gguf|safetensors)$/i.test(output)) throw invalidParameter('output', 'path ending in .gguf or .safetensors', output);
  if (/\.safetensors$/i.test(output) && !['f32', 'f16', 'bf16'].includes(weightType)) {
    throw new InvalidArgumentError('output', `Quantized weight type ${weightType} needs a .gguf output, not .safetensors`);
  }
  const target = path.resolve(output);
  if (!fs.existsSync(path.dirname(target))) throw new InvalidArgumentError('output', `Output folder does not exist: ${path.dirname(target)}`);
  const source = await inspectModelFile(path.resolve(input));
  const vae = optionalString('vae', options.vae);
  if (vae) await inspectModelFile(path.resolve(vae), 'vae model');
  const onLog = optionalFunction<LogCallback>('onLog', options.onLog);
  const onProgress = optionalFunction<(e: LoadProgressEvent) => void>('onProgress', options.onProgress);
  const tmp = target.replace(/(\.\w+)$/, `.${process.pid}.part$1`);
  try {
    await nativeBinding().convert(
      { input: source.path, vae: vae && path.resolve(vae), output: tmp, weightType, tensorTypeRules: optionalString('tensorTypeRules', options.tensorTypeRules) },
      onLog ? (level, text) => onLog(logLevelFromNative(level), text) : undefined,
      logLevelToNative('logLevel', options.logLevel ?? 'info'),
      onProgress && ((tensors, total) => onProgress({ tensors, total })),
    );
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err instanceof TypeError ? new InvalidArgumentError('weightType', err.message) : new ModelLoadError((err as Error).message);
  }
  return inspectModelFile(target);
}
