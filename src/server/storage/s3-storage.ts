import { DeleteObjectCommand, GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Readable } from 'node:stream';
import { contentTypeOf, safeFileName, type ObjectStorage, type StorageArea, type StoredObject } from './object-storage.js';

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix inside the bucket, e.g. "diffusekit/". */
  prefix?: string;
  /** For S3-compatible stores (MinIO, R2, Ceph ...); default: AWS for the region. */
  endpoint?: string;
  region?: string;
  /** Path-style URLs (http://host/bucket/key), which most S3-compatible stores need. */
  forcePathStyle?: boolean;
  /** Default: the AWS SDK's chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Output URLs are this bucket's presigned GET URLs (see ServerOptions.s3). */
  presignOutputs?: boolean;
}

/** Inputs and outputs in an S3 bucket, through the AWS SDK: any number of nodes share it. */
export class S3Storage implements ObjectStorage {
  readonly kind = 's3';
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3StorageOptions) {
    this.#client = new S3Client({
      endpoint: options.endpoint,
      region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
    });
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? '';
  }

  localDir(): undefined {
    return undefined;
  }

  #key(area: StorageArea, file: string): string {
    return `${this.#prefix}${area}/${safeFileName(file)}`;
  }

  // No ACL: objects stay private (the bucket's policy decides); readers go through the server or a presigned URL.
  async put(area: StorageArea, file: string, bytes: Buffer): Promise<void> {
    await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: this.#key(area, file), Body: bytes, ContentType: contentTypeOf(file) }));
  }

  /** A presigned GET URL (SigV4 query authentication) of one object, valid for `seconds`. */
  presignedUrl(area: StorageArea, file: string, seconds: number): Promise<string> {
    return getSignedUrl(this.#client, new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(area, file) }), { expiresIn: seconds });
  }

  async get(area: StorageArea, file: string): Promise<StoredObject | undefined> {
    try {
      const object = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(area, file) }));
      return { body: object.Body as Readable, size: object.ContentLength ?? 0, contentType: object.ContentType ?? contentTypeOf(file) };
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  async read(area: StorageArea, file: string): Promise<Buffer | undefined> {
    const object = await this.get(area, file);
    if (!object) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of object.body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async remove(area: StorageArea, file: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(area, file) }));
  }

  close(): void {
    this.#client.destroy();
  }
}
