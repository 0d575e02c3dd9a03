import fs from 'node:fs';
import path from 'node:path';
import { ModelFileError, ModelLoadError } from '../errors.js';
import { integerIn, optionalBoolean } from '../util/is.js';
import { importOptional } from '../util/optional-import.js';
import type { ChatRequest, PromptLanguageModel } from './language-model.js';

export interface LocalModelOptions {
  /** Tokens of context: the system prompt, the user's prompt and the answer together. Default 2048. */
  contextSize?: number;
  /** CPU threads; default node-llama-cpp's choice. */
  threads?: number;
  /** Offload to a GPU when node-llama-cpp finds one. Default false: the image engine keeps the GPU. */
  gpu?: boolean;
}

type NodeLlamaCpp = typeof import('node-llama-cpp');
type Llama = Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
type LlamaModel = Awaited<ReturnType<Llama['loadModel']>>;
type LlamaContext = Awaited<ReturnType<LlamaModel['createContext']>>;
type LlamaGrammar = Awaited<ReturnType<Llama['createGrammar']>>;

/** One line of printable text: keeps small models from rambling into chat turns or markup. */
const ONE_LINE = 'root ::= [^\\x00-\\x1f]+';

/**
 * A GGUF chat model run in this process by node-llama-cpp (an optional dependency, loaded on first use), on
 * the CPU unless `gpu` is set. Requests run one at a time on one context sequence, each from an empty history.
 */
export class LocalLanguageModel implements PromptLanguageModel {
  readonly description: string;
  readonly #llama: Llama;
  readonly #module: NodeLlamaCpp;
  readonly #context: LlamaContext;
  readonly #grammar: LlamaGrammar;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  private constructor(file: string, module: NodeLlamaCpp, llama: Llama, context: LlamaContext, grammar: LlamaGrammar) {
    this.description = path.basename(file);
    this.#module = module;
    this.#llama = llama;
    this.#context = context;
    this.#grammar = grammar;
  }

  /** Loads `file` (a GGUF language model). Fails with ModelFileError or ModelLoadError, never later. */
  static async load(file: string, options: LocalModelOptions = {}): Promise<LocalLanguageModel> {
    const contextSize = integerIn('contextSize', options.contextSize, 256, 131072, 2048);
    const threads = options.threads === undefined ? undefined : integerIn('threads', options.threads, 1, 1024);
    const gpu = optionalBoolean('gpu', options.gpu) ?? false;
    const resolved = path.resolve(file);
    assertGguf(resolved);
    const module = await importOptional('node-llama-cpp@3.21.1', 'a local prompt model', () => import('node-llama-cpp'));
    // build 'never': use the prebuilt binaries the package installed, never compile llama.cpp at run time.
    let llama: Llama;
    try {
      llama = await module.getLlama({ build: 'never', gpu: gpu ? 'auto' : false, logLevel: module.LlamaLogLevel.error, progressLogs: false });
    } catch (err) {
      throw new ModelLoadError(`node-llama-cpp has no prebuilt llama.cpp for this machine (${(err as Error).message})`);
    }
    try {
      const model = await llama.loadModel({ modelPath: resolved });
      const context = await model.createContext({ contextSize, sequences: 1, threads });
      const grammar = await llama.createGrammar({ grammar: ONE_LINE });
      return new LocalLanguageModel(resolved, module, llama, context, grammar);
    } catch (err) {
      await llama.dispose();
      throw new ModelLoadError(`cannot load the prompt model ${resolved}: ${(err as Error).message}`);
    }
  }

  complete(request: ChatRequest): Promise<string> {
    if (this.#disposed) return Promise.reject(new ModelLoadError(`the prompt model ${this.description} is disposed`));
    const run = this.#queue.then(() => this.#run(request));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #run({ system, user, maxTokens, signal }: ChatRequest): Promise<string> {
    signal?.throwIfAborted();
    const sequence = this.#context.getSequence();
    const session = new this.#module.LlamaChatSession({ contextSequence: sequence, systemPrompt: system, autoDisposeSequence: false });
    try {
      return await session.prompt(user, { maxTokens, signal, grammar: this.#grammar, temperature: 0.7, seed: 0 });
    } finally {
      session.dispose({ disposeSequence: false });
      sequence.dispose();
    }
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#queue;
    await this.#llama.dispose();
  }
}

/** A file that is not GGUF would make llama.cpp abort the process: refuse it here, with its name. */
function assertGguf(file: string): void {
  let magic: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    magic = Buffer.alloc(4);
    fs.readSync(fd, magic, 0, 4, 0);
    fs.closeSync(fd);
  } catch (err) {
    throw new ModelFileError(file, `prompt model file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message}`);
  }
  if (magic.toString('latin1') !== 'GGUF') throw new ModelFileError(file, `prompt model file ${file} is not a GGUF file (a language model such as Qwen2.5-0.5B-Instruct-Q4_K_M.gguf)`);
}
