import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { writeSafetensors } from '../../src/models/safetensors.js';

export const TEST_TOKEN = 'test-token';
export const FAKE_COMMIT = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';

export interface FakeFile {
  body: Buffer;
  /** The sha256 the Hub advertises; default the body's own (a different one makes a corrupt download). */
  advertisedSha256?: string;
  /** On the first GET of the body, send only this many bytes and drop the connection. */
  dropAfter?: number;
  /** Answer Range requests with the whole file (200), as a server that cannot resume does. */
  ignoreRange?: boolean;
}

export interface FakeRepo {
  /** Without `Authorization: Bearer test-token`, the resolve URL answers 401 (GatedRepo). */
  gated?: boolean;
  files: Record<string, FakeFile>;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface FakeHub {
  url: string;
  repos: Record<string, FakeRepo>;
  requests: RecordedRequest[];
  /** Requests for file bytes (the CDN). */
  cdnRequests(): RecordedRequest[];
  close(): Promise<void>;
}

const sha256 = (body: Buffer) => crypto.createHash('sha256').update(body).digest('hex');

/**
 * A local server that answers as the Hugging Face Hub does: the model API (revision and tree listings), a
 * resolve URL whose HEAD/GET redirect to a CDN with X-Linked-Etag/X-Linked-Size, and a CDN with Range
 * (206 + Content-Range), ETag and If-Range.
 */
export async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const requests: RecordedRequest[] = [];
  const served = new Set<string>();
  let cdnOrigin = '';
  const handler: http.RequestListener = (req, res) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://hub');
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);

    if (parts[0] === 'api' && parts[1] === 'models') {
      const repo = repos[`${parts[2]}/${parts[3]}`];
      if (!repo) return void res.writeHead(401, { 'X-Error-Code': 'RepositoryNotFound' }).end('{"error":"Repository not found"}');
      const files = Object.entries(repo.files);
      res.setHeader('Content-Type', 'application/json');
      if (parts[4] === 'revision') {
        return void res.end(JSON.stringify({ id: `${parts[2]}/${parts[3]}`, sha: FAKE_COMMIT, siblings: [{ rfilename: '.gitattributes' }, ...files.map(([name]) => ({ rfilename: name }))] }));
      }
      if (parts[4] === 'tree') {
        return void res.end(JSON.stringify(files.map(([name, f]) => ({ type: 'file', path: name, size: f.body.length, lfs: { oid: f.advertisedSha256 ?? sha256(f.body), size: f.body.length } }))));
      }
    }

    // /{owner}/{name}/resolve/{revision}/{file...}
    if (parts[2] === 'resolve') {
      const repoName = `${parts[0]}/${parts[1]}`;
      const repo = repos[repoName];
      if (!repo) return void res.writeHead(401, { 'X-Error-Code': 'RepositoryNotFound' }).end();
      if (repo.gated && req.headers.authorization !== `Bearer ${TEST_TOKEN}`) {
        return void res.writeHead(req.headers.authorization ? 403 : 401, { 'X-Error-Code': 'GatedRepo' }).end('Access to this model is restricted');
      }
      const fileName = parts.slice(4).join('/');
      const file = repo.files[fileName];
      if (!file) return void res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' }).end();
      const advertised = file.advertisedSha256 ?? sha256(file.body);
      return void res
        .writeHead(302, {
          Location: `${cdnOrigin}/cdn/${encodeURIComponent(repoName)}/${encodeURIComponent(fileName)}?signature=abc`,
          'X-Linked-Etag': `"${advertised}"`,
          'X-Linked-Size': String(file.body.length),
          'X-Repo-Commit': FAKE_COMMIT,
          ETag: `"${advertised}"`,
        })
        .end();
    }

    if (parts[0] === 'cdn') {
      const file = repos[parts[1]]?.files[parts[2]];
      if (!file) return void res.writeHead(404).end();
      const etag = `"cdn-${sha256(file.body).slice(0, 16)}"`;
      const key = `${parts[1]}/${parts[2]}`;
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const ifRange = req.headers['if-range'];
      const start = range && !file.ignoreRange && (ifRange === undefined || ifRange === etag) ? Number(range[1]) : 0;
      const body = file.body.subarray(start);
      const headers: http.OutgoingHttpHeaders = { ETag: etag, 'Accept-Ranges': 'bytes', 'Content-Length': body.length, 'Content-Type': 'application/octet-stream' };
      if (start > 0) headers['Content-Range'] = `bytes ${start}-${file.body.length - 1}/${file.body.length}`;
      res.writeHead(start > 0 ? 206 : 200, headers);
      if (req.method === 'HEAD') return void res.end();
      if (file.dropAfter !== undefined && !served.has(key)) {
        served.add(key);
        // Destroyed a moment later, once the client has read the bytes (a stream that errors drops what it has queued).
        res.write(body.subarray(0, file.dropAfter), () => setTimeout(() => res.socket?.destroy(), 150));
        return;
      }
      return void res.end(body);
    }
    res.writeHead(404).end();
  };
  // The Hub and its CDN: two origins, as huggingface.co and its CDN are (credentials must not follow).
  const [server, cdn] = [http.createServer(handler), http.createServer(handler)];
  const listen = async (s: http.Server) => {
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };
  const url = await listen(server);
  cdnOrigin = await listen(cdn);
  const close = (s: http.Server) => {
    s.closeAllConnections();
    return new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return {
    url,
    repos,
    requests,
    cdnRequests: () => requests.filter((r) => r.url.startsWith('/cdn/') && r.method === 'GET'),
    close: async () => {
      await Promise.all([close(server), close(cdn)]);
    },
  };
}

/**
 * A small but real .safetensors: an SD 1.x text-encoder token embedding (so inspect sees an sd1 checkpoint),
 * with deterministic bytes. Returns the file's bytes.
 */
export function tinyCheckpointBytes(dir: string, seed = 1, rows = 64): Buffer {
  const file = path.join(dir, `tiny-${seed}-${rows}.safetensors`);
  const name = 'cond_stage_model.transformer.text_model.embeddings.token_embedding.weight';
  writeSafetensors(file, [{ name, dtype: 'F16', shape: [rows, 768], byteLength: rows * 768 * 2 }], () => {
    const bytes = new Uint8Array(rows * 768 * 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + seed * 17) & 0x3f; // small positive halves
    return bytes;
  });
  const body = fs.readFileSync(file);
  fs.rmSync(file);
  return body;
}
