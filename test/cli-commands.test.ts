import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readPngText, synthesizeModel } from '../src/index.js';
import { cleanEnv, cliPath, filesIn, hasScript, runCli, runInTerminal, runUntil } from './helpers/cli.js';
import { tempDir, tinyModel } from './helpers/models.js';

// The commands as a user runs them: spawned processes of the built CLI, each in its own working directory,
// on the synthetic tiny model (64x64, 1-2 steps).
const fast = ['--size', '64', '--steps', '1'];
const json = (stdout: string) => JSON.parse(stdout);

async function png(file: string, size: number, colour = '#808080'): Promise<string> {
  await sharp({ create: { width: size, height: size, channels: 3, background: colour } }).png().toFile(file);
  return file;
}

describe('diffusekit generate', () => {
  it('takes the prompt as an argument, names the file by the default template, and --json describes it', () => {
    const cwd = tempDir();
    const r = runCli(['generate', 'a cabin in the woods', '-m', tinyModel(), ...fast, '--seed', '7', '--json'], { cwd });
    expect(r.status, r.stderr).toBe(0);
    // not a terminal: no progress, no colours
    expect(r.stderr).toBe('');
    const result = json(r.stdout);
    expect(result).toEqual({
      images: [{ path: expect.any(String), seed: 7, width: 64, height: 64 }],
      model: 'synthetic-sdxs-seed0-f16-v1',
      prompt: 'a cabin in the woods',
      elapsed: expect.any(Number),
    });
    expect(path.dirname(result.images[0].path)).toBe(fs.realpathSync(cwd));
    expect(path.basename(result.images[0].path)).toMatch(/^diffusekit-\d{8}-\d{6}-7\.png$/);
    expect(readPngText(fs.readFileSync(result.images[0].path)).parameters).toMatch(/^a cabin in the woods\nSteps: 1, .*Seed: 7, Size: 64x64/);
  });

  it('fills {prompt} {seed} {index} {model} in -o, never overwrites without --force, and --quiet prints only results', () => {
    const cwd = tempDir();
    const batch = runCli(['generate', 'A Red Fox, at dawn!', '-m', tinyModel(), ...fast, '--seed', '5', '-b', '2', '-o', 'out/{prompt}-{seed}-{index}-{model}.png', '-q'], { cwd });
    expect(batch.status, batch.stderr).toBe(0);
    expect(batch.stderr).toBe('');
    expect(filesIn(path.join(cwd, 'out'))).toEqual(['a-red-fox-at-dawn-5-1-synthetic-sdxs-seed0-f16-v1.png', 'a-red-fox-at-dawn-6-2-synthetic-sdxs-seed0-f16-v1.png']);
    expect(batch.stdout).toBe('out/a-red-fox-at-dawn-5-1-synthetic-sdxs-seed0-f16-v1.png  seed 5\nout/a-red-fox-at-dawn-6-2-synthetic-sdxs-seed0-f16-v1.png  seed 6\n');

    const again = () => runCli(['generate', 'fox', '-m', tinyModel(), ...fast, '--seed', '5', '-o', 'fox.png'], { cwd });
    expect(again().stdout).toBe('fox.png  seed 5\n');
    expect(again().stdout).toBe('fox-1.png  seed 5\n');
    const forced = runCli(['generate', 'fox', '-m', tinyModel(), ...fast, '--seed', '6', '-o', 'fox.png', '--force'], { cwd });
    expect(forced.stdout).toBe('fox.png  seed 6\n');
    expect(filesIn(cwd)).toEqual(['fox-1.png', 'fox.png', 'out']);
    expect(readPngText(fs.readFileSync(path.join(cwd, 'fox.png'))).parameters).toContain('Seed: 6');
  });

  it('--progress json writes progress as JSON lines on stderr, and --preview keeps a preview image', () => {
    const cwd = tempDir();
    const r = runCli(['generate', 'fox', '-m', tinyModel(), '--size', '64', '--steps', '2', '-o', 'fox.png', '--progress', 'json', '--preview', 'preview.png'], { cwd });
    expect(r.status, r.stderr).toBe(0);
    const events = r.stderr.trim().split('\n').map((line) => JSON.parse(line));
    expect(events[0]).toEqual({ event: 'spinner', label: expect.stringContaining('Loading') });
    // Loading counts the tensors read (610 in SDXS), then sampling counts steps.
    const loading = events.filter((e) => e.event === 'progress' && e.unit === 'tensors');
    expect(loading.at(-1)).toMatchObject({ label: expect.stringContaining('Loading'), current: 610, total: 610 });
    const progress = events.filter((e) => e.event === 'progress' && e.unit !== 'tensors');
    expect(progress.map((e) => [e.label, e.current, e.total, e.unit])).toEqual([['Sampling', 1, 2, 'steps'], ['Sampling', 2, 2, 'steps']]);
    expect(progress[1]).toEqual(expect.objectContaining({ rate: expect.any(Number), elapsed: expect.any(Number) }));
    expect(events.at(-1)).toEqual(expect.objectContaining({ event: 'done' }));
    expect(filesIn(cwd)).toEqual(['fox.png', 'preview.png']);
  });
});

