import { ApiError } from '../../errors.js';
import { checkUrlTarget } from '../../net/safe-fetch.js';

/**
 * A request's `webhook` field: null when absent or empty, else a URL the server would post to. The same address
 * policy as image URLs applies now rather than at delivery: a private target is a 400 at submission.
 */
export async function webhookParam(value: unknown, policy: { allow: readonly string[]; timeoutMs: number }): Promise<string | null> {
  const webhook = typeof value === 'string' && value !== '' ? value : null;
  if (webhook) {
    try {
      await checkUrlTarget(webhook, policy);
    } catch (err) {
      throw new ApiError(400, 'invalid_webhook', `webhook: ${(err as Error).message}`);
    }
  }
  return webhook;
}
