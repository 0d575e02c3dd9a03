import { parseArgs } from 'node:util';
import { createServer } from '../server/app.js';
import type { NsfwModel } from '../safety/nsfw-classifier.js';
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
      --data-dir DIR       database, inputs and outputs (default $DIFFUSEKIT_DATA_DIR, else the OS's data
                           folder: ~/.local/share/diffusekit on Linux)
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
      --output-access MODE unlisted (default: output URLs carry 128 random bits; whoever has one may read it)
                           or private (signed URLs that expire, or the owner's key): see docs/security.md
      --signed-url-ttl S   seconds a signed output URL stays valid (private mode, --s3-presign; default 3600)
      --cors ORIGINS       comma-separated origins browsers may call the API from ('*' for any; default none)
      --header-timeout S   seconds a client has to send the request headers (default 30)
      --request-timeout S  seconds a client has to send the whole request, body included (default 300)
      --body-idle-timeout S  seconds a request body may stall before the connection is closed (default 30)
      --keep-alive-timeout S seconds an idle keep-alive connection stays open (default 5)
      --max-connections N  open connections one client address may hold (default 128)
      --no-ui              no web playground at / (the API only)
      --safety-model FILE  an ONNX NSFW image classifier (labels from its config.json) that safety_checker
                           "yes" also runs on every output; flagged outputs are blurred
      --safety-threshold N probability from which it flags (default 0.5)
      --nsfw-model NAME    the trained classifier safety_checker "yes" runs on every output when no
                           --safety-model is given: MobileNetV2 (default), MobileNetV2Mid or InceptionV3,
                           from the nsfwjs package (no download); 'none': prompt word list only
      --nsfw-threshold CLASS=P
                           flag from probability P for a class: Porn, Hentai, Sexy, Drawing or Neutral
                           (repeatable; replaces the defaults Porn=0.5 Hentai=0.5 Sexy=0.8)
      --prompt-model FILE  a GGUF chat model (path or library name) that enhance_prompt and multi_lingual
                           run on, with node-llama-cpp (an optional package)
      --prompt-enhancer-url URL
                           instead: an OpenAI-compatible chat API (http://127.0.0.1:8080/v1 for a llama.cpp
                           server, http://127.0.0.1:11434/v1 for ollama); its host is allowed although local
      --prompt-enhancer-model NAME
                           the model name sent to that API (ollama needs one); the bearer token comes from
                           $DIFFUSEKIT_PROMPT_ENHANCER_KEY

Scale-out (several processes or machines):
      --queue redis        keep the job queue, keys and rate limits in Redis (default: sqlite, one machine)
      --redis-url URL      redis://host:6379 (default $DIFFUSEKIT_REDIS_URL)
      --role ROLE          all (default), api (HTTP only) or worker (engine only; no port)
      --storage s3         inputs and outputs in an S3-compatible bucket (default: the data directory,
                           which nodes on one machine, or on a shared mount, can share)
      --s3-bucket NAME, --s3-prefix P, --s3-endpoint URL, --s3-region R, --s3-path-style
                           the bucket (credentials: the AWS SDK's usual environment and profiles)
      --s3-presign         output URLs are the bucket's presigned GET URLs (valid --signed-url-ttl);
                           clients download from the bucket, whose objects stay private
      --worker-lock S      seconds before a silent worker node's jobs move to another node (default 30)
      --train              this node (role all or worker) takes LoRA trainings too, one at a time (its trainer
                           installed: 'diffusekit trainer setup'); without such a node lora_fine_tune answers 503
                           $DIFFUSEKIT_SECRET_KEY (32 bytes, base64url; the same on every node) encrypts the
                           keys' webhook secrets in Redis; without it they are kept in clear
      --log                JSON request logs on stdout (the default; API keys redacted; each line has the request id)
      --no-log             no request logs

${OUTPUT_HELP.replace('the result as one JSON document on stdout (progress and messages stay on stderr)', 'the ready line on stdout carries the data directory, queue, role and models')}

Defaults for --model, --port, --host, --data-dir, --lora-dir, --embedding-dir and --workers come from the
config (server.models, server.port, server.host, dataDir, loraDir, embeddingDir, server.workers) and
DIFFUSEKIT_* variables: see 'diffusekit config --help'. Flags beat both.

Keys: create them with 'diffusekit keys create --name NAME' (same --data-dir); the admin key is
$DIFFUSEKIT_ADMIN_KEY. Playground: http://HOST:PORT/ (--no-ui: off). API docs: /docs, OpenAPI: /openapi.json.

Examples:
  diffusekit serve --no-auth
  diffusekit serve -m ~/models/v1-5-pruned-emaonly.safetensors -m ~/models/RealESRGAN_x4plus.pth --port 8080
  curl -s localhost:7860/api/v6/images/text2img -H 'Content-Type: application/json' \\
       -d '{"key":"dk_...","prompt":"a lighthouse at dusk","width":"512","height":"512"}'
`;

/** The entries of `object` whose value is defined (unset flags leave the server's defaults). */
function definedOnly<T extends Record<string, unknown>>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function num(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got '${value}'`);
  return n;
}

/** --nsfw-model and --nsfw-threshold as the server's nsfwClassifier option (the server checks the names). */
function nsfwOption(model: string | undefined, thresholds: string[] | undefined): ServerOptions['nsfwClassifier'] {
  if (model === 'none') {
    if (thresholds) throw new UsageError('--nsfw-threshold needs a classifier (not --nsfw-model none)');
    return false;
  }
  if (model === undefined && thresholds === undefined) return undefined;
  const parsed = thresholds?.map((entry) => {
    const match = /^([A-Za-z]+)=(.+)$/.exec(entry);
    if (!match) throw new UsageError(`--nsfw-threshold expects CLASS=P such as Porn=0.6, got '${entry}'`);
    return [match[1], num('nsfw-threshold', match[2])];
  });
  return { model: model as NsfwModel | undefined, thresholds: parsed && Object.fromEntries(parsed) };
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
      'no-ui': { type: 'boolean' },
      'safety-model': { type: 'string' },
      'safety-threshold': { type: 'string' },
      'nsfw-model': { type: 'string' },
      'nsfw-threshold': { type: 'string', multiple: true },
      'prompt-model': { type: 'string' },
      'prompt-enhancer-url': { type: 'string' },
      'prompt-enhancer-model': { type: 'string' },
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
      's3-presign': { type: 'boolean' },
      'worker-lock': { type: 'string' },
      train: { type: 'boolean' },
      log: { type: 'boolean' },
      'output-access': { type: 'string' },
      'signed-url-ttl': { type: 'string' },
      cors: { type: 'string' },
      'header-timeout': { type: 'string' },
      'request-timeout': { type: 'string' },
      'body-idle-timeout': { type: 'string' },
      'keep-alive-timeout': { type: 'string' },
      'max-connections': { type: 'string' },
      'no-log': { type: 'boolean' },
      ...OUTPUT_OPTIONS,
    },
  });
  const cli = createCli(values);
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  if (values['safety-threshold'] !== undefined && values['safety-model'] === undefined) throw new UsageError('--safety-threshold needs --safety-model');
  if (values['prompt-model'] !== undefined && values['prompt-enhancer-url'] !== undefined) throw new UsageError('--prompt-model and --prompt-enhancer-url exclude each other: give one prompt model');
  if (values['prompt-enhancer-model'] !== undefined && values['prompt-enhancer-url'] === undefined) throw new UsageError('--prompt-enhancer-model needs --prompt-enhancer-url');
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
    ui: !values['no-ui'],
    safetyClassifier: values['safety-model'] ? { model: values['safety-model'], threshold: num('safety-threshold', values['safety-threshold']) } : undefined,
    nsfwClassifier: nsfwOption(values['nsfw-model'], values['nsfw-threshold']),
    promptModel: values['prompt-model'],
    promptEnhancerUrl: values['prompt-enhancer-url'],
    promptEnhancerModel: values['prompt-enhancer-model'],
    trustProxy: values['trust-proxy'],
    queue: values.queue as ServerOptions['queue'],
    redisUrl: values['redis-url'],
    role: values.role as ServerOptions['role'],
    storage: values.storage as ServerOptions['storage'],
    s3: values['s3-bucket']
      ? { bucket: values['s3-bucket'], prefix: values['s3-prefix'], endpoint: values['s3-endpoint'], region: values['s3-region'], forcePathStyle: values['s3-path-style'], presignOutputs: values['s3-presign'] }
      : undefined,
    workerLockMs: values['worker-lock'] === undefined ? undefined : num('worker-lock', values['worker-lock'])! * 1000,
    canTrain: values.train,
    logger: values['no-log'] ? false : values.log,
    outputAccess: values['output-access'] as ServerOptions['outputAccess'],
    signedUrlSeconds: num('signed-url-ttl', values['signed-url-ttl']),
    cors: values.cors?.split(',').map((origin) => origin.trim()).filter(Boolean),
    http: definedOnly({
      headersTimeoutSeconds: num('header-timeout', values['header-timeout']),
      requestTimeoutSeconds: num('request-timeout', values['request-timeout']),
      idleTimeoutSeconds: num('body-idle-timeout', values['body-idle-timeout']),
      keepAliveTimeoutSeconds: num('keep-alive-timeout', values['keep-alive-timeout']),
      maxConnectionsPerAddress: num('max-connections', values['max-connections']),
    }),
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
  // The first signal stops gracefully: no new requests, waiting ones answer, running jobs go back to the queue.
  // A second one exits at once (the jobs are recovered at the next start, as after a crash).
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log(`${signal} again: exiting now`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      stopping = true;
      log('stopping... (send the signal again to exit at once)');
      void server.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  // Tests and supervisors read this line to learn the port.
  const ready = { event: server.config.role === 'worker' ? 'working' : 'listening', url, pid: process.pid };
  const details = { dataDir: server.config.dataDir, queue: server.config.queue, role: server.config.role, auth: server.config.auth, models: server.models.map((m) => ({ id: m.id, role: m.role, family: m.family, synthetic: m.synthetic })) };
  process.stdout.write(`${JSON.stringify(cli.json ? { ...ready, ...details } : ready)}\n`);
  await stopped;
}
