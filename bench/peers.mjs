// The CPU peers of `npm run bench -- --peers torch,openvino` (issue 16): what a user who wants SD 1.5 fast on a
// CPU would pick instead of diffusekit. They run through the shared peer script (../shared/bench/peer_sd15_cpu.sh,
// or $DIFFUSEKIT_PEER_SCRIPT): PyTorch eager and OpenVINO, fp32 and bf16, on the SD 1.5 architecture with random
// weights built from its configs, one sampling step (the UNet at batch 2, for classifier-free guidance) and one
// VAE decode. The script makes its own virtual environment under ~/.cache on first use (about 6 GB).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PEER_ENGINES = ['torch', 'openvino'];

export function peerScript() {
  const script = process.env.DIFFUSEKIT_PEER_SCRIPT || path.join(root, '..', 'shared', 'bench', 'peer_sd15_cpu.sh');
  if (!fs.existsSync(script)) throw new Error(`--peers needs the peer script: ${script} is missing (set DIFFUSEKIT_PEER_SCRIPT)`);
  return script;
}

/**
 * One round of the peers at `size` (pixels): each engine and precision once (after its own warm-up run), in
 * its own process. Resolves to { 'torch fp32': { secondsPerStep, vaeDecodeSeconds, peakRssMiB, ... }, ... }.
 */
export function runPeers({ engines, size, threads, say = () => {} }) {
  const unknown = engines.filter((e) => !PEER_ENGINES.includes(e));
  if (unknown.length) throw new Error(`--peers takes ${PEER_ENGINES.join(', ')}, not ${unknown.join(', ')}`);
  return new Promise((resolve, reject) => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-peers-')), 'peers.jsonl');
    const args = ['--sizes', String(size), '--engines', engines.join(','), '--repeat', '1', '--slow-repeat', '1', '--threads', String(threads), '--out', out, '--save-outputs', ''];
    const child = spawn('bash', [peerScript(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      say('.');
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
      if (code !== 0) return reject(new Error(`the peer script exited with ${code}:\n${stderr.slice(-2000)}`));
      const byConfig = {};
      for (const line of stdout.split('\n').filter((l) => l.startsWith('{'))) {
        const r = JSON.parse(line);
        if (r.error || !r.seconds_median) continue;
        const name = `${r.engine} ${r.precision}`;
        const entry = (byConfig[name] ??= { engine: r.engine, precision: r.precision });
        entry[r.what === 'step' ? 'secondsPerStep' : 'vaeDecodeSeconds'] = r.seconds_median;
        entry.peakRssMiB = Math.max(entry.peakRssMiB ?? 0, r.peak_rss_mb ?? 0);
        // what actually ran: OpenVINO falls back to f32 where the CPU has no bf16 instructions
        if (r.ov_runtime_precisions) entry.runtimePrecisions = r.ov_runtime_precisions;
        if (r.torch_cpu_capability) entry.cpuCapability = r.torch_cpu_capability;
      }
      resolve(byConfig);
    });
  });
}
