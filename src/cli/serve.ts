import { parseArgs } from 'node:util';
import { createServer } from '../server/app.js';
import type { ServerOptions } from '../server/config.js';
import { loadConfig } from './config.js';
import { createCli, OUTPUT_HELP, OUTPUT_OPTIONS } from './context.js';
import { UsageError } from './usage-error.js';

export const SERVE_HELP = `diffusekit serve: the Stable Diffusion REST API (v6), the OpenAI images API (/v1) and
AUTOMATIC1111's sdapi/v1, self-hosted, on one job queue

Usage:
  diffusekit serve [--model MODEL]... [options]

Options:
  -m, --model MODEL        a checkpoint, ControlNet, ESRGAN upscaler or video model (Wan, with its VAE and
                           text encoder as further --model files) to serve, by path or library name or
                           alias (repeatable); its id is the file name without extension (the name or alias
                           answers too); the first checkpoint is the default model_id.
                           None: a synthetic demo model (sdxs) and upscaler are served
  -p, --port N             TCP port (default 7860)
      --host ADDR          listen address (default 127.0.0.1; 0.0.0.0 for the network)
      --data-dir DIR       database, inputs and outputs (default $DIFFUSEKIT_DATA_DIR or ~/.local/share/diffusekit)
      --lora-dir DIR       LoRAs that lora_model names
      --embedding-dir DIR  textual-inversion embeddings
      --workers N          engine worker processes (default 1)
      --device DEV         auto (default), cpu, cuda, cuda:N, vulkan, vulkan:N; a comma list (or repeated)
                           goes to the workers in turn: --workers 2 --device cuda:0,cuda:1 is one per GPU
  -t, --threads N          CPU threads per worker (default: physical cores / workers)
      --sync-wait S        seconds a request waits before answering "processing" (default 10)
      --output-ttl S       seconds outputs are kept (default 86400)
      --public-url URL     origin clients use (behind a reverse proxy), for output URLs
      --trust-proxy        take scheme and host from X-Forwarded-Proto/-Host (behind a reverse proxy)
      --allow-host HOST    host or CIDR that URL inputs and webhooks may reach although private (repeatable)
      --no-auth            serve without API keys (local use only)
      --safety-model FILE  an ONNX NSFW image classifier (labels from its config.json) that safety_checker
                           "yes" also runs on every output; flagged outputs are blurred
      --safety-threshold N probability from which it flags (default 0.5)

Scale-out (several processes or machines):
      --queue redis        keep the job queue, keys and rate limits in Redis (default: sqlite, one machine)
      --redis-url URL      redis://host:6379 (default $DIFFUSEKIT_REDIS_URL)
      --role ROLE          all (default), api (HTTP only) or worker (engine only; no port)
      --storage s3         inputs and outputs in an S3-compatible bucket (default: the data directory,
                           which nodes on one machine, or on a shared mount, can share)
      --s3-bucket NAME, --s3-prefix P, --s3-endpoint URL, --s3-region R, --s3-path-style
                           the bucket (credentials: the AWS SDK's usual environment and profiles)
      --worker-lock S      seconds before a silent worker node's jobs move to another node (default 30)
      --log                JSON request logs on stdout

${OUTPUT_HELP.replace('the result as one JSON document on stdout (progress and messages stay on stderr)', 'the ready line on stdout carries the data directory, queue, role and models')}

Defaults for --model, --port, --host, --data-dir, --lora-dir, --embedding-dir and --workers come from the
config (server.models, server.port, server.host, dataDir, loraDir, embeddingDir, server.workers) and
DIFFUSEKIT_* variables: see 'diffusekit config --help'. Flags beat both.

Keys: create them with 'diffusekit keys create --name NAME' (same --data-dir); the admin key is
$DIFFUSEKIT_ADMIN_KEY. API docs: http://HOST:PORT/docs, OpenAPI: /openapi.json.

Examples:
  diffusekit serve --no-auth
  diffusekit serve -m ~/models/v1-5-pruned-emaonly.safetensors -m ~/models/RealESRGAN_x4plus.pth --port 8080
  curl -s localhost:7860/api/v6/images/text2img -H 'Content-Type: application/json' \\
       -d '{"key":"dk_...","prompt":"a lighthouse at dusk","width":"512","height":"512"}'
`;

