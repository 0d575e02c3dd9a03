import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultDataDir } from '../server/data-dir.js';
import { platformDirs } from '../util/platform-dirs.js';
import { UsageError } from './usage-error.js';

/**
 * CLI defaults from config files and the environment. Precedence, highest first: command-line flags,
 * DIFFUSEKIT_* environment variables, the project file (the nearest ./diffusekit.config.json up from the
 * working directory), the user file ($XDG_CONFIG_HOME/diffusekit/config.json, else ~/.config/diffusekit/config.json
 * on Linux, ~/Library/Preferences/diffusekit/config.json on macOS, %APPDATA%\diffusekit\Config\config.json on
 * Windows: see platformDirs), built-in defaults.
 *
 * Files are JSON objects; server settings sit under "server" ({"server": {"port": 8080}}), and the flat
 * spelling "server.port" is read too. Relative paths in a file are relative to that file's folder, except
 * `output` in the user file, which stays relative to the working directory.
 */

type KeyType = 'string' | 'model' | 'path' | 'template' | 'size' | 'integer' | 'number' | 'models';

interface KeySpec {
  type: KeyType;
  env: string;
  description: string;
  min?: number;
  max?: number;
  /** Built-in default, shown by `config get`. */
  fallback?: (env: NodeJS.ProcessEnv) => ConfigValue;
}

export type ConfigValue = string | number | string[];

export const DEFAULT_OUTPUT_TEMPLATE = 'diffusekit-{date}-{seed}.png';

export const CONFIG_KEYS = {
  model: { type: 'model', env: 'DIFFUSEKIT_MODEL', description: 'generate/img2img/inpaint/outpaint model: file, folder or library name' },
  upscaler: { type: 'model', env: 'DIFFUSEKIT_UPSCALER', description: 'ESRGAN model for upscale' },
  size: { type: 'size', env: 'DIFFUSEKIT_SIZE', description: 'generate: WIDTHxHEIGHT, or one number (default: the model\'s native size)' },
  steps: { type: 'integer', env: 'DIFFUSEKIT_STEPS', description: 'sampling steps (default: the model\'s, as pipe.info.defaults)', min: 1, max: 150 },
  cfg: { type: 'number', env: 'DIFFUSEKIT_CFG', description: 'guidance scale (default: the model\'s: 7 for SD 1.x, 1 for distilled models)', min: 0, max: 30 },
  sampler: { type: 'string', env: 'DIFFUSEKIT_SAMPLER', description: 'sampler, e.g. euler_a or "DPM++ 2M Karras"' },
  scheduler: { type: 'string', env: 'DIFFUSEKIT_SCHEDULER', description: 'scheduler, e.g. karras' },
  threads: { type: 'integer', env: 'DIFFUSEKIT_THREADS', description: 'CPU threads (default: physical cores)', min: 1, max: 1024 },
  output: { type: 'template', env: 'DIFFUSEKIT_OUTPUT', description: 'output file name template', fallback: () => DEFAULT_OUTPUT_TEMPLATE },
  loraDir: { type: 'path', env: 'DIFFUSEKIT_LORA_DIR', description: 'LoRAs that --lora NAME and <lora:NAME:W> find' },
  embeddingDir: { type: 'path', env: 'DIFFUSEKIT_EMBEDDING_DIR', description: 'folder of textual-inversion embeddings' },
  modelsDir: { type: 'path', env: 'DIFFUSEKIT_MODELS_DIR', description: 'folder of the model library' },
  dataDir: { type: 'path', env: 'DIFFUSEKIT_DATA_DIR', description: 'serve/keys: database, inputs and outputs', fallback: (env) => defaultDataDir(env) },
  'server.port': { type: 'integer', env: 'DIFFUSEKIT_PORT', description: 'serve: TCP port', min: 0, max: 65535, fallback: () => 7860 },
  'server.host': { type: 'string', env: 'DIFFUSEKIT_HOST', description: 'serve: listen address', fallback: () => '127.0.0.1' },
  'server.workers': { type: 'integer', env: 'DIFFUSEKIT_WORKERS', description: 'serve: engine worker processes', min: 1, max: 256, fallback: () => 1 },
  'server.models': { type: 'models', env: 'DIFFUSEKIT_SERVER_MODELS', description: 'serve: models to serve (comma-separated as text)' },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;
export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];

export interface ConfigValues {
  model?: string;
  upscaler?: string;
  size?: string;
  steps?: number;
  cfg?: number;
  sampler?: string;
  scheduler?: string;
  threads?: number;
  output?: string;
  loraDir?: string;
  embeddingDir?: string;
  modelsDir?: string;
  dataDir?: string;
  'server.port'?: number;
  'server.host'?: string;
  'server.workers'?: number;
  'server.models'?: string[];
}

