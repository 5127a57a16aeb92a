/** S3 object store (MinIO, AWS, any S3-compatible endpoint) on the official AWS SDK v3 client. */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { StorageConfig } from '../config.js';
import {
  assertSafeName,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  StorageUnavailableError,
  type StoredObject,
} from './types.js';

type S3Config = Extract<StorageConfig, { kind: 's3' }>;

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  private readonly client: S3Client;

  constructor(config: S3Config) {
    this.description = `S3 ${config.endpoint ?? `AWS (${config.region})`}`;
    this.client = new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      maxAttempts: 3,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 3_000, requestTimeout: 30_000 }),
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      ...(config.accessKeyId && config.secretAccessKey
        ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
        : {}),
    });
  }

  async ensureBucket(bucket: string): Promise<void> {
    assertSafeName('bucket', bucket);
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return;
    } catch (error) {
      if (!isNotFound(error)) throw unavailable('check bucket', error);
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists')
        throw unavailable('create bucket', error);
    }
  }

  async put(bucket: string, key: string, body: Buffer, metadata: Record<string, string> = {}): Promise<void> {
    this.check(bucket, key);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: 'image/jpeg',
          Metadata: metadata,
        }),
      );
    } catch (error) {
      throw unavailable(`put ${bucket}/${key}`, error);
    }
  }

  async get(bucket: string, key: string): Promise<StoredObject> {
    this.check(bucket, key);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const bytes = await response.Body?.transformToByteArray();
      return { body: Buffer.from(bytes ?? []), metadata: response.Metadata ?? {} };
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(bucket, key);
      throw unavailable(`get ${bucket}/${key}`, error);
    }
  }

  async delete(bucket: string, key: string): Promise<void> {
    this.check(bucket, key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      if (!isNotFound(error)) throw unavailable(`delete ${bucket}/${key}`, error);
    }
  }

  async exists(bucket: string, key: string): Promise<boolean> {
    this.check(bucket, key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw unavailable(`head ${bucket}/${key}`, error);
    }
  }

  async list(bucket: string, prefix = ''): Promise<ObjectInfo[]> {
    assertSafeName('bucket', bucket);
    const infos: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const item of page.Contents ?? []) {
          if (item.Key) {
            infos.push({ key: item.Key, size: item.Size ?? 0, lastModified: item.LastModified ?? new Date(0) });
          }
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw unavailable(`list ${bucket}`, error);
    }
    return infos.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private check(bucket: string, key: string): void {
    assertSafeName('bucket', bucket);
    assertSafeName('key', key);
  }
}

function isNotFound(error: unknown): boolean {
  const candidate = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    candidate?.name === 'NoSuchKey' ||
    candidate?.name === 'NotFound' ||
    candidate?.name === 'NoSuchBucket' ||
    candidate?.$metadata?.httpStatusCode === 404
  );
}

function unavailable(action: string, error: unknown): StorageUnavailableError {
  return new StorageUnavailableError(`S3 ${action} failed: ${(error as Error).message ?? String(error)}`, {
    cause: error,
  });
}
