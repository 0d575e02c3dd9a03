import fs from 'node:fs/promises';
import path from 'node:path';
import type { ObjectStorage } from '../storage/object-storage.js';
import { trainingFolder } from './training-spec.js';

/**
 * With the Redis queue a training's dataset is prepared on the API node and trained on a worker node, maybe on
 * another machine: the prepared folder travels through the shared storage (a local folder or S3) as one object,
 * inputs/training-<id>.json ({ files: { name: base64 } }), like the input images of image jobs.
 */
export const datasetBundleName = (trainingId: string): string => `training-${trainingId}.json`;

const datasetDir = (trainingDir: string, trainingId: string) => path.join(trainingFolder(trainingDir, trainingId), 'dataset');

/** Stores the prepared dataset folder of a training (flat: images, captions, dataset.json). */
export async function putDatasetBundle(storage: ObjectStorage, trainingDir: string, trainingId: string): Promise<void> {
  const dir = datasetDir(trainingDir, trainingId);
  const files: Record<string, string> = {};
  for (const name of await fs.readdir(dir)) files[name] = (await fs.readFile(path.join(dir, name))).toString('base64');
  await storage.put('inputs', datasetBundleName(trainingId), Buffer.from(JSON.stringify({ files })));
}

/**
 * Writes a training's dataset into this node's training folder unless it is there already (the node that
 * prepared it, a shared data directory, or a retry here). False when the storage has no bundle for it.
 */
export async function stageDatasetBundle(storage: ObjectStorage, trainingDir: string, trainingId: string): Promise<boolean> {
  const dir = datasetDir(trainingDir, trainingId);
  if (await fs.stat(path.join(dir, 'dataset.json')).then(() => true, () => false)) return true;
  const bytes = await storage.read('inputs', datasetBundleName(trainingId));
  if (!bytes) return false;
  const { files } = JSON.parse(bytes.toString('utf8')) as { files: Record<string, string> };
  await fs.mkdir(dir, { recursive: true });
  // dataset.json last: its presence means the folder is complete.
  const names = Object.keys(files).sort((a, b) => Number(a === 'dataset.json') - Number(b === 'dataset.json'));
  for (const name of names) await fs.writeFile(path.join(dir, path.basename(name)), Buffer.from(files[name]!, 'base64'));
  return true;
}