export type ConfigSource =
  | { kind: 'user' | 'project'; path: string }
  | { kind: 'env'; name: string }
  | { kind: 'default' };

export interface LoadedConfig {
  /** Effective values from files and environment (no built-in defaults). */
  values: ConfigValues;
  sources: Partial<Record<ConfigKey, ConfigSource>>;
  /** The user file (whether or not it exists). */
  userPath: string;
  /** The nearest project file, when there is one. */
  projectPath: string | undefined;
}

export const PROJECT_FILE = 'diffusekit.config.json';

/** A config file or variable the CLI cannot use: exit 2, with the file (or variable) and key named. */
export class ConfigError extends UsageError {
  constructor(message: string) {
    super(message, "Run 'diffusekit config --help' for the keys and their types.");
  }
}

export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(platformDirs(env).config, 'config.json');
}

/** The nearest diffusekit.config.json in `cwd` or a folder above it. */
export function findProjectConfig(cwd: string = process.cwd()): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    const file = path.join(dir, PROJECT_FILE);
    if (fs.existsSync(file)) return file;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

/** The known key nearest to a misspelt one, for "did you mean". */
export function suggestKey(key: string): string | undefined {
  const lower = key.toLowerCase();
  const scored = CONFIG_KEY_NAMES.map((k) => ({ k, d: Math.min(levenshtein(lower, k.toLowerCase()), levenshtein(lower, k.replace('server.', '').toLowerCase())) }));
  const best = scored.sort((a, b) => a.d - b.d)[0];
  return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.k : undefined;
}

export function checkKey(key: string, where = ''): ConfigKey {
  if (key in CONFIG_KEYS) return key as ConfigKey;
  const suggestion = suggestKey(key);
  throw new ConfigError(`unknown config key '${key}'${where}${suggestion ? ` (did you mean '${suggestion}'?)` : ''}; keys: ${CONFIG_KEY_NAMES.join(', ')}`);
}

const expandHome = (p: string, env: NodeJS.ProcessEnv) => (p === '~' || p.startsWith('~/') ? path.join(env.HOME || os.homedir(), p.slice(1)) : p);
const looksLikePath = (v: string) => /^[.~/]|[/\\]|\.(safetensors|gguf|ckpt|pth|pt|bin)$/i.test(v);

function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? `${JSON.stringify(value)} (an array)` : `${JSON.stringify(value)} (a ${value === null ? 'null' : typeof value})`;
}

function expected(spec: KeySpec): string {
  switch (spec.type) {
    case 'integer': return `an integer between ${spec.min} and ${spec.max}`;
    case 'number': return `a number between ${spec.min} and ${spec.max}`;
    case 'size': return 'a size such as 512x768 or 512 (multiples of 8)';
    case 'models': return 'a list of model files or names';
    case 'template': return 'a file name template ending in .png, .jpg, .jpeg or .webp';
    default: return 'a non-empty string';
  }
}

/**
 * Checks one value (`fromText`: as typed on a command line or in the environment, so numbers and lists are
 * parsed from text) and resolves relative paths against `baseDir` (undefined: leave them relative).
 */
export function parseConfigValue(key: ConfigKey, raw: unknown, where: string, options: { fromText: boolean; baseDir?: string; env?: NodeJS.ProcessEnv }): ConfigValue {
  const spec: KeySpec = CONFIG_KEYS[key];
  const env = options.env ?? process.env;
  const fail = (): never => {
    throw new ConfigError(`invalid value for ${where}: expected ${expected(spec)}, got ${describeValue(raw)}`);
  };
  const resolvePath = (p: string) => {
    const expanded = expandHome(p, env);
    return options.baseDir !== undefined ? path.resolve(options.baseDir, expanded) : expanded;
  };
  switch (spec.type) {
    case 'integer':
    case 'number': {
      const n = options.fromText && typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < spec.min! || n > spec.max!) return fail();
      if (spec.type === 'integer' && !Number.isInteger(n)) return fail();
      return n;
    }
    case 'size': {
      const text = typeof raw === 'number' && !options.fromText ? String(raw) : raw;
      if (typeof text !== 'string' || parseSize(text) === undefined) return fail();
      return text;
    }
    case 'models': {
      const list = options.fromText && typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
      if (!Array.isArray(list) || list.length === 0 || !list.every((m) => typeof m === 'string' && m.length > 0)) return fail();
      return (list as string[]).map((m) => (looksLikePath(m) ? resolvePath(m) : m));
    }
    default: {
      if (typeof raw !== 'string' || raw.length === 0) return fail();
      if (spec.type === 'path') return resolvePath(raw);
      if (spec.type === 'model') return looksLikePath(raw) ? resolvePath(raw) : raw;
      if (spec.type === 'template') {
        if (!/\.(png|jpe?g|webp)$/i.test(raw)) return fail();
        return resolvePath(raw);
      }
      return raw;
    }
  }
}

