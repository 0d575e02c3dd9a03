import { parseArgs } from 'node:util';
import { OUTPUT_OPTIONS } from './context.js';
import type { KeyDirectory } from '../server/auth/authenticate.js';
import { createdKeyJson, KeyStore, toKeyJson, type KeyRecord } from '../server/auth/key-store.js';
import { connectRedis } from '../server/redis/connection.js';
import { RedisKeyStore } from '../server/redis/key-store.js';
import { parseSecretKey, SecretBox } from '../server/security/secret-box.js';
import { defaultDataDir } from '../server/data-dir.js';
import { openDatabase } from '../server/store/database.js';
import { loadConfig } from './config.js';
import { UsageError } from './usage-error.js';

const HELP = `Usage:
  diffusekit keys create --name NAME [--rate N] [--quota N] [--max-concurrent N] [--json]
  diffusekit keys list [--json]
  diffusekit keys revoke ID|NAME [--json]

API keys for 'diffusekit serve'. The server stores only a hash of each key: the key is printed once, at
creation. Clients send it as "key" in the JSON body or as "Authorization: Bearer <key>".

create options:
      --name NAME           who the key is for (unique among live keys)
      --rate N              requests per second, bursts up to N (default unlimited)
      --quota N             images per calendar month, UTC (default unlimited)
      --max-concurrent N    jobs queued plus running at once (default: the server's setting)

options:
      --data-dir DIR        the server's data directory, as for serve (default $DIFFUSEKIT_DATA_DIR, else
                            the config's dataDir, else the OS's data folder: ~/.local/share/diffusekit on Linux)
      --redis-url URL       the keys of a Redis deployment (serve --queue redis) instead
                            (default $DIFFUSEKIT_REDIS_URL when set); webhook secrets are encrypted there
                            under $DIFFUSEKIT_SECRET_KEY, as serve does
      --json                print JSON instead of text
  -h, --help                this help

Examples:
  diffusekit keys create --name alice --rate 2 --quota 1000
  diffusekit keys create --name ci --json > ci-key.json
  diffusekit keys list
  diffusekit keys revoke alice
`;

const common = {
  'data-dir': { type: 'string' },
  'redis-url': { type: 'string' },
  ...OUTPUT_OPTIONS,
} as const;

/** The data directory serve uses: --data-dir, else the config's dataDir (or DIFFUSEKIT_DATA_DIR), else the default. */
const dataDirOf = (values: { 'data-dir'?: string }): string => values['data-dir'] ?? loadConfig().values.dataDir ?? defaultDataDir();

/** Runs `use` on the keys of the data directory's database, or of Redis when a URL is given. */
async function withStore<T>(values: { 'data-dir'?: string; 'redis-url'?: string }, use: (keys: KeyDirectory) => Promise<T>): Promise<T> {
  const redisUrl = values['redis-url'] ?? (process.env.DIFFUSEKIT_REDIS_URL || undefined);
  if (redisUrl) {
    const redis = connectRedis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const secretKey = parseSecretKey(process.env.DIFFUSEKIT_SECRET_KEY || undefined);
      return await use(new RedisKeyStore(redis, { secrets: secretKey && new SecretBox(secretKey) }));
    } finally {
      redis.disconnect();
    }
  }
  const db = openDatabase(dataDirOf(values));
  try {
    return await use(new KeyStore(db));
  } finally {
    db.close();
  }
}

