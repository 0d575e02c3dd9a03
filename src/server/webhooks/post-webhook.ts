import { VERSION } from '../../version.js';
import { ApiError } from '../errors.js';
import type { AllowList } from '../net/address-policy.js';
import { safeFetch } from '../net/safe-fetch.js';
import { WEBHOOK_JOB_HEADER, WEBHOOK_SIGNATURE_HEADER } from './signature.js';

/** A receiver's answer is not used; this only bounds what a hostile one can make the server read. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Refusals that another try cannot change: the URL itself is not acceptable. */
const PERMANENT_ERROR_CODES = new Set(['url_not_allowed', 'url_invalid']);

export type SendOutcome =
  | { delivered: true; lastStatus: number }
  | { delivered: false; permanent: boolean; lastStatus?: number; error: string };

/** One delivery try: a signed POST through the SSRF guard, no redirects. 2xx is delivered. */
export async function postWebhook(
  url: string,
  body: string,
  signature: string,
  jobId: string,
  options: { allow?: AllowList | readonly string[]; timeoutMs: number },
): Promise<SendOutcome> {
  try {
    const response = await safeFetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': `diffusekit/${VERSION}`,
        [WEBHOOK_SIGNATURE_HEADER]: signature,
        [WEBHOOK_JOB_HEADER]: jobId,
      },
      body,
      maxBytes: MAX_RESPONSE_BYTES,
      timeoutMs: options.timeoutMs,
      maxRedirects: 0,
      allow: options.allow,
    });
    if (response.status >= 200 && response.status < 300) return { delivered: true, lastStatus: response.status };
    const error = `${url} answered ${response.status} ${response.statusText}`.trimEnd();
    return { delivered: false, permanent: false, lastStatus: response.status, error };
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return { delivered: false, permanent: PERMANENT_ERROR_CODES.has(error.code), error: error.message };
  }
}
