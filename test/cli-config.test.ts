import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPngText } from '../src/index.js';
import { cleanEnv, cliPath, filesIn, runCli, runUntil } from './helpers/cli.js';
import { tempDir, tinyModel } from './helpers/models.js';

/** A user with their own config home, and a project folder (with a subfolder to run in). */
function workspace() {
  const root = tempDir();
  const configHome = path.join(root, 'xdg');
  const project = path.join(root, 'project');
  const sub = path.join(project, 'scenes', 'night');
  fs.mkdirSync(sub, { recursive: true });
  const userFile = path.join(configHome, 'diffusekit', 'config.json');
  const projectFile = path.join(project, 'diffusekit.config.json');
  const write = (file: string, value: unknown) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(value));
  };
  const env = (extra: Record<string, string> = {}) => cleanEnv({ XDG_CONFIG_HOME: configHome, ...extra });
  const run = (args: string[], extra: Record<string, string> = {}, cwd = sub) => runCli(args, { cwd, env: env(extra) });
  return { root, project, sub, userFile, projectFile, write, env, run };
}

describe('diffusekit config', () => {
  it('set, get, unset and path, in the user file or (--project) the project file', () => {
    const w = workspace();
    expect(w.run(['config', 'path', '--json']).stdout).toBe(`${JSON.stringify({ user: w.userFile, project: null }, null, 2)}\n`);

    expect(w.run(['config', 'set', 'steps', '30']).status).toBe(0);
    expect(w.run(['config', 'set', 'server.port', '8080']).status).toBe(0);
    expect(w.run(['config', 'set', 'server.models', 'a.safetensors', 'b.pth']).status).toBe(0);
    expect(JSON.parse(fs.readFileSync(w.userFile, 'utf8'))).toEqual({
      steps: 30, server: { port: 8080, models: [path.join(w.sub, 'a.safetensors'), path.join(w.sub, 'b.pth')] },
    });
    // --project with no project file: one is created in the working directory; paths are kept relative to it
    expect(w.run(['config', 'set', 'loraDir', '../loras', '--project'], {}, w.project).status).toBe(0);
    expect(JSON.parse(fs.readFileSync(w.projectFile, 'utf8'))).toEqual({ loraDir: path.join(path.dirname(w.project), 'loras') });
    expect(w.run(['config', 'set', 'output', 'renders/{seed}.png', '--project']).status).toBe(0);
    expect(JSON.parse(fs.readFileSync(w.projectFile, 'utf8')).output).toBe('./scenes/night/renders/{seed}.png');

    expect(w.run(['config', 'get', 'steps']).stdout).toBe('30\n');
    expect(w.run(['config', 'get', 'server.port']).stdout).toBe('8080\n');
    expect(w.run(['config', 'get', 'server.host']).stdout).toBe('127.0.0.1\n'); // the built-in default
    const unset = w.run(['config', 'get', 'sampler']);
    expect([unset.status, unset.stdout]).toEqual([1, '']);
    const all = JSON.parse(w.run(['config', 'get', '--json']).stdout);
    expect(all.values).toEqual(expect.objectContaining({ steps: 30, 'server.port': 8080, output: path.join(w.sub, 'renders/{seed}.png'), loraDir: path.join(path.dirname(w.project), 'loras') }));
    expect(all.sources).toEqual(expect.objectContaining({ steps: `user ${w.userFile}`, output: `project ${w.projectFile}`, 'server.host': 'default' }));
    expect(all.files).toEqual({ user: w.userFile, project: w.projectFile });
    const text = w.run(['config', 'get']).stdout;
    expect(text).toMatch(new RegExp(`^steps +30 +\\(user ${w.userFile}\\)$`, 'm'));

    expect(w.run(['config', 'unset', 'steps']).status).toBe(0);
    expect(w.run(['config', 'get', 'steps']).status).toBe(1);
    expect(JSON.parse(fs.readFileSync(w.userFile, 'utf8'))).toEqual({ server: { port: 8080, models: expect.any(Array) } });
    expect(w.run(['config', 'path']).stdout).toBe(`user     ${w.userFile}\nproject  ${w.projectFile}\n`);
  });

  it('precedence: flag, then environment, then the nearest project file, then the user file', () => {
    const w = workspace();
    const steps = (extra: Record<string, string> = {}, cwd = w.sub) => JSON.parse(w.run(['config', 'get', 'steps', '--json'], extra, cwd).stdout);
    w.write(w.userFile, { steps: 3, cfg: 5 });
    expect(steps()).toEqual({ key: 'steps', value: 3, source: `user ${w.userFile}` });
    w.write(w.projectFile, { steps: 4 });
    expect(steps()).toEqual({ key: 'steps', value: 4, source: `project ${w.projectFile}` });
    // outside the project only the user file applies
    expect(steps({}, w.root).value).toBe(3);
    expect(steps({ DIFFUSEKIT_STEPS: '6' })).toEqual({ key: 'steps', value: 6, source: 'env DIFFUSEKIT_STEPS' });
    expect(JSON.parse(w.run(['config', 'get', 'cfg', '--json']).stdout).value).toBe(5);
  });

  it('generate takes model, steps, size and output from the config files; the environment and flags beat them', () => {
    const w = workspace();
    w.write(w.userFile, { steps: 3, size: '64' });
    w.write(w.projectFile, { model: tinyModel(), steps: 2, output: 'renders/{seed}.png' });
    const fromConfig = w.run(['generate', 'a lantern', '--seed', '11']);
    expect(fromConfig.status, fromConfig.stderr).toBe(0);
    // the project's output template is relative to the project folder, not the working directory
    expect(fromConfig.stdout).toBe(`${path.join(w.project, 'renders', '11.png')}  seed 11\n`);
    expect(readPngText(fs.readFileSync(path.join(w.project, 'renders', '11.png'))).parameters).toMatch(/Steps: 2, .*Size: 64x64/);

    const overridden = w.run(['generate', 'a lantern', '--seed', '12', '--steps', '1', '-o', 'here.png'], { DIFFUSEKIT_STEPS: '4', DIFFUSEKIT_SIZE: '72x64' });
    expect(overridden.status, overridden.stderr).toBe(0);
    expect(readPngText(fs.readFileSync(path.join(w.sub, 'here.png'))).parameters).toMatch(/Steps: 1, .*Size: 72x64/);
  });

  it('unknown keys, bad values and unreadable files are usage errors (exit 2) that name the key and the file', () => {
    const w = workspace();
    const typo = w.run(['config', 'set', 'stpes', '3']);
    expect([typo.status, typo.stderr]).toEqual([2, expect.stringContaining("unknown config key 'stpes' (did you mean 'steps'?)")]);
    const value = w.run(['config', 'set', 'steps', 'many']);
    expect([value.status, value.stderr]).toEqual([2, expect.stringContaining('invalid value for steps: expected an integer between 1 and 150, got "many"')]);
    const template = w.run(['config', 'set', 'output', 'out.gif']);
    expect(template.status).toBe(2);
    const env = w.run(['generate', 'x'], { DIFFUSEKIT_CFG: 'high' });
    expect([env.status, env.stderr]).toEqual([2, expect.stringContaining('invalid value for DIFFUSEKIT_CFG: expected a number between 0 and 30, got "high"')]);
    w.write(w.projectFile, { steps: '20' });
    const typed = w.run(['generate', 'x']);
    expect([typed.status, typed.stderr]).toEqual([2, expect.stringContaining(`invalid value for steps in ${w.projectFile}: expected an integer`)]);
    fs.writeFileSync(w.projectFile, '{ "steps": 20, }');
    const broken = w.run(['config', 'get']);
    expect([broken.status, broken.stderr]).toEqual([2, expect.stringContaining(`config file ${w.projectFile} is not valid JSON`)]);
    w.write(w.projectFile, { server: { prot: 1 } });
    const nested = w.run(['config', 'get']);
    expect([nested.status, nested.stderr]).toEqual([2, expect.stringContaining(`unknown config key 'server.prot' in ${w.projectFile} (did you mean 'server.port'?)`)]);
  });

  it('serve and keys take the data directory, and serve its port, from the config', async () => {
    const w = workspace();
    w.write(w.projectFile, { dataDir: './data', server: { port: 0 } });
    const keys = w.run(['keys', 'list']);
    expect(keys.stdout).toBe(`No API keys in ${path.join(w.project, 'data')}. Create one with: diffusekit keys create --name NAME\n`);
    const served = await runUntil(process.execPath, [cliPath, 'serve', '--no-auth'], /"event":"listening"/, (child) => child.kill('SIGTERM'), { cwd: w.sub, env: w.env() });
    expect([served.status, served.signal], served.output).toEqual([0, null]);
    expect(served.output).toMatch(/"url":"http:\/\/127\.0\.0\.1:\d+"/);
    expect(served.output).not.toContain(':7860');
    expect(served.output).toContain(`data ${path.join(w.project, 'data')}`);
    expect(filesIn(path.join(w.project, 'data')).length).toBeGreaterThan(0);
  });

  it('serve takes the output flags: --json puts models and settings on the ready line, --quiet keeps only the --no-auth warning', async () => {
    const w = workspace();
    w.write(w.projectFile, { dataDir: './data', server: { port: 0 } });
    const json = await runUntil(process.execPath, [cliPath, 'serve', '--no-auth', '--json', '--no-color'], /"event":"listening".*\n/, (child) => child.kill('SIGTERM'), { cwd: w.sub, env: w.env() });
    expect([json.status, json.signal], json.output).toEqual([0, null]);
    const ready = JSON.parse(/^\{"event":"listening".*$/m.exec(json.output)![0]);
    expect(ready).toMatchObject({ dataDir: path.join(w.project, 'data'), queue: 'sqlite', role: 'all', auth: false });
    expect(ready.models).toContainEqual({ id: 'synthetic-sdxs-seed0-f16-v1', role: 'checkpoint', family: 'sd1', synthetic: true });
    expect(json.output).toContain('WARNING: --no-auth');
    expect(json.output).not.toContain('diffusekit serving on');
    const quiet = await runUntil(process.execPath, [cliPath, 'serve', '--no-auth', '-q'], /"event":"listening"/, (child) => child.kill('SIGTERM'), { cwd: w.sub, env: w.env() });
    expect(quiet.output).toContain('WARNING: --no-auth');
    expect(quiet.output).not.toMatch(/serving on|synthetic demo/);
  });
});
