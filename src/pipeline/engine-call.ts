import { AbortError, DisposedError, EngineStateError, GenerationError } from '../errors.js';
import type { NativeError, NativeImage, NativeProgressCallback } from '../engine/binding.js';
import { PixelImage } from './generated-image.js';
import type { ProgressEvent } from './options.js';
import { abortErrorFor } from './serial-queue.js';

// What image and video jobs share around a native call: progress events and the errors a failed call becomes.

/** The typed error for a rejected native job: aborted (by the signal or by dispose), a failed engine check, or a failure. */
export function engineFailure(err: unknown, signal: AbortSignal | undefined, disposed: boolean): Error {
  const code = (err as NativeError).code;
  if (code === 'ABORT_ERR') {
    if (disposed) return new DisposedError();
    return signal?.aborted ? abortErrorFor(signal) : new AbortError();
  }
  if (code === 'ERR_ENGINE_STATE') return new EngineStateError((err as Error).message);
  return new GenerationError((err as Error).message);
}

/**
 * Turns the engine's progress callbacks into ProgressEvents: step 0 announcements are dropped, each
 * image's sampling runs 1..steps (then again for the hires pass), and callbacks after the last run
 * are tiled VAE decode. A preview of step s arrives just before the progress of step s and rides on it.
 */
export function progressReporter(
  onProgress: (e: ProgressEvent) => void, images: number, started: number, previewEvery?: number, hires = false,
): NativeProgressCallback {
  const samplingRuns = hires ? 2 * images : images;
  let run = 0;
  let preview: NativeImage | undefined;
  return (step, steps, _seconds, previewImage) => {
    if (previewImage) {
      preview = previewImage;
      return;
    }
    if (step === 0) return;
    const phase = run >= samplingRuns ? 'decoding' : run >= images ? 'hires' : 'sampling';
    const event: ProgressEvent = { phase, step, steps, image: Math.min(run % images, images - 1), images, elapsed: (performance.now() - started) / 1000 };
    if (preview && previewEvery && phase !== 'decoding' && (step % previewEvery === 0 || step === steps)) event.preview = new PixelImage(preview);
    preview = undefined;
    onProgress(event);
    if (phase !== 'decoding' && step === steps) run++;
  };
}
