import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  checkKey, CONFIG_KEY_NAMES, CONFIG_KEYS, configDefault, describeSource, findProjectConfig, loadConfig, parseConfigValue, PROJECT_FILE,
  userConfigPath, writeConfigKey, type ConfigKey, type ConfigValue,
} from '../config.js';
import { createCli, OUTPUT_OPTIONS, type Cli } from '../context.js';
import { UsageError } from '../usage-error.js';

const keyTable = CONFIG_KEY_NAMES.map((key) => `  ${key.padEnd(16)} ${CONFIG_KEYS[key].env.padEnd(26)} ${CONFIG_KEYS[key].description}`).join('\n');

export const HELP = `diffusekit config: defaults for every command

Usage:
  diffusekit config get [KEY]                 the effective value of KEY, or every set key with its source
  diffusekit config set KEY VALUE [--project] set KEY in the user file (--project: the project file)
  diffusekit config unset KEY [--project]     remove KEY from the user (or project) file
  diffusekit config path                      where the files are

Files (JSON; server settings under "server", e.g. {"steps": 30, "server": {"port": 8080}}):
  user     $XDG_CONFIG_HOME/diffusekit/config.json, else ~/.config/diffusekit/config.json (Linux),
           ~/Library/Preferences/diffusekit/config.json (macOS), %APPDATA%\\diffusekit\\Config\\config.json (Windows)
  project  the nearest ${PROJECT_FILE} in the working directory or a folder above it
           (set --project creates one in the working directory when there is none)
Relative paths in a file are relative to that file's folder (but 'output' in the user file is relative
to the working directory). Precedence, highest first: command-line flags, environment variables, the
project file, the user file, built-in defaults.

Keys, their environment variables, and what they set:
${keyTable}

Options:
      --project           set/unset in the project file
      --json              get/path: JSON on stdout
  -h, --help              this help

Exit codes: 0 ok, 1 'get KEY' of a key that is not set, 2 unknown key, bad value or unreadable file.

Examples:
  diffusekit config set model ~/models/v1-5-pruned-emaonly.safetensors
  diffusekit config set steps 30 --project
  diffusekit config set output "out/{date}-{prompt}-{seed}.png"
  diffusekit config set server.models a.safetensors,RealESRGAN_x4plus.pth
  diffusekit config get steps
  DIFFUSEKIT_STEPS=8 diffusekit config get
`;

function show(value: ConfigValue): string {
  return Array.isArray(value) ? value.join(',') : String(value);
}

function get(cli: Cli, keys: string[]): number {
  const config = loadConfig();
  if (keys.length > 1) throw new UsageError('config get takes at most one KEY');
  if (keys.length === 1) {
    const key = checkKey(keys[0]);
    const value = config.values[key] ?? configDefault(key);
    const source = config.sources[key] ?? (value === undefined ? undefined : { kind: 'default' as const });
    if (cli.json) cli.printJson({ key, value: value ?? null, source: source ? describeSource(source) : null });
    else if (value !== undefined) cli.print(show(value));
    return value === undefined ? 1 : 0;
  }
  const rows: { key: ConfigKey; value: ConfigValue; source: string }[] = [];
  for (const key of CONFIG_KEY_NAMES) {
    const value = config.values[key] ?? configDefault(key);
    if (value === undefined) continue;
    rows.push({ key, value, source: describeSource(config.sources[key] ?? { kind: 'default' }) });
  }
  if (cli.json) {
    cli.printJson({
      values: Object.fromEntries(rows.map((r) => [r.key, r.value])),
      sources: Object.fromEntries(rows.map((r) => [r.key, r.source])),
      files: { user: config.userPath, project: config.projectPath ?? null },
    });
    return 0;
  }
  const keyWidth = Math.max(...rows.map((r) => r.key.length));
  const valueWidth = Math.min(48, Math.max(...rows.map((r) => show(r.value).length)));
  for (const r of rows) cli.print(`${r.key.padEnd(keyWidth)}  ${show(r.value).padEnd(valueWidth)}  ${cli.style.dim(`(${r.source})`)}`);
  return 0;
}

