/** Every error diffusekit raises on purpose carries a stable `code`, like Node's own errors. */
export type DiffusekitErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_MODEL_FILE'
  | 'ERR_MODEL_LOAD'
  | 'ERR_GENERATION'
  | 'ERR_DISPOSED'
  | 'ERR_ENGINE_STATE'
  | 'ERR_NATIVE_BINDING'
  | 'ERR_DEVICE_UNAVAILABLE'
  | 'ERR_DOWNLOAD'
  | 'ERR_VIDEO_ENCODE'
  | 'ERR_MISSING_DEPENDENCY'
  | 'ERR_TRAINING'
  | 'ERR_TRAINER_MISSING'
  | 'ABORT_ERR';

export class DiffusekitError extends Error {
  readonly code: DiffusekitErrorCode;

  constructor(code: DiffusekitErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A bad argument: wrong type, out of range, unknown name. The message names the parameter. */
export class InvalidArgumentError extends DiffusekitError {
  readonly parameter: string;

  constructor(parameter: string, message: string) {
    super('ERR_INVALID_ARG', message);
    this.parameter = parameter;
  }
}

/** A model file that is missing, unreadable, or not a (complete) model. */
export class ModelFileError extends DiffusekitError {
  readonly path: string;

  constructor(path: string, message: string, options?: ErrorOptions) {
    super('ERR_MODEL_FILE', message, options);
    this.path = path;
  }
}

/** Why a download from the Hugging Face Hub failed. */
export type DownloadFailure = 'gated' | 'not-found' | 'no-file' | 'ambiguous' | 'http' | 'network' | 'verification';

/**
 * A model download that failed: the repository is gated or missing, the repository holds no single checkpoint,
 * the server answered an error, the connection kept dropping, or the bytes did not match the Hub's sha256.
 */
export class DownloadError extends DiffusekitError {
  readonly reason: DownloadFailure;
  /** The HTTP status, when the server answered with an error. */
  readonly status: number | undefined;
  /** With reason 'ambiguous': the files to choose from. */
  readonly candidates: string[] | undefined;

  constructor(reason: DownloadFailure, message: string, options?: ErrorOptions & { status?: number; candidates?: string[] }) {
    super('ERR_DOWNLOAD', message, options);
    this.reason = reason;
    this.status = options?.status;
    this.candidates = options?.candidates;
  }
}

/** The engine refused to load the model; the message carries the engine's own words. */
export class ModelLoadError extends DiffusekitError {
  constructor(message: string) {
    super('ERR_MODEL_LOAD', message);
  }
}

/** The engine failed during generation; the message carries the engine's own words. */
export class GenerationError extends DiffusekitError {
  constructor(message: string) {
    super('ERR_GENERATION', message);
  }
}

/**
 * An internal check of the engine failed during a call (for example a LoRA made for another architecture
 * whose shapes do not fit). The call is rejected instead of the process aborting; the model context is
 * left in an unknown state, so later calls are refused: dispose the Pipeline and load the model again.
 */
export class EngineStateError extends DiffusekitError {
  constructor(message: string) {
    super('ERR_ENGINE_STATE', message);
  }
}

/** Use of a Pipeline after dispose(). */
export class DisposedError extends DiffusekitError {
  constructor(what = 'Pipeline', state = 'has been disposed') {
    super('ERR_DISPOSED', `${what} ${state}`);
  }
}

/** The call was cancelled through its AbortSignal; `cause` is the signal's reason. */
export class AbortError extends DiffusekitError {
  constructor(message = 'The operation was aborted', options?: ErrorOptions) {
    super('ABORT_ERR', message, options);
  }
}

/** Frames could not be encoded as a video file (the encoder failed or is missing). */
export class VideoEncodeError extends DiffusekitError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_VIDEO_ENCODE', message, options);
  }
}

/**
 * A feature needs a package that is not installed: the server (diffusekit-server), the Redis queue (bullmq,
 * ioredis), S3 storage (@aws-sdk/client-s3), MP4/WebM encoding (@ffmpeg-installer/ffmpeg). The core installs
 * without them; the message says what to install.
 */
export class MissingDependencyError extends DiffusekitError {
  /** The package that could not be loaded. */
  readonly packageName: string;
  /** What needed it, e.g. 'diffusekit serve'. */
  readonly feature: string;

  constructor(packageName: string, feature: string, install: string, options?: ErrorOptions) {
    super('ERR_MISSING_DEPENDENCY', `${feature} needs the package ${packageName}, which is not installed: ${install}`, options);
    this.packageName = packageName;
    this.feature = feature;
  }
}

/** Why a requested device cannot be used (docs/gpu.md, "When the GPU is not used"). */
export type DeviceFailure =
  | 'no-backend-library'
  | 'missing-library'
  | 'not-loadable'
  | 'no-driver'
  | 'driver-too-old'
  | 'no-device'
  | 'no-such-device';

/**
 * A device that Pipeline.load was asked for (`device: 'cuda'`, `'cuda:1'`, `'vulkan'`) and cannot run on:
 * no backend module installed, one of its libraries missing, no GPU driver, a driver older than the module
 * needs, no device, or no device with that index. Under `device: 'auto'` the same findings fall back to the CPU.
 */
export class DeviceUnavailableError extends DiffusekitError {
  readonly device: string;
  readonly reason: DeviceFailure;

  constructor(device: string, reason: DeviceFailure, message: string, options?: ErrorOptions) {
    super('ERR_DEVICE_UNAVAILABLE', message, options);
    this.device = device;
    this.reason = reason;
  }
}

/** A LoRA training run failed (the trainer process reported an error or died); the message carries its words. */
export class TrainingError extends DiffusekitError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_TRAINING', message, options);
  }
}

/** The trainer's Python environment is not installed (or is out of date): run `diffusekit trainer setup`. */
export class TrainerMissingError extends DiffusekitError {
  constructor(message: string) {
    super('ERR_TRAINER_MISSING', message);
  }
}
