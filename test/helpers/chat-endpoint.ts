import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatCall {
  headers: http.IncomingHttpHeaders;
  body: { model?: string; max_tokens?: number; messages: { role: string; content: string }[] };
}

/**
 * An OpenAI-compatible chat endpoint on 127.0.0.1 (node-llama-cpp ships no server): a real HTTP server that
 * answers POST /v1/chat/completions with what `answer` returns for the request (a string, a status to fail
 * with, or a redirect), and records each call.
 */
export async function startChatEndpoint(answer: (call: ChatCall) => Promise<string | { status: number } | { redirect: string }> | string) {
  const calls: ChatCall[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', async () => {
      if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
        response.writeHead(404).end();
        return;
      }
      const call: ChatCall = { headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
      calls.push(call);
      const result = await answer(call);
      if (typeof result === 'string') {
        const body = JSON.stringify({ id: `chatcmpl-${calls.length}`, object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: result } }] });
        response.writeHead(200, { 'content-type': 'application/json' }).end(body);
      } else if ('redirect' in result) {
        response.writeHead(307, { location: result.redirect }).end();
      } else {
        response.writeHead(result.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'model overloaded' } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
