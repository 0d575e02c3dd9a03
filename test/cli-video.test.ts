import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ffprobe from '@ffprobe-installer/ffprobe';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { tempDir, wanVideoModel } from './helpers/models.js';

describe('diffusekit video', () => {
  it('writes the clip named by the template, in the format of its extension, and reports it as JSON', () => {
    const wan = wanVideoModel();
    const cwd = tempDir();
    const result = runCli(['video', 'waves on a beach', '-m', wan.diffusionModel, '--vae', wan.vae, '--size', '64x64', '--frames', '6', '--fps', '8', '--steps', '1', '--seed', '3', '-o', 'clip-{seed}.webm', '--json'], { cwd });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.images).toEqual([{ path: path.join(cwd, 'clip-3.webm'), seed: 3, width: 64, height: 64 }]);
    const probe = JSON.parse(execFileSync(ffprobe.path, ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,r_frame_rate,nb_read_frames', '-of', 'json', path.join(cwd, 'clip-3.webm')]).toString()).streams[0];
    expect(probe).toMatchObject({ codec_name: 'vp9', width: 64, height: 64, r_frame_rate: '8/1', nb_read_frames: '6' });
  });

  it('exits 2 on usage errors and 1 on bad values, before loading anything', () => {
    const wan = wanVideoModel();
    const usage = runCli(['video', 'x', '-m', wan.diffusionModel, '--vae', wan.vae, '-o', 'clip.avi']);
    expect([usage.status, usage.stderr]).toEqual([2, expect.stringContaining("'clip.avi' must end in .mp4, .webm, .webp, .gif")]);
    expect(runCli(['video', 'x', '-m', wan.diffusionModel, '--batch', '2']).status).toBe(2);
    const bad = runCli(['video', 'x', '-m', wan.diffusionModel, '--vae', wan.vae, '--size', '72x64', '--steps', '1']);
    expect([bad.status, bad.stderr]).toEqual([1, expect.stringMatching(/multiple of 16 .*for width/)]);
    expect(fs.readdirSync(tempDir())).toEqual([]);
  });

  it('--help shows the video flags and examples', () => {
    const help = runCli(['video', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--t5xxl FILE[\s\S]*--frames N[\s\S]*--fps N[\s\S]*Examples:/);
    expect(help.stdout).not.toMatch(/--batch/);
  });
});
