/**
 * `enhance_prompt: "yes"`. The hosted API rewrites prompts with a language model; diffusekit runs no
 * language model, so it appends the quality terms that such rewrites add, skipping those already there.
 * The result is deterministic and reported back in meta.prompt.
 */
const QUALITY_TERMS = ['highly detailed', 'sharp focus', 'professional lighting', 'high quality'];

export function enhancePrompt(prompt: string): string {
  const lower = prompt.toLowerCase();
  const missing = QUALITY_TERMS.filter((term) => !lower.includes(term));
  if (missing.length === 0) return prompt;
  const base = prompt.trim().replace(/[,\s]+$/, '');
  return base ? `${base}, ${missing.join(', ')}` : missing.join(', ');
}
