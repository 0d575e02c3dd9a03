#!/usr/bin/env node
// node bench/safety-classifier.mjs: the nsfwjs safety classifier's load time and time per 512x512 image, for each
// model and TensorFlow.js backend (each pair in its own process: the backend is process-wide). The images are
// 512x512 noise-and-gradient pictures, as a synthetic checkpoint makes; the time covers resizing (sharp) and the
// network. Options: --models MobileNetV2,MobileNetV2Mid,InceptionV3 --backends wasm,cpu --images 8
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'MobileNetV2,MobileNetV2Mid,InceptionV3' },
    backends: { type: 'string', default: 'wasm,cpu' },
    images: { type: 'string', default: '8' },
    child: { type: 'string' },
  },
});

if (values.child) {
  const [model, backend] = values.child.split(':');
  const { NsfwClassifier, PixelImage } = await import('../lib/index.js');
  const count = Number(values.images);
  const images = Array.from({ length: count }, (_, n) => {
    const data = Buffer.alloc(512 * 512 * 3);
    let x = n * 7919 + 1;
    for (let i = 0; i < data.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      data[i] = ((i % 1536) / 6 + (x >>> 24)) & 0xff;
    }
    return new PixelImage({ width: 512, height: 512, channels: 3, data });
  });
  let start = performance.now();
  const classifier = await NsfwClassifier.load({ model, backend });
  const loadMs = performance.now() - start;
  await classifier.classify(images[0]); // the first call compiles kernels: reported apart
  const firstMs = performance.now() - start - loadMs;
  const times = [];
  for (const image of images) {
    start = performance.now();
    await classifier.classify(image);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ model, backend, loadMs: Math.round(loadMs), firstMs: Math.round(firstMs), medianMs: Math.round(times[times.length >> 1]), minMs: Math.round(times[0]) }));
} else {
  const self = fileURLToPath(import.meta.url);
  console.log(`nsfwjs classifier, 512x512 images, ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, load average ${os.loadavg()[0].toFixed(1)}`);
  console.log('model           backend  load ms  first ms  median ms  min ms');
  for (const model of values.models.split(',')) {
    for (const backend of values.backends.split(',')) {
      const out = execFileSync(process.execPath, [self, '--child', `${model}:${backend}`, '--images', values.images], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const r = JSON.parse(out.slice(out.indexOf('{')));
      console.log(`${r.model.padEnd(15)} ${r.backend.padEnd(8)} ${String(r.loadMs).padStart(7)}  ${String(r.firstMs).padStart(8)}  ${String(r.medianMs).padStart(9)}  ${String(r.minMs).padStart(6)}`);
    }
  }
}
