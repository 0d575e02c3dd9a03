import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { ServedModel } from '../../models/model-registry.js';
import type { Db } from '../../store/database.js';

/** The A1111 options this server keeps (POST /sdapi/v1/options), with their defaults. */
export interface A1111Options {
  /** The checkpoint sdapi requests use unless override_settings names one: a served model id; null = the first. */
  sd_model_checkpoint: string | null;
  /** CLIP skip, A1111's way: 1 = none, 2 = the penultimate layer. */
  CLIP_stop_at_last_layers: number;
}

const DEFAULTS: A1111Options = { sd_model_checkpoint: null, CLIP_stop_at_last_layers: 1 };

/** One caller's view of the settings, read when its request began: the options it sees and sets, and the model hashes. */
export interface ScopedSettings {
  options(): A1111Options;
  update(changes: Partial<A1111Options>): Promise<void>;
  sha256(model: ServedModel): string | undefined;
}

/**
 * Where options live: the node's SQLite database, or Redis when API nodes share a queue (so a client that
 * switches sd_model_checkpoint through one node gets it from every node). `owner` '' is the server-wide set.
 */
export interface OptionsStore {
  read(owner: string): Promise<Record<string, unknown>>;
  write(owner: string, values: Record<string, unknown>): Promise<void>;
}

/** Options in the node's database (one machine). */
export class SqliteOptionsStore implements OptionsStore {
  readonly #get;
  readonly #set;

  constructor(db: Db) {
    db.exec('CREATE TABLE IF NOT EXISTS a1111_options (owner TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, name))');
    this.#get = db.prepare<[string], { name: string; value: string }>('SELECT name, value FROM a1111_options WHERE owner = ?');
    this.#set = db.prepare('INSERT INTO a1111_options (owner, name, value) VALUES (?, ?, ?) ON CONFLICT (owner, name) DO UPDATE SET value = excluded.value');
  }

  async read(owner: string): Promise<Record<string, unknown>> {
    return Object.fromEntries(this.#get.all(owner).map((row) => [row.name, JSON.parse(row.value) as unknown]));
  }

  async write(owner: string, values: Record<string, unknown>): Promise<void> {
    for (const [name, value] of Object.entries(values)) this.#set.run(owner, name, JSON.stringify(value));
  }
}

/**
 * What the A1111 dialect keeps in the server's database: its options, which outlive restarts as A1111's
 * config.json does (an API key's own over the server-wide ones that the admin or --no-auth callers set),
 * and the sha256 of each checkpoint (A1111 lists them in titles: "name.safetensors [hash10]"),
 * computed once per file version in the background.
 */
export class A1111Settings {
  readonly #store: OptionsStore;
  readonly #getHash;
  readonly #setHash;
  readonly #hashing = new Set<string>();

  /** `db` keeps the model hashes (of this node's files); `store` the options. */
  constructor(db: Db, store: OptionsStore = new SqliteOptionsStore(db)) {
    this.#store = store;
    db.exec('CREATE TABLE IF NOT EXISTS a1111_model_hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime REAL NOT NULL, sha256 TEXT NOT NULL)');
    this.#getHash = db.prepare<[string, number, number], { sha256: string }>('SELECT sha256 FROM a1111_model_hashes WHERE path = ? AND size = ? AND mtime = ?');
    this.#setHash = db.prepare('INSERT OR REPLACE INTO a1111_model_hashes (path, size, mtime, sha256) VALUES (?, ?, ?, ?)');
  }

  /** The settings as `keyId` sees them (null: the server-wide ones). */
  async scoped(keyId: string | null): Promise<ScopedSettings> {
    const owner = keyId === null ? '' : `key:${keyId}`;
    const [shared, own] = await Promise.all([this.#store.read(''), owner ? this.#store.read(owner) : {}]);
    const options = { ...DEFAULTS, ...shared, ...own } as A1111Options;
    return {
      options: () => options,
      update: (changes) => this.#store.write(owner, Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined))),
      sha256: (model) => this.sha256(model),
    };
  }

  /**
   * The sha256 of a model file when known; otherwise undefined, and hashing starts in the background (a
   * file of gigabytes takes seconds), as A1111 leaves a hash out until it has computed it.
   */
  sha256(model: ServedModel): string | undefined {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(model.path);
    } catch {
      return undefined;
    }
    if (!stat.isFile()) return undefined; // a diffusers folder has no single file to hash
    const known = this.#getHash.get(model.path, stat.size, stat.mtimeMs)?.sha256;
    if (known || this.#hashing.has(model.path)) return known;
    this.#hashing.add(model.path);
    const hash = createHash('sha256');
    fs.createReadStream(model.path, { highWaterMark: 4 * 1024 * 1024 })
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => {
        this.#hashing.delete(model.path);
        try {
          this.#setHash.run(model.path, stat.size, stat.mtimeMs, hash.digest('hex'));
        } catch {
          // the database closed meanwhile: the hash is computed again next time
        }
      })
      .on('error', () => this.#hashing.delete(model.path));
    return undefined;
  }
}
