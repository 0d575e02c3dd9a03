import type { PromptLanguageModel } from '../../prompt/language-model.js';
import { openPromptModel } from '../../prompt/open-prompt-model.js';
import type { ServerConfig } from '../config.js';

/**
 * The server's prompt language model, opened at start-up so that a missing file, a missing node-llama-cpp or a
 * bad URL stops the server there rather than failing requests; undefined when none is configured.
 */
export async function openServerPromptModel(config: ServerConfig): Promise<PromptLanguageModel | undefined> {
  if (config.promptModel !== undefined) return openPromptModel({ model: config.promptModel, threads: config.threads });
  if (config.promptEnhancerUrl !== undefined) {
    return openPromptModel({ url: config.promptEnhancerUrl, model: config.promptEnhancerModel, apiKey: config.promptEnhancerKey });
  }
  return undefined;
}