// Only turns text into a number; ranges are the store's to check, so the CLI and the API agree.
function number(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} expects a number, got '${value}'`);
  return n;
}

const printJson = (value: unknown): void => console.log(JSON.stringify(value, null, 2));
const limit = (value: number | null, unit: string, otherwise = 'unlimited'): string => (value === null ? otherwise : `${value} ${unit}`);
const timestamp = (iso: string | null): string => (iso === null ? '-' : `${iso.slice(0, 16).replace('T', ' ')} UTC`);

async function create(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...common, name: { type: 'string' }, rate: { type: 'string' }, quota: { type: 'string' }, 'max-concurrent': { type: 'string' } },
  });
  if (values.name === undefined) throw new UsageError('keys create needs --name');
  const options = {
    name: values.name,
    rateLimit: number('rate', values.rate),
    monthlyQuota: number('quota', values.quota),
    maxConcurrent: number('max-concurrent', values['max-concurrent']),
  };
  const { record, key } = await withStore(values, async (keys) => keys.create(options));
  if (values.json) {
    printJson(createdKeyJson(record, key));
    return;
  }
  if (values.quiet) {
    console.log(key);
    return;
  }
  console.log(`Created API key "${record.name}" (${record.id})

  key             ${key}
  webhook secret  ${record.webhookSecret}
  rate limit      ${limit(record.rateLimit, 'requests/s')}
  monthly quota   ${limit(record.monthlyQuota, 'images')}
  max concurrent  ${limit(record.maxConcurrent, 'jobs', "the server's default")}

The key and the webhook secret are shown only now: the server keeps the key's hash and the secret encrypted.`);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd()).join('\n');
}

async function list(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: common });
  const dataDir = dataDirOf(values);
  const rows = await withStore(values, async (keys) => Promise.all((await keys.list()).map(async (record) => toKeyJson(record, await keys.imagesThisMonth(record.id)))));
  if (values.json) {
    printJson({ keys: rows });
    return;
  }
  if (rows.length === 0) {
    console.log(`No API keys in ${dataDir}. Create one with: diffusekit keys create --name NAME`);
    return;
  }
  const header = ['ID', 'NAME', 'KEY', 'RATE/S', 'IMAGES THIS MONTH', 'MAX JOBS', 'CREATED', 'LAST USED', 'STATUS'];
  const body = rows.map((k) => [
    k.id,
    k.name,
    `${k.prefix}...`,
    k.rate_limit === null ? '-' : String(k.rate_limit),
    k.monthly_quota === null ? String(k.images_this_month) : `${k.images_this_month} / ${k.monthly_quota}`,
    k.max_concurrent === null ? 'default' : String(k.max_concurrent),
    timestamp(k.created_at),
    timestamp(k.last_used_at),
    k.revoked_at === null ? 'active' : `revoked ${k.revoked_at.slice(0, 10)}`,
  ]);
  console.log(table([header, ...body]));
}

async function revoke(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: common, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError('keys revoke needs exactly one key id or name');
  const { record, alreadyRevoked, imagesThisMonth } = await withStore(values, async (keys) => {
    const result = await keys.revoke(positionals[0]);
    return { ...result, imagesThisMonth: await keys.imagesThisMonth(result.record.id) };
  });
  if (values.json) {
    printJson({ already_revoked: alreadyRevoked, ...toKeyJson(record, imagesThisMonth) });
    return;
  }
  const which = (r: KeyRecord) => `${r.id} ("${r.name}")`;
  console.log(alreadyRevoked ? `${which(record)} was already revoked at ${timestamp(record.revokedAt)}` : `Revoked ${which(record)}`);
}

/** `diffusekit keys create|list|revoke`: manages the API keys of `diffusekit serve` in its data directory. */
export async function keysCommand(args: string[]): Promise<void> {
  const [subcommand, ...rest] = args;
  if (subcommand === '-h' || subcommand === '--help' || subcommand === 'help' || rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(HELP);
  } else if (subcommand === 'create') {
    await create(rest);
  } else if (subcommand === 'list') {
    await list(rest);
  } else if (subcommand === 'revoke') {
    await revoke(rest);
  } else if (subcommand === undefined) {
    throw new UsageError("keys needs a subcommand: create, list or revoke (see 'diffusekit keys --help')");
  } else {
    throw new UsageError(`unknown keys subcommand '${subcommand}': expected create, list or revoke`);
  }
}
