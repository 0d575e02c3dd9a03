/**
 * The prompt half of `safety_checker: "yes"`: a prompt containing one of the configured terms (whole
 * words, any case) is flagged, and its outputs are blurred and listed in nsfw_content_detected. The image
 * half, when the server has a classifier model, is image-classifier.ts.
 */
export class PromptFilter {
  readonly #pattern: RegExp | undefined;

  constructor(terms: string[]) {
    const words = terms.map((t) => t.trim()).filter(Boolean).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.#pattern = words.length ? new RegExp(`(?<![\\p{L}\\p{N}])(${words.join('|')})(?![\\p{L}\\p{N}])`, 'iu') : undefined;
  }

  /** The first flagged term in the prompt, or undefined. */
  flagged(prompt: string): string | undefined {
    return this.#pattern?.exec(prompt)?.[1];
  }
}
