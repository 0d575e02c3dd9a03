export { Pipeline, type ModelInfo } from './pipeline/pipeline.js';
export type { PipelineInfo } from './pipeline/pipeline-info.js';
export type { Latent } from './engine/binding.js';
export { GeneratedImage, PixelImage } from './pipeline/generated-image.js';
export { GeneratedVideo, type VideoOptions, type VideoParameters } from './pipeline/video.js';
export { encodeVideo, VIDEO_FORMATS, type VideoFormat, type VideoEncodeOptions } from './pipeline/video-encode.js';
export { Upscaler, type UpscalerLoadOptions, type UpscaleOptions } from './pipeline/upscaler.js';
export type {
  GenerateOptions, Img2ImgOptions, InpaintOptions, OutpaintOptions, LoadOptions, LoadProgressEvent, ProgressEvent, VaeTilingOptions, WeightType, CpuPrecision,
} from './pipeline/options.js';
export type { ImageInput, RawImage, FitMode } from './pipeline/image-input.js';
export { MASKED_CONTENTS, type MaskedContent } from './pipeline/inpaint-area.js';
export type { OutpaintAnchor, OutpaintCanvas, OutpaintExtend } from './pipeline/image-tasks.js';
export type { LoraSpec } from './pipeline/loras.js';
export { CPU_PRECISIONS, WEIGHT_TYPES } from './pipeline/options.js';
export { SAMPLERS, SCHEDULERS, resolveSampler, resolveScheduler, type Sampler, type Scheduler, type SamplerChoice } from './pipeline/samplers.js';
export { formatInfotext, type GenerationParameters } from './pipeline/infotext.js';
export { readPngText } from './util/png-text.js';
export { inspectModelFile, detectFamily, modelRole, wanVariant, type WanVariant, type ModelRole, type ModelFileInfo, type ModelFamily, type ModelFormat } from './models/inspect.js';
export type { ModelComponents } from './models/components.js';
export { listModels, removeModel, resolveModel, libraryDir, type LibraryModel, type LibraryOptions, type ResolveOptions } from './models/library.js';
export { pullModel, listRepoFiles, hubFileInfo, type PullOptions, type PullResult, type HubOptions, type DownloadProgress } from './models/hub.js';
export { pullSplitModel, type SplitPullOptions, type SplitPullResult } from './models/split-pull.js';
export { MODEL_ALIASES, SPLIT_MODEL_ALIASES, type ModelAlias, type SplitModelAlias, type SplitModelPart, type LibraryRole } from './models/aliases.js';
export { hubCacheDir, findInHubCache, type HubCacheOptions } from './models/hf-cache.js';
export { convertModel, type ConvertOptions } from './models/convert.js';
export { synthesizeModel, syntheticLayout, type SynthesizeOptions, type SyntheticDtype, type SyntheticModel } from './models/synthesize.js';
export { SYNTHETIC_ARCHITECTURES, type SyntheticArchitecture } from './models/architectures/index.js';
export { openPromptModel, type PromptModelSource } from './prompt/open-prompt-model.js';
export { LocalLanguageModel, type LocalModelOptions } from './prompt/local-model.js';
export type { ChatEndpointOptions } from './prompt/chat-endpoint.js';
export type { PromptLanguageModel, ChatRequest } from './prompt/language-model.js';
export {
  enhancePrompt, translatePrompt, ENHANCE_SYSTEM_PROMPT, TRANSLATE_SYSTEM_PROMPT, type RewriteOptions, type EnhancedPrompt, type TranslatedPrompt,
} from './prompt/prompt-rewriter.js';
export { detectLanguage, isEnglish, type LanguageCode } from './prompt/language-detect.js';
export {
  NsfwClassifier, classifyImage, NSFW_MODELS, NSFW_CLASSES, DEFAULT_NSFW_THRESHOLDS, type NsfwModel, type NsfwClass, type NsfwClassifierOptions,
} from './safety/nsfw-classifier.js';
export type { Classification } from './safety/classification.js';
export { setEngineLogger, LOG_LEVELS, type LogLevel, type LogCallback } from './engine/logging.js';
export { engineInfo, type EngineInfo } from './engine/info.js';
export type { CpuVariantCandidate, CpuVariantReport } from './engine/backends.js';
export { GPU_KINDS, type DeviceSpec, type GpuKind, type GpuBackendStatus, type ResolvedDevice } from './engine/devices.js';
export type { NativeDevice as EngineDevice } from './engine/binding.js';
export type { ComponentPlacement } from './pipeline/device-placement.js';
export {
  DiffusekitError, InvalidArgumentError, ModelFileError, DownloadError, ModelLoadError, GenerationError, EngineStateError, DisposedError, AbortError, VideoEncodeError, MissingDependencyError, DeviceUnavailableError, TrainingError, TrainerMissingError,
  type DiffusekitErrorCode, type DownloadFailure, type DeviceFailure,
} from './errors.js';
export { VERSION } from './version.js';
export { LORA_TYPES, train, TRAINING_DEVICES, type TrainOptions, type TrainResult, type TrainingProgress } from './training/train.js';
export { setupTrainer, trainerVenv, type TrainerSetupOptions, type TrainerSetupResult } from './training/trainer-environment.js';
export { DATASET_EXTENSIONS, MAX_DATASET_IMAGES, type DatasetImage } from './training/dataset.js';
