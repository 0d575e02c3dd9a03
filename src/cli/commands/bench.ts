import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HELP = `diffusekit bench: the Pipeline against stable-diffusion.cpp's own sd-cli

Usage:
  diffusekit bench [options]        (the same as 'npm run bench' in a clone of the repository)

Runs bench/run.mjs: the Pipeline and the engine's own sd-cli, built from the same pinned release without
our patches and with the engine's default options, on the same synthetic SD 1.x checkpoint, sizes,
sampler, steps, seed and threads; reports per-step and VAE decode time, GFLOPS and peak memory of each.
It builds that sd-cli first when needed (minutes) and takes minutes per size on a CPU.

Options (passed to bench/run.mjs):
      --sizes 256,512     image sizes (default 256,512)
      --steps N           sampling steps (default 4)
      --threads N         CPU threads (default: all)
      --tasks LIST        txt2img,img2img,inpaint,upscale (default); sdxl, video, sd3.5 and sd3.5-cache
                          (SD 3.5 medium with CLIP-L and CLIP-G at 256x256, without and with EasyCache; slow)
      --video-size N, --video-frames N, --video-steps N
                          the video task's clip (default 128, 9 frames, 4 steps)
      --weights LIST      txt2img weight types, e.g. f16,f32,q8_0 (default f16)
      --repeat N          alternate the programs N times, report medians (default 1)
      --cpu-variant LIST  the diffusekit builds to compare: native (built from source, default), best
                          (the prebuilt addon's pick for this CPU), or a prebuilt variant such as haswell
                          (AVX2) or skylakex (AVX-512), forced; e.g. native,best,haswell
      --baseline LIST     sd-cli built the engine's default way (native, default) and/or the portable way
                          (portable: one sd-cli per prebuilt variant asked for)
      --reusable          keep the Pipeline loaded between runs

Output:
      --json              the results as one JSON document on stdout (instead of the table)
  -q, --quiet             no progress lines on stderr
      --progress MODE     none is the same as --quiet; other modes print one line per run
      --no-color          accepted; the benchmark prints no colours
  -h, --help              this help

Results are also written to bench/results/ in the package folder.

Exit codes: the benchmark's own (0 when both programs ran and the Pipeline met its targets: SD 1.x txt2img
step and VAE decode at least 3x faster, other tasks no slower, the prebuilt best variant within 3% of the
build from source, memory within its limits).

Examples:
  diffusekit bench --sizes 256 --steps 2
  diffusekit bench --tasks upscale
  diffusekit bench --tasks txt2img --cpu-variant native,best,haswell --baseline native,portable --repeat 3
`;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** `diffusekit bench`: runs bench/run.mjs with the arguments given, or says where to get it. */
export async function run(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(HELP);
    return 0;
  }
  const script = path.join(root, 'bench', 'run.mjs');
  if (!fs.existsSync(script)) {
    process.stderr.write(`diffusekit: the benchmark is missing from this installation (no ${script}); reinstall diffusekit.\n`);
    return 1;
  }
  const child = spawn(process.execPath, [script, ...args], { cwd: root, stdio: 'inherit' });
  // Ctrl-C reaches the benchmark too (same process group); wait for it to finish.
  const onSigint = () => {};
  process.on('SIGINT', onSigint);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}
