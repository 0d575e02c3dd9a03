import { resolveModel } from '../models/library.js';
import { invalidParameter, isPlainObject, isString } from '../util/is.js';
import type { ChatEndpointOptions } from './chat-endpoint.js';
import type { PromptLanguageModel } from './language-model.js';
import { LocalLanguageModel, type LocalModelOptions } from './local-model.js';

/** Where a prompt language model comes from: a GGUF file (path or library name), or a chat endpoint's URL. */
export type PromptModelSource = ({ model: string } & LocalModelOptions) | ChatEndpointOptions;

/**
 * Opens the language model that enhancePrompt() and translatePrompt() run on: `{ model }` loads a local GGUF
 * chat model with node-llama-cpp (a path, or a name in the model library), `{ url }` talks to an
 * OpenAI-compatible chat endpoint (a llama.cpp server, ollama, ...).
 */
export async function openPromptModel(source: PromptModelSource): Promise<PromptLanguageModel> {
  if (!isPlainObject(source)) throw invalidParameter('source', '{ model: GGUF file or library name } or { url: chat endpoint }', source);
  if ('url' in source && source.url !== undefined) {
    // Imported here: the endpoint client is the server's SSRF-guarded one, which the core library does not load.
    const { ChatEndpointModel } = await import('./chat-endpoint.js');
    return new ChatEndpointModel(source as ChatEndpointOptions);
  }
  const local = source as { model: unknown } & LocalModelOptions;
  if (!isString(local.model) || local.model.length === 0) throw invalidParameter('source.model', 'GGUF file or library name', local.model);
  const file = await resolveModel(local.model, { label: 'prompt model' });
  return LocalLanguageModel.load(file, local);
}