function num(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got '${value}'`);
  return n;
}

/** `diffusekit serve`: runs until SIGINT/SIGTERM, then stops cleanly (running jobs resume at the next start). */
export async function serveCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string', short: 'm', multiple: true },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'lora-dir': { type: 'string' },
      'embedding-dir': { type: 'string' },
      workers: { type: 'string' },
      device: { type: 'string', multiple: true },
      threads: { type: 'string', short: 't' },
      'sync-wait': { type: 'string' },
      'output-ttl': { type: 'string' },
      'public-url': { type: 'string' },
      'allow-host': { type: 'string', multiple: true },
      'no-auth': { type: 'boolean' },
      'safety-model': { type: 'string' },
      'safety-threshold': { type: 'string' },
      'trust-proxy': { type: 'boolean' },
      queue: { type: 'string' },
      'redis-url': { type: 'string' },
      role: { type: 'string' },
      storage: { type: 'string' },
      's3-bucket': { type: 'string' },
      's3-prefix': { type: 'string' },
      's3-endpoint': { type: 'string' },
      's3-region': { type: 'string' },
      's3-path-style': { type: 'boolean' },
      'worker-lock': { type: 'string' },
      log: { type: 'boolean' },
      ...OUTPUT_OPTIONS,
    },
  });
  const cli = createCli(values);
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  if (values['safety-threshold'] !== undefined && values['safety-model'] === undefined) throw new UsageError('--safety-threshold needs --safety-model');
  // defaults from the config files and DIFFUSEKIT_* variables (diffusekit config --help); flags beat them
  const config = loadConfig().values;
  const server = await createServer({
    models: values.model ?? config['server.models'],
    port: num('port', values.port) ?? config['server.port'],
    host: values.host ?? config['server.host'],
    dataDir: values['data-dir'] ?? config.dataDir,
    loraDir: values['lora-dir'] ?? config.loraDir,
    embeddingDir: values['embedding-dir'] ?? config.embeddingDir,
    workers: num('workers', values.workers) ?? config['server.workers'],
    devices: values.device?.flatMap((d) => d.split(',')),
    threads: num('threads', values.threads),
    syncWaitSeconds: num('sync-wait', values['sync-wait']),
    outputTtlSeconds: num('output-ttl', values['output-ttl']),
    publicUrl: values['public-url'],
    allowHosts: values['allow-host'],
    auth: !values['no-auth'],
    safetyClassifier: values['safety-model'] ? { model: values['safety-model'], threshold: num('safety-threshold', values['safety-threshold']) } : undefined,
    trustProxy: values['trust-proxy'],
    queue: values.queue as ServerOptions['queue'],
    redisUrl: values['redis-url'],
    role: values.role as ServerOptions['role'],
    storage: values.storage as ServerOptions['storage'],
    s3: values['s3-bucket']
      ? { bucket: values['s3-bucket'], prefix: values['s3-prefix'], endpoint: values['s3-endpoint'], region: values['s3-region'], forcePathStyle: values['s3-path-style'] }
      : undefined,
    workerLockMs: values['worker-lock'] === undefined ? undefined : num('worker-lock', values['worker-lock'])! * 1000,
    logger: values.log ?? false,
  });
  const url = await server.listen();
  const log = cli.note;
  if (server.config.role === 'worker') log(`diffusekit worker node ${process.pid}: taking jobs from ${server.config.redisUrl?.replace(/\/\/[^@]*@/, '//')}`);
  else log(`diffusekit serving on ${url}  (docs ${url}/docs, data ${server.config.dataDir}, queue ${server.config.queue}, role ${server.config.role})`);
  for (const model of server.models) log(`  ${model.role.padEnd(10)} ${model.id}${model.synthetic ? '  (synthetic demo: random weights, not a real model)' : ''}`);
  // Loud whatever the output flags: an open server is a decision to see.
  if (!server.config.auth) process.stderr.write(`${cli.style.yellow('WARNING: --no-auth: anyone who can reach this port can generate images, see and cancel every job')}\n`);
  if (server.recovered.requeued || server.recovered.failed) log(`recovered ${server.recovered.requeued} interrupted jobs (${server.recovered.failed} failed after their last attempt)`);
  // Signal handlers first: whoever reads the line below may stop the server at once.
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      log('stopping...');
      void server.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // Tests and supervisors read this line to learn the port.
  const ready = { event: server.config.role === 'worker' ? 'working' : 'listening', url, pid: process.pid };
  const details = { dataDir: server.config.dataDir, queue: server.config.queue, role: server.config.role, auth: server.config.auth, models: server.models.map((m) => ({ id: m.id, role: m.role, family: m.family, synthetic: m.synthetic })) };
  process.stdout.write(`${JSON.stringify(cli.json ? { ...ready, ...details } : ready)}\n`);
  await stopped;
}