describe('diffusekit image commands', () => {
  it('img2img, inpaint and outpaint take their input images; upscale enlarges with an ESRGAN model', async () => {
    const cwd = tempDir();
    const init = await png(path.join(cwd, 'init.png'), 64);
    const mask = await png(path.join(cwd, 'mask.png'), 64, '#ffffff');
    const img2img = runCli(['img2img', 'winter', '--init', init, '--strength', '0.5', '-m', tinyModel(), '--steps', '1', '-o', 'a.png'], { cwd });
    expect([img2img.status, img2img.stdout], img2img.stderr).toEqual([0, expect.stringMatching(/^a\.png {2}seed \d+\n$/)]);
    const inpaint = runCli(['inpaint', 'a door', '-i', init, '--mask', mask, '-m', tinyModel(), '--steps', '1', '-o', 'b.png'], { cwd });
    expect(inpaint.status, inpaint.stderr).toBe(0);
    const outpaint = runCli(['outpaint', 'more sky', '--init', init, '--extend', '8,8,0,0', '--top', '16', '-m', tinyModel(), '--steps', '1', '-o', 'c.png', '--json'], { cwd });
    expect(outpaint.status, outpaint.stderr).toBe(0);
    expect(json(outpaint.stdout).images[0]).toEqual(expect.objectContaining({ width: 80, height: 80 }));

    const small = await png(path.join(cwd, 'small.png'), 16);
    const esrgan = synthesizeModel({ architecture: 'esrgan-x4plus' }).path;
    const upscale = runCli(['upscale', small, '-m', esrgan, '--json'], { cwd });
    expect(upscale.status, upscale.stderr).toBe(0);
    expect(json(upscale.stdout)).toEqual({
      images: [{ path: path.join(fs.realpathSync(cwd), 'small-x4.png'), input: small, width: 64, height: 64, scale: 4 }],
      model: 'synthetic-esrgan-x4plus-seed0-f16-v1',
    });
    expect(filesIn(cwd)).toEqual(['a.png', 'b.png', 'c.png', 'init.png', 'mask.png', 'small-x4.png', 'small.png']);
  });
});