/** "512x768" -> { width, height }; "512" -> a square. Undefined when it is neither. */
export function parseSize(text: string): { width: number; height: number } | undefined {
  const m = /^\s*(\d+)\s*(?:[x×*,]\s*(\d+))?\s*$/i.exec(text);
  if (!m) return undefined;
  const width = Number(m[1]);
  const height = Number(m[2] ?? m[1]);
  if (width <= 0 || height <= 0) return undefined;
  return { width, height };
}

/** A config file's object, flattened: "server": {"port": 1} becomes "server.port". */
function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  if (text.trim() === '') return {};
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(`config file ${file} must hold a JSON object`);
  const flat: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    if (key === '$schema') continue;
    if (key === 'server' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [inner, v] of Object.entries(value as Record<string, unknown>)) flat[`server.${inner}`] = v;
    } else {
      flat[key] = value;
    }
  }
  return flat;
}

/** Reads the user file, the project file and the environment. Throws ConfigError on an unusable value. */
export function loadConfig(options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const userPath = userConfigPath(env);
  const projectPath = findProjectConfig(options.cwd);
  const values: Record<string, ConfigValue> = {};
  const sources: Partial<Record<ConfigKey, ConfigSource>> = {};
  const layers: [file: string, kind: 'user' | 'project'][] = [[userPath, 'user']];
  if (projectPath && path.resolve(projectPath) !== path.resolve(userPath)) layers.push([projectPath, 'project']);
  for (const [file, kind] of layers) {
    for (const [key, raw] of Object.entries(readConfigFile(file))) {
      const k = checkKey(key, ` in ${file}`);
      const baseDir = kind === 'user' && k === 'output' ? undefined : path.dirname(file);
      values[k] = parseConfigValue(k, raw, `${k} in ${file}`, { fromText: false, baseDir, env });
      sources[k] = { kind, path: file };
    }
  }
  for (const key of CONFIG_KEY_NAMES) {
    const name = CONFIG_KEYS[key].env;
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    values[key] = parseConfigValue(key, raw, name, { fromText: true, env, baseDir: CONFIG_KEYS[key].type === 'path' ? process.cwd() : undefined });
    sources[key] = { kind: 'env', name };
  }
  return { values: values as ConfigValues, sources, userPath, projectPath };
}

/** A key's built-in default, if it has one. */
export function configDefault(key: ConfigKey, env: NodeJS.ProcessEnv = process.env): ConfigValue | undefined {
  const spec: KeySpec = CONFIG_KEYS[key];
  return spec.fallback?.(env);
}

export function describeSource(source: ConfigSource): string {
  switch (source.kind) {
    case 'env': return `env ${source.name}`;
    case 'default': return 'default';
    default: return `${source.kind} ${source.path}`;
  }
}

/** Sets (value) or removes (undefined) a key in a config file, keeping its other keys; creates the file. */
export function writeConfigKey(file: string, key: ConfigKey, value: ConfigValue | undefined): boolean {
  let data: Record<string, unknown> = {};
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8');
    if (text.trim() !== '') {
      try {
        data = JSON.parse(text);
      } catch (err) {
        throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
      }
      if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(`config file ${file} must hold a JSON object`);
    }
  }
  let changed = false;
  const [group, inner] = key.startsWith('server.') ? ['server', key.slice('server.'.length)] : [undefined, key];
  if (key in data) {
    // the flat spelling, if the file uses it
    delete data[key];
    changed = true;
  }
  if (group) {
    const section = (data[group] && typeof data[group] === 'object' ? data[group] : {}) as Record<string, unknown>;
    if (inner in section) changed = true;
    delete section[inner];
    if (value !== undefined) section[inner] = value;
    if (Object.keys(section).length > 0) data[group] = section;
    else delete data[group];
  } else {
    if (inner in data) changed = true;
    delete data[inner];
    if (value !== undefined) data[inner] = value;
  }
  if (value === undefined && !changed) return false;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`);
  fs.renameSync(tmp, file);
  return true;
}
