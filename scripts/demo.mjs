#!/usr/bin/env node
// npm run demo: writes demo.png. Uses DIFFUSEKIT_MODEL when it points at a real checkpoint, else the
// built-in synthetic SDXS-512 model (random weights: the picture is noise, the pipeline is real).
import { Pipeline, synthesizeModel } from '../lib/index.js';

const real = process.env.DIFFUSEKIT_MODEL;
const model = real ?? synthesizeModel({ architecture: 'sdxs' }).path;
const pipe = await Pipeline.load({ model });
try {
  const started = performance.now();
  const [image] = await pipe.generate({
    prompt: 'a cabin in misty mountains, watercolor',
    negativePrompt: 'blurry',
    width: 512,
    height: 512,
    // SDXS is a one-step model without guidance; a real SD checkpoint gets the usual 20 steps.
    ...(real ? { steps: 20, guidanceScale: 7.5 } : { steps: 1, guidanceScale: 1 }),
    seed: 42,
    onProgress: (p) => process.stderr.write(`\rstep ${p.step}/${p.steps}`),
  });
  await image.save('demo.png');
  process.stderr.write(`\nwrote demo.png (${image.width}x${image.height}, seed ${image.seed}, ${((performance.now() - started) / 1000).toFixed(1)} s) from ${model}\n`);
} finally {
  await pipe.dispose();
}
