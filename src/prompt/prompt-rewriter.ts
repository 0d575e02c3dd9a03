import { AbortError, InvalidArgumentError } from '../errors.js';
import { integerIn, invalidParameter, isString, optionalSignal } from '../util/is.js';
import { detectLanguage, type LanguageCode } from './language-detect.js';
import type { PromptLanguageModel } from './language-model.js';

/**
 * Prompt enhancement and translation on a chat language model: our own system prompts, a token budget, a time
 * limit and a length bound on what comes back. The model's answer is cleaned to one line of prompt text; an
 * empty answer, or the prompt unchanged, counts as not revised.
 */

export interface RewriteOptions {
  /** The most tokens the model may write. Default 160. */
  maxTokens?: number;
  /** The longest result, in characters; longer answers are cut at a word boundary. Default 600. */
  maxLength?: number;
  /** Time limit for the model's answer, in ms. Default 30000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface EnhancedPrompt {
  prompt: string;
  /** False when the model gave nothing usable or the prompt back unchanged: `prompt` is then the original. */
  revised: boolean;
}

export interface TranslatedPrompt {
  prompt: string;
  /** The language detected in the original (ISO 639-1, 'und' when it has no letters). */
  language: LanguageCode;
  /** True when the model translated it; English (or undetectable) prompts are passed through untouched. */
  translated: boolean;
}

export const ENHANCE_SYSTEM_PROMPT =
  'You write prompts for a text-to-image model. Rewrite the prompt the user gives as one detailed prompt of at most ' +
  '60 words. Keep its subject, every person, object and action it names, and any quoted text, exactly as given; add ' +
  'concrete visual details: setting, composition, lighting, colours, materials, mood and style. Answer with the ' +
  'prompt only, in English, on one line, without quotes, labels or explanations.';

export const TRANSLATE_SYSTEM_PROMPT =
  'Translate the text the user gives into English. It is a prompt for a text-to-image model: translate it ' +
  'faithfully and completely, keep names and quoted text as they are, and add nothing. Answer with the ' +
  'translation only, on one line, without quotes, labels or explanations.';

/** Asks the model for a detailed version of `prompt` that keeps its subject. */
export async function enhancePrompt(model: PromptLanguageModel, prompt: string, options: RewriteOptions = {}): Promise<EnhancedPrompt> {
  const original = checkPrompt(prompt);
  if (original.trim() === '') return { prompt: original, revised: false };
  const answer = await ask(model, ENHANCE_SYSTEM_PROMPT, original, options);
  return answer === undefined || answer === original.trim() ? { prompt: original, revised: false } : { prompt: answer, revised: true };
}

/** Translates `prompt` to English when it is in another language (detected locally, without the model). */
export async function translatePrompt(model: PromptLanguageModel, prompt: string, options: RewriteOptions = {}): Promise<TranslatedPrompt> {
  const original = checkPrompt(prompt);
  const language = detectLanguage(original);
  if (language === 'en' || language === 'und') return { prompt: original, language, translated: false };
  const answer = await ask(model, TRANSLATE_SYSTEM_PROMPT, original, options);
  return answer === undefined || answer === original.trim() ? { prompt: original, language, translated: false } : { prompt: answer, language, translated: true };
}

function checkPrompt(prompt: unknown): string {
  if (!isString(prompt)) throw invalidParameter('prompt', 'string', prompt);
  return prompt;
}

async function ask(model: PromptLanguageModel, system: string, user: string, options: RewriteOptions): Promise<string | undefined> {
  if (!model || typeof model.complete !== 'function') throw invalidParameter('model', 'a prompt language model (LocalLanguageModel or ChatEndpointModel)', model);
  const maxTokens = integerIn('maxTokens', options.maxTokens, 1, 4096, 160);
  const maxLength = integerIn('maxLength', options.maxLength, 16, 10_000, 600);
  const timeoutMs = integerIn('timeoutMs', options.timeoutMs, 1, 600_000, 30_000);
  const caller = optionalSignal('signal', options.signal);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = caller ? AbortSignal.any([caller, timeout]) : timeout;
  let answer: string;
  try {
    answer = await model.complete({ system, user, maxTokens, signal, timeoutMs });
  } catch (err) {
    if (timeout.aborted) throw new AbortError(`the prompt model (${model.description}) gave no answer within ${timeoutMs} ms`, { cause: err });
    if (caller?.aborted) throw new AbortError('The operation was aborted', { cause: err });
    throw err;
  }
  if (!isString(answer)) throw new InvalidArgumentError('model', `the prompt model (${model.description}) answered with ${typeof answer}, not text`);
  return cleanAnswer(answer, maxLength);
}

/** The first line of prompt text in an answer, without the wrapping chat models like to add; undefined if none. */
export function cleanAnswer(answer: string, maxLength: number): string | undefined {
  const line = answer
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  if (line === undefined) return undefined;
  const text = line
    .replace(/^(?:enhanced |improved |revised |detailed )?(?:prompt|translation|english)\s*:\s*/i, '')
    .replace(/^["'“”«»`]+|["'“”«»`]+$/g, '')
    // Replacement characters (a multi-byte character cut by the token limit) and control characters.
    .replace(/[\uFFFD\p{Cc}]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (text.length === 0) return undefined;
  if (text.length <= maxLength) return text;
  const cut = text.slice(0, maxLength + 1);
  const space = cut.lastIndexOf(' ');
  return (space > maxLength / 2 ? cut.slice(0, space) : text.slice(0, maxLength)).replace(/[\s,;:]+$/, '');
}
