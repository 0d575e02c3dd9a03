import { enhancePrompt, translatePrompt } from '../prompt/prompt-rewriter.js';
import { invalidParameter, optionalBoolean } from '../util/is.js';
import type { GenerateOptions } from './options.js';

/** Whether a call sets `multilingual` or `enhancePrompt`, which withRewrittenPrompt() then settles. */
export function hasPromptRewrite(options: GenerateOptions): boolean {
  return options.multilingual !== undefined || options.enhancePrompt !== undefined;
}

/**
 * The call's options with `multilingual` and `enhancePrompt` done and removed: the prompt translated to English
 * (when it is not English), then rewritten in detail, by `promptModel`. Runs before the call queues for the engine.
 */
export async function withRewrittenPrompt<T extends GenerateOptions>(options: T): Promise<T> {
  const multilingual = optionalBoolean('multilingual', options.multilingual) ?? false;
  const enhance = optionalBoolean('enhancePrompt', options.enhancePrompt) ?? false;
  const { multilingual: _m, enhancePrompt: _e, ...rest } = options;
  if (!multilingual && !enhance) return rest as T;
  const model = options.promptModel;
  if (!model || typeof model.complete !== 'function') {
    throw invalidParameter('promptModel', 'a prompt language model (openPromptModel()) when multilingual or enhancePrompt is set', model);
  }
  let prompt = options.prompt;
  if (multilingual) prompt = (await translatePrompt(model, prompt, { signal: options.signal })).prompt;
  if (enhance) prompt = (await enhancePrompt(model, prompt, { signal: options.signal })).prompt;
  return { ...rest, prompt } as T;
}