describe('diffusekit exit codes', () => {
  it('2 for usage errors, 3 for missing or broken input and model files, 1 for rejected values and failures', async () => {
    const cwd = tempDir();
    const usage = [
      ['generate', 'x', '-m', tinyModel(), '--bogus'],
      ['generate', 'x', '-m', tinyModel(), '--size', 'big'],
      ['generate', '-m', tinyModel()],
      ['generate', 'x', '-m', tinyModel(), '-o', 'out.gif'],
      ['generate', 'x', '-m', tinyModel(), '-o', '{when}.png'],
      ['outpaint', 'x', '-m', tinyModel(), '--init', 'a.png', '--extend', '8', '--size', '64'],
      ['convert', tinyModel(), '--type', 'q9_9'],
      ['frobnicate'],
    ];
    for (const args of usage) {
      const r = runCli(args, { cwd });
      expect([args.join(' '), r.status, r.stderr]).toEqual([args.join(' '), 2, expect.stringMatching(/^diffusekit: .+\nRun 'diffusekit .*--help' for usage\.\n$/)]);
    }
    const notAModel = path.join(cwd, 'notes.safetensors');
    fs.writeFileSync(notAModel, 'these are my notes, not a model');
    const input = [
      [['generate', 'x', '-m', path.join(cwd, 'missing.safetensors')], 'not found'],
      [['generate', 'x', '-m', notAModel], 'not a model'],
      [['img2img', 'x', '-m', tinyModel(), '--init', 'missing.png'], 'init image not found: missing.png'],
      [['upscale', 'missing.png', '-m', tinyModel()], 'image not found: missing.png'],
      [['info', notAModel], 'not a model'],
    ] as const;
    for (const [args, message] of input) {
      const r = runCli([...args], { cwd });
      expect([args.join(' '), r.status, r.stderr]).toEqual([args.join(' '), 3, expect.stringContaining(message)]);
    }
    const range = runCli(['generate', 'x', '-m', tinyModel(), '--steps', '0'], { cwd });
    expect([range.status, range.stderr]).toEqual([1, 'diffusekit: Expected integer between 1 and 150 for steps but received 0 of type number\n']);
    // the image is made, but cannot be written where -o says (a file stands where a folder should be)
    fs.writeFileSync(path.join(cwd, 'blocker'), '');
    const failure = runCli(['generate', 'x', '-m', tinyModel(), ...fast, '-o', 'blocker/x.png'], { cwd });
    expect([failure.status, failure.stderr]).toEqual([1, expect.stringMatching(/^diffusekit: cannot write blocker\/x\.png: E[A-Z]+: /)]);
  });
});

describe('diffusekit info and convert', () => {
  it('info MODEL reports role, family, parameters and weight types; --tensors lists names, types and shapes', () => {
    const r = runCli(['info', tinyModel(), '--json']);
    expect(r.status, r.stderr).toBe(0);
    const info = json(r.stdout);
    expect(info).toEqual({
      path: tinyModel(), format: 'safetensors', size: fs.statSync(tinyModel()).size, role: 'checkpoint', family: 'sd1',
      parameters: expect.any(Number), tensorCount: expect.any(Number), weightTypes: { f16: info.tensorCount },
    });
    expect(info.parameters).toBeGreaterThan(400e6);
    const text = runCli(['info', tinyModel()]);
    expect(text.stdout).toMatch(/^model +\S+\nformat +safetensors\nrole +checkpoint\nfamily +sd1\nparameters +441\.3 M\ntensors +\d+\nweight types +f16 \d+\nsize +883 MB/);
    const tensors = runCli(['info', tinyModel(), '--tensors']);
    const lines = tensors.stdout.trim().split('\n');
    expect(lines).toHaveLength(info.tensorCount);
    for (const line of lines) expect(line).toMatch(/^\S+ +f16 +\[\d+(, \d+)*\]$/);
    const engine = runCli(['info', '--json']);
    expect(json(engine.stdout)).toEqual(expect.objectContaining({ version: expect.any(String), backend: expect.any(String), samplers: expect.arrayContaining(['euler_a']) }));
  });

  it('convert writes MODEL-TYPE.gguf, never over an existing file', () => {
    const cwd = tempDir();
    const taesd = synthesizeModel({ architecture: 'taesd' }).path;
    const name = path.basename(taesd, '.safetensors');
    const first = runCli(['convert', taesd, '--type', 'q8_0'], { cwd });
    expect([first.status, first.stdout], first.stderr).toEqual([0, `${name}-q8_0.gguf\n`]);
    const second = runCli(['convert', taesd, '--type', 'q8_0', '--json'], { cwd });
    expect(second.status, second.stderr).toBe(0);
    expect(json(second.stdout)).toEqual({
      path: path.join(fs.realpathSync(cwd), `${name}-q8_0-1.gguf`), input: taesd, type: 'q8_0', size: expect.any(Number), inputSize: fs.statSync(taesd).size, tensors: expect.any(Number),
    });
    const info = json(runCli(['info', path.join(cwd, `${name}-q8_0.gguf`), '--json']).stdout);
    expect(info).toEqual(expect.objectContaining({ format: 'gguf', tensorCount: json(second.stdout).tensors }));
    // TAESD's small convolutions keep a float type; the engine decides
    for (const type of Object.keys(info.weightTypes)) expect(['f32', 'f16', 'q8_0']).toContain(type);
  });
});

