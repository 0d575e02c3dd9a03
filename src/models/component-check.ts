import { InvalidArgumentError } from '../errors.js';
import { latentChannels, textEncoderKind, visionEncoderKind, type ModelFamily, type ModelFileInfo, type TextEncoderKind } from './inspect.js';

// Which components fit which family, checked before the engine sees them: the engine would load a FLUX VAE
// into SDXL or a T5 where an LLM belongs and fail later with a tensor-shape message, or not at all.

/** Latent channels of each family's VAE. */
const FAMILY_LATENT_CHANNELS: Partial<Record<ModelFamily, number>> = {
  sd1: 4, sd2: 4, sdxl: 4, sd3: 16, flux: 16, chroma: 16, 'z-image': 16, 'qwen-image': 16, flux2: 32,
};

/** The text encoders each family conditions on, by kind. */
const FAMILY_TEXT_ENCODERS: Partial<Record<ModelFamily, readonly TextEncoderKind[]>> = {
  sd1: ['clip'], sd2: ['clip'], sdxl: ['clip'], sd3: ['clip', 't5'], flux: ['clip', 't5'], chroma: ['t5'], wan: ['t5'],
  flux2: ['llm'], 'z-image': ['llm'], 'qwen-image': ['llm'],
};

const ENCODER_NAMES: Record<TextEncoderKind, string> = { t5: 'a T5 encoder', llm: 'an LLM text encoder', clip: 'a CLIP text encoder' };

/** What each text-encoder component must hold. */
const COMPONENT_KINDS: Record<string, TextEncoderKind> = { clipL: 'clip', clipG: 'clip', t5xxl: 't5', llm: 'llm' };

/**
 * Refuses components that do not fit the model's family or their own slot, naming both:
 * a VAE of another latent width, a T5 given as `llm` (or an LLM as `t5xxl`), an encoder the family does not use.
 */
export function checkComponents(family: ModelFamily, components: Partial<Record<string, ModelFileInfo>>): void {
  if (family === 'unknown') return;
  const vae = components.vae;
  const wanted = FAMILY_LATENT_CHANNELS[family];
  const channels = vae && latentChannels(vae);
  if (vae && wanted !== undefined && channels !== undefined && channels !== wanted) {
    throw new InvalidArgumentError('vae', `vae ${vae.path} has ${channels} latent channels (${vaeKindOf(channels)}) but ${family} models need a VAE with ${wanted}`);
  }
  checkLlmVision(family, components.llmVision);
  const families = FAMILY_TEXT_ENCODERS[family];
  for (const [key, kind] of Object.entries(COMPONENT_KINDS)) {
    const info = components[key];
    if (!info) continue;
    const found = textEncoderKind(info);
    if (found !== undefined && found !== kind) {
      throw new InvalidArgumentError(key, `${key} ${info.path} is ${ENCODER_NAMES[found]}, not ${ENCODER_NAMES[kind]}${families?.includes(found) ? `: give it as ${slotFor(found)}` : ''}`);
    }
    if (families && !families.includes(kind)) {
      throw new InvalidArgumentError(key, `${family} models take no ${key}: they condition on ${families.map((k) => ENCODER_NAMES[k]).join(' and ')}`);
    }
  }
}

/** Only Qwen-Image's encoder reads reference images with its LLM's vision tower. */
function checkLlmVision(family: ModelFamily, info: ModelFileInfo | undefined): void {
  if (!info) return;
  if (visionEncoderKind(info) !== 'llm') throw new InvalidArgumentError('llmVision', `llmVision ${info.path} is not an LLM's vision tower (Qwen2.5-VL's, e.g. an mmproj .gguf)`);
  if (family !== 'qwen-image') throw new InvalidArgumentError('llmVision', `${family} models take no llmVision: only Qwen-Image(-Edit) reads reference images with its LLM's vision tower`);
}

const slotFor = (kind: TextEncoderKind): string => ({ t5: 't5xxl', llm: 'llm', clip: 'clipL / clipG' })[kind];

const vaeKindOf = (channels: number): string =>
  ({ 4: 'an SD 1.x/2.x/SDXL VAE', 16: 'an SD3 / FLUX.1 / Wan 2.1 VAE', 32: 'a FLUX.2 VAE', 48: 'a Wan 2.2 VAE' })[channels] ?? 'an unknown VAE';
