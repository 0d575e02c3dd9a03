import { parseArgs } from 'node:util';
import { contextFamily, detectFamily, inspectModelFile, loraFamily, modelRole, type ModelFileInfo } from '../../models/inspect.js';
import { resolveModel } from '../../models/library.js';
import { VERSION } from '../../version.js';
import { loadConfig } from '../config.js';
import { createCli, EXIT_CODES_HELP, OUTPUT_HELP, OUTPUT_OPTIONS, type Cli } from '../context.js';
import { formatBytes } from '../progress.js';
import { UsageError } from '../usage-error.js';

export const HELP = `diffusekit info: the engine, or what a model file holds

Usage:
  diffusekit info                 engine build, backend, CPU features, samplers and schedulers
  diffusekit info MODEL           format, role, family, parameters, weight types, tensor count and size
  diffusekit info MODEL --tensors every tensor's name, type and shape

Options:
      --tensors           list the tensors (names, types, shapes)

${OUTPUT_HELP}

${EXIT_CODES_HELP}

Examples:
  diffusekit info
  diffusekit info ~/models/v1-5-pruned-emaonly.safetensors
  diffusekit info model.gguf --tensors | grep attn2
  diffusekit info model.safetensors --json | jq .weightTypes
`;

async function engine(cli: Cli): Promise<void> {
  const { engineInfo } = await import('../../engine/info.js');
  const e = engineInfo();
  if (cli.json) {
    cli.printJson({ version: VERSION, ...e });
    return;
  }
  cli.print(`diffusekit ${VERSION}`);
  cli.print(`engine      ${e.source.name}, ${e.source.release}`);
  cli.print(`backend     ${e.backend} (${e.physicalCores} physical cores)`);
  cli.print(`cpu         ${e.cpuFeatures.join(' ')}`);
  cli.print(`cpu variant ${e.cpuVariant.name}: ${e.cpuVariant.reason}`);
  cli.print(`cpu kernels ${e.cpuKernels}${e.cpuConvKernels ? ' (diffusekit convolution kernels)' : ''}${e.cpuBf16 ? ', bf16 products' : ''}${e.cpuFusedAttention ? ', fused attention' : ''}`);
  cli.print(`samplers    ${e.samplers.join(', ')}`);
  cli.print(`schedulers  ${e.schedulers.join(', ')}`);
}

function family(info: ModelFileInfo, role: ReturnType<typeof modelRole>): string {
  if (role === 'lora') return loraFamily(info);
  if (role === 'controlnet') return contextFamily(info);
  if (role === 'upscaler') return 'esrgan';
  return detectFamily(info);
}

function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

async function model(cli: Cli, file: string, listTensors: boolean): Promise<void> {
  const info = await inspectModelFile(await resolveModel(file, { dir: loadConfig().values.modelsDir }));
  const role = modelRole(info);
  const shapes = info.shapes;
  const parameters = shapes ? [...shapes.values()].reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0) : null;
  const counts = new Map<string, number>();
  for (const type of info.types?.values() ?? []) counts.set(type, (counts.get(type) ?? 0) + 1);
  const weightTypes = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
  const tensors = shapes ? [...shapes].map(([name, shape]) => ({ name, type: info.types?.get(name) ?? null, shape })) : null;
  if (cli.json) {
    cli.printJson({
      path: info.path, format: info.format, size: info.size, role, family: family(info, role), parameters,
      tensorCount: shapes ? shapes.size : null, weightTypes: info.types ? weightTypes : null,
      ...(listTensors ? { tensors } : {}),
    });
    return;
  }
  if (listTensors) {
    if (!tensors) {
      cli.note(`${info.path}: a pickled checkpoint does not list its tensors; convert it to read them (diffusekit convert)`);
      return;
    }
    const nameWidth = Math.max(...tensors.map((t) => t.name.length));
    const typeWidth = Math.max(...tensors.map((t) => (t.type ?? '?').length));
    for (const t of tensors) cli.print(`${t.name.padEnd(nameWidth)}  ${(t.type ?? '?').padEnd(typeWidth)}  [${t.shape.join(', ')}]`);
    return;
  }
  const unknown = 'unknown (a pickled checkpoint does not list its tensors)';
  const rows: [string, string][] = [
    ['model', info.path],
    ['format', info.format],
    ['role', role],
    ['family', family(info, role)],
    ['parameters', parameters === null ? unknown : formatCount(parameters)],
    ['tensors', shapes ? String(shapes.size) : unknown],
    ['weight types', info.types ? Object.entries(weightTypes).map(([type, n]) => `${type} ${n}`).join(', ') : unknown],
    ['size', `${formatBytes(info.size)} (${info.size} bytes)`],
  ];
  for (const [key, value] of rows) cli.print(`${key.padEnd(12)}  ${value}`);
}

/** `diffusekit info [MODEL]`. */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { tensors: { type: 'boolean' }, ...OUTPUT_OPTIONS } });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const cli = createCli(values);
  if (positionals.length === 0) return engine(cli);
  if (positionals.length > 1) throw new UsageError('info takes one MODEL at a time');
  await model(cli, positionals[0], values.tensors ?? false);
}