describe('diffusekit help', () => {
  const commands = ['generate', 'img2img', 'inpaint', 'outpaint', 'upscale', 'video', 'info', 'convert', 'synth', 'config', 'bench', 'serve', 'keys'];

  it('every command has --help with usage and examples; "help COMMAND" shows the same', () => {
    for (const command of commands) {
      const r = runCli([command, '--help']);
      expect([command, r.status]).toEqual([command, 0]);
      expect(r.stdout).toContain(`diffusekit ${command}`);
      expect(r.stdout).toMatch(/Usage:/);
      expect(r.stdout).toMatch(/Examples:\n {2}/);
      expect(runCli(['help', command]).stdout).toBe(r.stdout);
    }
    const top = runCli(['--help']);
    expect(top.status).toBe(0);
    for (const command of commands) expect(top.stdout).toContain(`diffusekit ${command}`);
    expect(top.stdout).toMatch(/Exit codes: 0 ok, 1 failure .*, 2 usage or config error,\n3 input or model file problem .*, 130 interrupted/);
    expect(runCli(['generate', '--help']).stdout).toContain('{seed} {date} {prompt} {index} {model}');
  });
});

describe('diffusekit on a terminal, and Ctrl-C', () => {
  const long = (out: string) => ['generate', 'a long one', '-m', tinyModel(), '--size', '128', '--steps', '150', '-o', out];

  it('Ctrl-C stops a generation within a step: "interrupted", exit 130, no output file', async () => {
    const cwd = tempDir();
    const started = Date.now();
    const r = await runUntil(process.execPath, [cliPath, ...long('long.png'), '--progress', 'json'], /"event":"progress"/, (child) => child.kill('SIGINT'), { cwd });
    expect(r.triggered).toBe(true);
    expect([r.status, r.signal]).toEqual([130, null]);
    expect(r.output).toMatch(/\ninterrupted\n$/);
    expect(r.output).not.toContain('"current":150');
    expect(filesIn(cwd)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('Ctrl-C while the model loads exits at once', async () => {
    const cwd = tempDir();
    const r = await runUntil(process.execPath, [cliPath, ...long('long.png'), '--progress', 'json'], /"event":"spinner"/, (child) => child.kill('SIGINT'), { cwd });
    expect([r.status, r.output]).toEqual([130, expect.stringMatching(/\ninterrupted\n$/)]);
    expect(r.output).not.toContain('"event":"bar"');
    expect(filesIn(cwd)).toEqual([]);
  });

  it.skipIf(!hasScript)('draws a live progress bar on a terminal, in colour unless NO_COLOR is set', () => {
    const args = ['generate', 'fox', '-m', tinyModel(), '--size', '64', '--steps', '2', '-o', 'fox.png'];
    const colour = runInTerminal(args);
    expect(colour.status, colour.stdout).toBe(0);
    expect(colour.stdout).toContain('\r\x1b[2K');
    expect(colour.stdout).toMatch(/Loading .*synthetic-sdxs/);
    expect(colour.stdout).toMatch(/Sampling .*━.* 2\/2 /);
    expect(colour.stdout).toMatch(/\x1b\[3\dm/);
    expect(colour.stdout).toMatch(/fox\.png {2}seed \d+\r?\n$/);
    const plain = runInTerminal(args, { env: cleanEnv({ NO_COLOR: '1' }) });
    expect(plain.status, plain.stdout).toBe(0);
    expect(plain.stdout).toContain('\r\x1b[2K');
    expect(plain.stdout).toMatch(/Sampling .* 2\/2 /);
    expect(plain.stdout).not.toMatch(/\x1b\[[0-9;]*m/);
  });

  it.skipIf(!hasScript)('Ctrl-C typed on the terminal interrupts the generation', async () => {
    const cwd = tempDir();
    const command = [process.execPath, cliPath, ...long('long.png')].map((a) => `'${a}'`).join(' ');
    const r = await runUntil('script', ['-qfec', command, '/dev/null'], /Sampling/, (child) => child.stdin!.write('\x03'), { cwd });
    expect(r.triggered).toBe(true);
    expect(r.status).toBe(130);
    expect(r.output).toContain('interrupted');
    expect(filesIn(cwd)).toEqual([]);
  });
});
