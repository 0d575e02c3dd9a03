import fs from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { InvalidArgumentError } from '../errors.js';

/** Image files a dataset folder is read for. */
export const DATASET_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff'];
/** The most images one training takes. */
export const MAX_DATASET_IMAGES = 200;

/** One training image: its bytes (or file) and, if it has its own, a caption. */
export interface DatasetImage {
  /** A file path or the encoded image. */
  source: string | Buffer;
  /** How errors name it: the file name or the URL it came from. */
  label: string;
  caption?: string;
  /** Where the image was prepared before (a prepared dataset folder read again): its original size and crop at `resolution`. */
  preparedFrom?: { originalSize: [number, number]; cropTopLeft: [number, number]; resolution: number };
}

export interface PreparedDataset {
  dir: string;
  resolution: number;
  items: PreparedImage[];
}

/** One prepared image, as dataset.json lists it for the trainer. */
export interface PreparedImage {
  image: string;
  caption: string;
  source: string;
  /** The image's [height, width] before the crop (after EXIF rotation): SDXL's `original_size` conditioning. */
  originalSize: [number, number];
  /** [top, left] of the crop in the image scaled to cover the square: SDXL's `crops_coords_top_left`. */
  cropTopLeft: [number, number];
}

/** The image's size once EXIF-rotated (orientations 5-8 turn it a quarter). */
const uprightSize = (meta: Metadata): [number, number] => ((meta.orientation ?? 1) >= 5 ? [meta.width ?? 0, meta.height ?? 0] : [meta.height ?? 0, meta.width ?? 0]);

/** Where a centre crop of the square `resolution` sits once the short side is scaled to it: [top, left]. */
function centreCrop([height, width]: [number, number], resolution: number): [number, number] {
  const scale = resolution / Math.min(height, width);
  return [Math.max(0, Math.round((Math.round(height * scale) - resolution) / 2)), Math.max(0, Math.round((Math.round(width * scale) - resolution) / 2))];
}

/** An image's SDXL size conditioning: from its pixels, or kept from an earlier preparation (a square, scaled: its crop scales with it). */
function sizeConditioning(image: DatasetImage, size: [number, number], resolution: number): Pick<PreparedImage, 'originalSize' | 'cropTopLeft'> {
  const before = image.preparedFrom;
  if (!before) return { originalSize: size, cropTopLeft: centreCrop(size, resolution) };
  const scale = resolution / before.resolution;
  return { originalSize: before.originalSize, cropTopLeft: [Math.round(before.cropTopLeft[0] * scale), Math.round(before.cropTopLeft[1] * scale)] };
}

/** A prepared folder's dataset.json, by image file: what each image was cut from (none for an ordinary folder). */
async function preparedSizes(dir: string): Promise<Map<string, NonNullable<DatasetImage['preparedFrom']>>> {
  const listed = await fs.readFile(path.join(dir, 'dataset.json'), 'utf8').then((t) => JSON.parse(t) as { resolution?: number; items?: Partial<PreparedImage>[] }, () => undefined);
  const sizes = new Map<string, NonNullable<DatasetImage['preparedFrom']>>();
  for (const item of listed?.items ?? []) {
    if (item.image && item.originalSize && item.cropTopLeft && listed?.resolution) sizes.set(item.image, { originalSize: item.originalSize, cropTopLeft: item.cropTopLeft, resolution: listed.resolution });
  }
  return sizes;
}

/**
 * Reads a folder: every image file, with the caption of a `.txt` file of the same name when there is one. A folder
 * prepareDataset wrote (the server's) keeps what each image was cut from, so SDXL's size conditioning survives.
 */
export async function datasetFromFolder(dir: string): Promise<DatasetImage[]> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).sort();
  } catch (err) {
    throw new InvalidArgumentError('images', `The image folder ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const prepared = await preparedSizes(dir);
  const images: DatasetImage[] = [];
  for (const name of names) {
    if (!DATASET_EXTENSIONS.includes(path.extname(name).toLowerCase())) continue;
    const file = path.join(dir, name);
    const caption = await fs.readFile(file.slice(0, -path.extname(name).length) + '.txt', 'utf8').then((t) => t.trim(), () => undefined);
    images.push({ source: file, label: name, caption: caption || undefined, preparedFrom: prepared.get(name) });
  }
  return images;
}

/** The smallest short side an image may have at a training resolution: a quarter of it, and at least 32 pixels. */
export const minimumImageSide = (resolution: number): number => Math.max(32, Math.floor(resolution / 4));

/**
 * Checks and prepares a dataset before any training starts: at least one and at most `maxImages` images, each
 * one readable and not tiny, each with a caption (its own, else `instancePrompt`); every image is centre-cropped
 * to a square and scaled to `resolution`, written as PNG into `dir` with a dataset.json the trainer reads (with
 * each image's original size and crop position, which SDXL is conditioned on).
 * Every problem is an InvalidArgumentError naming the image.
 */
export async function prepareDataset(
  images: DatasetImage[],
  options: { dir: string; resolution: number; instancePrompt?: string; maxImages?: number },
): Promise<PreparedDataset> {
  const maxImages = options.maxImages ?? MAX_DATASET_IMAGES;
  if (images.length === 0) throw new InvalidArgumentError('images', 'The dataset has no images (png, jpeg, webp, bmp or tiff)');
  if (images.length > maxImages) throw new InvalidArgumentError('images', `The dataset has ${images.length} images; at most ${maxImages} are accepted`);
  const minSide = minimumImageSide(options.resolution);
  const checked: { image: DatasetImage; caption: string; size: [number, number] }[] = [];
  for (const image of images) {
    const caption = image.caption ?? options.instancePrompt?.trim();
    if (!caption) throw new InvalidArgumentError('instance_prompt', `${image.label} has no caption (.txt file) and no instance prompt was given`);
    let meta: Metadata;
    try {
      meta = await sharp(image.source).metadata();
    } catch (err) {
      throw new InvalidArgumentError('images', `${image.label} is not a readable image (${(err as Error).message})`);
    }
    const side = Math.min(meta.width ?? 0, meta.height ?? 0);
    if (side < minSide) {
      throw new InvalidArgumentError('images', `${image.label} is ${meta.width}x${meta.height}: too small to train at ${options.resolution}x${options.resolution} (short side at least ${minSide} pixels)`);
    }
    checked.push({ image, caption, size: uprightSize(meta) });
  }
  await fs.mkdir(options.dir, { recursive: true });
  const items: PreparedDataset['items'] = [];
  for (const [i, { image, caption, size }] of checked.entries()) {
    const name = `${String(i).padStart(4, '0')}.png`;
    try {
      await sharp(image.source).rotate().resize(options.resolution, options.resolution, { fit: 'cover', position: 'centre' }).removeAlpha().png().toFile(path.join(options.dir, name));
    } catch (err) {
      throw new InvalidArgumentError('images', `${image.label} could not be decoded (${(err as Error).message})`);
    }
    // The caption beside the image too: the prepared folder is a dataset folder in its own right.
    await fs.writeFile(path.join(options.dir, name.replace(/\.png$/, '.txt')), `${caption}\n`);
    items.push({ image: name, caption, source: image.label, ...sizeConditioning(image, size, options.resolution) });
  }
  const dataset = { dir: options.dir, resolution: options.resolution, items };
  await fs.writeFile(path.join(options.dir, 'dataset.json'), `${JSON.stringify({ resolution: options.resolution, items }, null, 2)}\n`);
  return dataset;
}
