import { parseArgs } from 'node:util';
import { setupTrainer, trainerPython, trainerVenv } from '../../training/trainer-environment.js';
import { createCli, EXIT_CODES_HELP, OUTPUT_HELP, OUTPUT_OPTIONS } from '../context.js';
import { formatDuration } from '../progress.js';
import { UsageError } from '../usage-error.js';

export const HELP = `diffusekit trainer: the LoRA trainer's Python environment

Usage:
  diffusekit trainer setup [--venv DIR] [--python PYTHON] [--torch-index URL]
  diffusekit trainer status [--venv DIR]

setup makes a virtual environment with the trainer's pinned packages (torch, diffusers, peft, accelerate,
transformers) from the Python package registry; it does nothing when one from the same pins is there.
The registry's torch for Linux brings CUDA libraries (several GB) and runs on CPUs and NVIDIA GPUs alike;
--torch-index installs torch from another index first (e.g. a CPU-only wheel index, where reachable).

Options:
      --venv DIR          where (default $DIFFUSEKIT_TRAINER_VENV, else <data dir>/trainer/venv)
      --python PYTHON     the Python that makes it (default python3; 3.10 or newer)
      --torch-index URL   a package index for torch alone
  -v, --verbose           pip's output on stderr

${OUTPUT_HELP}

${EXIT_CODES_HELP}
`;

/** `diffusekit trainer setup|status`. */
export async function run(args: string[]): Promise<number | void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { venv: { type: 'string' }, python: { type: 'string' }, 'torch-index': { type: 'string' }, verbose: { type: 'boolean', short: 'v' }, ...OUTPUT_OPTIONS },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const cli = createCli(values);
  const [action, ...extra] = positionals;
  if (extra.length > 0 || (action !== 'setup' && action !== 'status')) throw new UsageError("trainer needs 'setup' or 'status'");
  if (action === 'status') {
    const venv = trainerVenv(values.venv);
    try {
      const python = trainerPython(venv);
      if (cli.json) cli.printJson({ installed: true, venv, python });
      else cli.print(`installed: ${venv}`);
      return 0;
    } catch (err) {
      if (cli.json) cli.printJson({ installed: false, venv, message: (err as Error).message });
      else cli.print((err as Error).message);
      return 1;
    }
  }
  const { progress } = cli;
  progress.spinner(`Installing the trainer into ${trainerVenv(values.venv)}`);
  try {
    const result = await setupTrainer({
      venv: values.venv,
      python: values.python,
      torchIndexUrl: values['torch-index'],
      onLog: values.verbose ? (line) => progress.log(line) : undefined,
    });
    progress.done(result.installed ? `Trainer installed in ${formatDuration(result.seconds)}` : 'Trainer already installed');
    if (cli.json) cli.printJson(result);
    else cli.print(result.venv);
  } catch (err) {
    progress.clear();
    throw err;
  }
}
