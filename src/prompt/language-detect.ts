/**
 * Guesses a prompt's language without a model: the script of its letters first (Han, kana, Hangul, Cyrillic,
 * Arabic, ...), then, for Latin script, which language's common short words it uses most. Enough to decide
 * whether a prompt needs translating to English; not a general language identifier.
 */

/** ISO 639-1 code, or 'und' when the text has no letters to judge by. */
export type LanguageCode = string;

const SCRIPTS: [RegExp, LanguageCode][] = [
  [/[\p{Script=Hiragana}\p{Script=Katakana}]/u, 'ja'],
  [/\p{Script=Hangul}/u, 'ko'],
  [/\p{Script=Han}/u, 'zh'],
  [/\p{Script=Thai}/u, 'th'],
  [/\p{Script=Devanagari}/u, 'hi'],
  [/\p{Script=Arabic}/u, 'ar'],
  [/\p{Script=Hebrew}/u, 'he'],
  [/\p{Script=Greek}/u, 'el'],
  [/\p{Script=Cyrillic}/u, 'ru'],
  [/\p{Script=Armenian}/u, 'hy'],
  [/\p{Script=Georgian}/u, 'ka'],
];

const STOP_WORDS: Record<LanguageCode, string[]> = {
  en: ['the', 'a', 'an', 'of', 'and', 'with', 'in', 'on', 'at', 'by', 'is', 'from', 'under', 'over', 'his', 'her', 'its', 'to', 'for'],
  es: ['el', 'la', 'los', 'las', 'un', 'una', 'de', 'del', 'y', 'con', 'en', 'sobre', 'bajo', 'por', 'que', 'al'],
  fr: ['le', 'la', 'les', 'un', 'une', 'des', 'de', 'du', 'et', 'avec', 'dans', 'sur', 'sous', 'au', 'aux', 'en'],
  de: ['der', 'die', 'das', 'ein', 'eine', 'einem', 'einer', 'und', 'mit', 'im', 'auf', 'unter', 'von', 'dem', 'den', 'am'],
  it: ['il', 'lo', 'la', 'gli', 'le', 'un', 'una', 'di', 'del', 'della', 'e', 'con', 'nel', 'nella', 'sotto', 'sul'],
  pt: ['o', 'os', 'a', 'as', 'um', 'uma', 'de', 'do', 'da', 'e', 'com', 'em', 'no', 'na', 'sob', 'sobre'],
  nl: ['de', 'het', 'een', 'van', 'en', 'met', 'in', 'op', 'onder', 'bij', 'aan'],
  pl: ['i', 'w', 'z', 'na', 'pod', 'nad', 'ze', 'oraz', 'jest', 'się'],
  tr: ['ve', 'bir', 'ile', 'bu', 'altında', 'üstünde', 'içinde'],
  sv: ['en', 'ett', 'och', 'med', 'på', 'i', 'under', 'av', 'den', 'det'],
};

/** Letters outside ASCII that mark a Latin-script language (English prompts rarely carry them). */
const MARKS: Record<LanguageCode, RegExp> = {
  es: /[ñ¿¡]/u, fr: /[çœèêë]/u, de: /[ßäöü]/u, pt: /[ãõ]/u, pl: /[ąćęłńśźż]/u, tr: /[ğış]/u, sv: /[å]/u,
};

export function detectLanguage(text: string): LanguageCode {
  for (const [pattern, code] of SCRIPTS) if (pattern.test(text)) return code;
  const lower = text.toLowerCase();
  const words = lower.match(/\p{L}+/gu) ?? [];
  if (words.length === 0) return 'und';
  const scores = new Map<LanguageCode, number>();
  for (const [code, list] of Object.entries(STOP_WORDS)) {
    const set = new Set(list);
    scores.set(code, words.filter((w) => set.has(w)).length);
  }
  for (const [code, pattern] of Object.entries(MARKS)) if (pattern.test(lower)) scores.set(code, (scores.get(code) ?? 0) + 2);
  const english = scores.get('en') ?? 0;
  let best: LanguageCode = 'en';
  let bestScore = english;
  for (const [code, score] of scores) if (score > bestScore) [best, bestScore] = [code, score];
  // Ties and keyword lists without function words ("castle, sunset, 4k") count as English.
  return best;
}

export function isEnglish(text: string): boolean {
  const language = detectLanguage(text);
  return language === 'en' || language === 'und';
}
