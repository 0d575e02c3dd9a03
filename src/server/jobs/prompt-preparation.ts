import type { PromptLanguageModel } from '../../prompt/language-model.js';
import { enhancePrompt, translatePrompt } from '../../prompt/prompt-rewriter.js';

/**
 * `multi_lingual` and `enhance_prompt` of a request, before its job is queued: the server's prompt language model
 * (when it has one) translates a non-English prompt to English, then rewrites it in detail. What happened is
 * reported under the request's own field names, so a client always learns whether its prompt was changed:
 * 'yes' (done), 'no' (not asked), 'unchanged' (asked, nothing to change: English already, or the model gave the
 * prompt back), 'unavailable' (asked, but the server has no prompt model: the prompt is used as given),
 * 'failed' (the model erred or timed out: the prompt is used as it was before that step).
 */
export type PromptStepOutcome = 'yes' | 'no' | 'unchanged' | 'unavailable' | 'failed';

export interface PromptPreparation {
  prompt: string;
  /** Whether the prompt sent to the engine differs from the client's. */
  revised: boolean;
  enhance: PromptStepOutcome;
  translate: PromptStepOutcome;
  /** The language detected when translation was asked for. */
  language?: string;
  /** Why a step failed. */
  errors: string[];
}

export interface PromptModelSettings {
  model: PromptLanguageModel | undefined;
  /** Time limit of one model call. */
  timeoutMs: number;
}

export async function preparePrompt(
  prompt: string,
  asked: { enhance: boolean; translate: boolean },
  settings: PromptModelSettings,
): Promise<PromptPreparation> {
  const { model, timeoutMs } = settings;
  const result: PromptPreparation = { prompt, revised: false, enhance: asked.enhance ? 'unavailable' : 'no', translate: asked.translate ? 'unavailable' : 'no', errors: [] };
  if (!model) return result;
  if (asked.translate) {
    try {
      const translated = await translatePrompt(model, result.prompt, { timeoutMs });
      result.language = translated.language;
      result.translate = translated.translated ? 'yes' : 'unchanged';
      result.prompt = translated.prompt;
    } catch (err) {
      result.translate = 'failed';
      result.errors.push(`multi_lingual: ${(err as Error).message}`);
    }
  }
  if (asked.enhance) {
    try {
      const enhanced = await enhancePrompt(model, result.prompt, { timeoutMs });
      result.enhance = enhanced.revised ? 'yes' : 'unchanged';
      result.prompt = enhanced.prompt;
    } catch (err) {
      result.enhance = 'failed';
      result.errors.push(`enhance_prompt: ${(err as Error).message}`);
    }
  }
  result.revised = result.prompt !== prompt;
  return result;
}
