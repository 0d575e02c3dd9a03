import path from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, restrictFiles } from '../security/file-modes.js';

export type Db = Database.Database;

/** The file name of the server's database inside its data directory. */
export const DATABASE_FILE = 'diffusekit.sqlite';

/**
 * Opens (creating if needed) the server's SQLite database under `dataDir`. WAL mode lets the CLI
 * (`diffusekit keys ...`) write while a server reads; `synchronous = NORMAL` is durable across process
 * crashes, which is what the job queue needs (a power cut may lose the last transaction, never corrupt).
 * Each store creates its own tables (`CREATE TABLE IF NOT EXISTS`) when constructed.
 */
export function openDatabase(dataDir: string): Db {
  ensurePrivateDir(dataDir);
  const files = [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`];
  // Before opening too: SQLite gives the -wal and -shm files the database file's mode.
  restrictFiles(dataDir, files);
  const db = new Database(path.join(dataDir, DATABASE_FILE));
  // First: several processes (API and worker nodes on one machine) may open the file at once.
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  restrictFiles(dataDir, files);
  return db;
}