/** The file `set`/`unset` change: the user file, or (--project) the nearest project file, else a new one here. */
function targetFile(project: boolean): { file: string; kind: 'user' | 'project' } {
  if (!project) return { file: userConfigPath(), kind: 'user' };
  return { file: findProjectConfig() ?? path.resolve(PROJECT_FILE), kind: 'project' };
}

/** A value as typed, checked, with paths made absolute (user file) or relative to the project file. */
function storedValue(key: ConfigKey, raw: string, kind: 'user' | 'project', file: string): ConfigValue {
  const type = CONFIG_KEYS[key].type;
  const keepRelative = kind === 'user' && type === 'template';
  const value = parseConfigValue(key, raw, key, { fromText: true, baseDir: keepRelative ? undefined : process.cwd() });
  if (kind !== 'project') return value;
  const relative = (p: string) => {
    if (!path.isAbsolute(p)) return p;
    const r = path.relative(path.dirname(file), p);
    return r.startsWith('..') ? p : `./${r}`;
  };
  return Array.isArray(value) ? value.map(relative) : typeof value === 'string' && (type === 'path' || type === 'template' || path.isAbsolute(value)) ? relative(value) : value;
}

function overriddenBy(key: ConfigKey, kind: 'user' | 'project'): string | undefined {
  const source = loadConfig().sources[key];
  if (!source || source.kind === kind) return undefined;
  if (source.kind === 'env' || (source.kind === 'project' && kind === 'user')) return describeSource(source);
  return undefined;
}

function set(cli: Cli, args: string[], project: boolean): void {
  const [name, ...rest] = args;
  if (name === undefined || rest.length === 0) throw new UsageError('config set needs KEY and VALUE: diffusekit config set steps 30');
  const key = checkKey(name);
  if (rest.length > 1 && CONFIG_KEYS[key].type !== 'models') throw new UsageError(`config set ${key} takes one VALUE (quote it if it has spaces)`);
  const { file, kind } = targetFile(project);
  const value = storedValue(key, rest.join(','), kind, file);
  writeConfigKey(file, key, value);
  const shadow = overriddenBy(key, kind);
  if (cli.json) cli.printJson({ key, value, file, overriddenBy: shadow ?? null });
  else {
    cli.note(`${cli.style.green('✔')} ${key} = ${show(value)} ${cli.style.dim(`(${file})`)}`);
    if (shadow) cli.note(cli.style.yellow(`note: ${shadow} sets ${key} too, and takes precedence`));
  }
}

function unset(cli: Cli, args: string[], project: boolean): void {
  if (args.length !== 1) throw new UsageError('config unset needs one KEY');
  const key = checkKey(args[0]);
  const { file } = targetFile(project);
  const removed = writeConfigKey(file, key, undefined);
  if (cli.json) cli.printJson({ key, file, removed });
  else cli.note(removed ? `${cli.style.green('✔')} ${key} removed ${cli.style.dim(`(${file})`)}` : `${key} was not set in ${file}`);
}

function where(cli: Cli): void {
  const user = userConfigPath();
  const project = findProjectConfig();
  if (cli.json) {
    cli.printJson({ user, project: project ?? null });
    return;
  }
  cli.print(`user     ${user}`);
  cli.print(`project  ${project ?? `(none: 'config set --project' creates ${path.resolve(PROJECT_FILE)})`}`);
}

/** `diffusekit config get|set|unset|path`. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { project: { type: 'boolean' }, ...OUTPUT_OPTIONS } });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const cli = createCli(values);
  const [subcommand, ...rest] = positionals;
  switch (subcommand) {
    case undefined:
    case 'list':
    case 'get':
      return get(cli, rest);
    case 'set':
      set(cli, rest, values.project ?? false);
      return 0;
    case 'unset':
    case 'rm':
      unset(cli, rest, values.project ?? false);
      return 0;
    case 'path':
      where(cli);
      return 0;
    default:
      throw new UsageError(`unknown config subcommand '${subcommand}': expected get, set, unset or path`);
  }
}
