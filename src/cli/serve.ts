import { parseArgs } from 'node:util';
import { createServer } from '../server/app.js';
import { UsageError } from './usage-error.js';

export const SERVE_HELP = `diffusekit serve: the Stable Diffusion REST API (v6), self-hosted

Usage:
  diffusekit serve [--model FILE]... [options]

Options:
  -m, --model FILE         a checkpoint, ControlNet or ESRGAN upscaler to serve (repeatable); its id is the
                           file name without extension; the first checkpoint is the default model_id.
                           None: a synthetic demo model (sdxs) and upscaler are served
  -p, --port N             TCP port (default 7860)
      --host ADDR          listen address (default 127.0.0.1; 0.0.0.0 for the network)
      --data-dir DIR       database, inputs and outputs (default $DIFFUSEKIT_DATA_DIR or ~/.local/share/diffusekit)
      --lora-dir DIR       LoRAs that lora_model names
      --embedding-dir DIR  textual-inversion embeddings
      --workers N          engine worker processes (default 1)
  -t, --threads N          CPU threads per worker (default: physical cores / workers)
      --sync-wait S        seconds a request waits before answering "processing" (default 10)
      --output-ttl S       seconds outputs are kept (default 86400)
      --public-url URL     origin clients use (behind a reverse proxy), for output URLs
      --allow-host HOST    host or CIDR that URL inputs and webhooks may reach although private (repeatable)
      --no-auth            serve without API keys (local use only)
      --log                JSON request logs on stdout
  -h, --help               this help

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
      threads: { type: 'string', short: 't' },
      'sync-wait': { type: 'string' },
      'output-ttl': { type: 'string' },
      'public-url': { type: 'string' },
      'allow-host': { type: 'string', multiple: true },
      'no-auth': { type: 'boolean' },
      log: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  const server = await createServer({
    models: values.model,
    port: num('port', values.port),
    host: values.host,
    dataDir: values['data-dir'],
    loraDir: values['lora-dir'],
    embeddingDir: values['embedding-dir'],
    workers: num('workers', values.workers),
    threads: num('threads', values.threads),
    syncWaitSeconds: num('sync-wait', values['sync-wait']),
    outputTtlSeconds: num('output-ttl', values['output-ttl']),
    publicUrl: values['public-url'],
    allowHosts: values['allow-host'],
    auth: !values['no-auth'],
    logger: values.log ?? false,
  });
  const url = await server.listen();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`diffusekit serving on ${url}  (docs ${url}/docs, data ${server.config.dataDir})`);
  for (const model of server.models) log(`  ${model.role.padEnd(10)} ${model.id}${model.synthetic ? '  (synthetic demo: random weights, not a real model)' : ''}`);
  if (!server.config.auth) log('WARNING: --no-auth: anyone who can reach this port can generate images, see and cancel every job');
  if (server.recovered.requeued || server.recovered.failed) log(`recovered ${server.recovered.requeued} interrupted jobs (${server.recovered.failed} failed after their last attempt)`);
  // Tests and supervisors read this line to learn the port.
  process.stdout.write(`${JSON.stringify({ event: 'listening', url, pid: process.pid })}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      log('stopping...');
      void server.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
