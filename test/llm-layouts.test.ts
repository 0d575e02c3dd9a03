import { describe, expect, it } from 'vitest';
import { syntheticLayout, type SyntheticArchitecture } from '../src/index.js';
import { detectFamily, latentChannels, modelRole, textEncoderKind, visionEncoderKind, type ModelFileInfo } from '../src/models/inspect.js';
import { modelVariant } from '../src/models/family-defaults.js';
import { elementCount } from '../src/models/tensor-spec.js';

const parameters = (arch: SyntheticArchitecture) => syntheticLayout(arch).reduce((n, t) => n + elementCount(t.shape), 0);
const shapes = (arch: SyntheticArchitecture) => new Map(syntheticLayout(arch).map((t) => [t.name, t.shape]));
/** What inspect.ts reads of a file with this layout, as safetensors (PyTorch order). */
const header = (arch: SyntheticArchitecture): ModelFileInfo => {
  const s = shapes(arch);
  return { path: arch, format: 'safetensors', size: 1, tensorNames: [...s.keys()], shapes: s };
};

// Layouts only: nothing here writes a file or loads the engine (test/families-llm.test.ts does).
describe('the LLM-encoded families\' layouts', () => {
  it('have the parameter counts of the released models', () => {
    expect(parameters('z-image-turbo')).toBe(6_154_908_736);
    expect(parameters('qwen-image')).toBe(20_430_401_088);
    expect(parameters('flux2-klein-4b')).toBe(3_875_544_576);
    expect(parameters('flux2-dev')).toBe(32_223_281_152);
    // the language models as their model cards count them (embeddings and, where untied, the output head)
    expect(parameters('qwen3-4b')).toBe(4_022_468_096);
    expect(parameters('qwen2.5-vl-7b')).toBe(7_615_616_512);
    expect(parameters('mistral-small-3.2-24b')).toBe(23_572_403_200);
    expect(parameters('qwen2.5-vl-7b-mmproj')).toBe(676_550_144);
  });

  it('carry the names and shapes the engine detects and sizes them by', () => {
    const z = shapes('z-image-turbo');
    expect(z.get('cap_embedder.1.weight')).toEqual([3840, 2560]); // Qwen3-4B's width in
    expect(z.get('layers.29.attention.qkv.weight')).toEqual([11520, 3840]);
    expect(z.get('layers.0.feed_forward.w2.weight')).toEqual([3840, 10240]);
    expect(z.has('context_refiner.0.adaLN_modulation.0.weight')).toBe(false); // the context refiner is not modulated
    const q = shapes('qwen-image');
    expect(q.get('transformer_blocks.59.img_mod.1.weight')).toEqual([18432, 3072]);
    expect(q.get('txt_in.weight')).toEqual([3072, 3584]); // Qwen2.5-VL-7B's width in
    expect(q.has('transformer_blocks.60.img_mod.1.weight')).toBe(false);
    const k = shapes('flux2-klein-4b');
    expect(k.get('txt_in.weight')).toEqual([3072, 7680]); // three Qwen3-4B layers stacked
    expect(k.get('single_blocks.19.linear1.weight')).toEqual([27648, 3072]);
    expect(k.has('single_blocks.47.linear1.weight') || k.has('guidance_in.in_layer.weight')).toBe(false);
    expect(shapes('flux2-dev').has('single_blocks.47.linear1.weight')).toBe(true);
    const llm = shapes('qwen3-4b');
    expect([llm.get('token_embd.weight'), llm.get('blk.35.attn_k.weight'), llm.get('blk.0.attn_q_norm.weight')]).toEqual([[151936, 2560], [1024, 2560], [128]]);
    expect(llm.has('output.weight')).toBe(false); // Qwen3-4B ties its output head to the embedding
    expect(shapes('qwen2.5-vl-7b').get('blk.0.attn_k.bias')).toEqual([512]);
    expect(shapes('qwen2.5-vl-7b-mmproj').get('mm.2.weight')).toEqual([3584, 5120]);
  });

  it('read back as their family, variant, role and slot', () => {
    expect(detectFamily(header('z-image-turbo'))).toBe('z-image');
    expect(detectFamily(header('qwen-image'))).toBe('qwen-image');
    expect(detectFamily(header('flux2-klein-4b'))).toBe('flux2');
    expect(modelVariant('flux2', [], [header('flux2-klein-4b')])).toBe('klein');
    expect(modelVariant('flux2', [], [header('flux2-dev')])).toBeUndefined();
    for (const llm of ['qwen3-4b', 'qwen2.5-vl-7b', 'mistral-small-3.2-24b'] as const) {
      expect([modelRole(header(llm)), textEncoderKind(header(llm))]).toEqual(['text-encoder', 'llm']);
    }
    expect([modelRole(header('qwen2.5-vl-7b-mmproj')), visionEncoderKind(header('qwen2.5-vl-7b-mmproj'))]).toEqual(['vision-encoder', 'llm']);
    expect([latentChannels(header('flux-vae')), latentChannels(header('flux2-vae')), latentChannels(header('qwen-image-vae'))]).toEqual([16, 32, 16]);
    for (const vae of ['flux-vae', 'flux2-vae', 'qwen-image-vae'] as const) expect(modelRole(header(vae))).toBe('vae');
  });
});
