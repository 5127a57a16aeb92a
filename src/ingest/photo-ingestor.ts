/**
 * The one path every photo takes into the system, whatever its source (REST, MQTT, folder,
 * camera command): validate → store durably → publish metadata. A photo whose metadata cannot be
 * published is deleted again, so nothing is left in the bucket that no instance will ever count;
 * or, for REST with an outbox, its metadata waits in the outbox until the broker is back.
 */
import {
  deviceIdProblem,
  filePathOf,
  IMAGE_BUCKET,
  isUuidV4,
  newImageKey,
  parseFilePath,
  photoObjectMetadata,
} from '../core/ids.js';
import { asJpeg, type ImageLimits, ImageRejectedError, inspectJpeg } from '../core/image.js';
import type { Logger } from '../core/log.js';
import { nowSeconds, type PhotoMetadata, unixSecondsSchema } from '../core/messages.js';
import { Counter, Histogram, type Registry } from '../core/metrics.js';
import type { MqttConnection } from '../core/mqtt.js';
import type { ObjectStore } from '../core/storage/index.js';
import { INGEST_DEFAULTS } from './config.js';
import type { EnqueueOutcome, Outbox } from './outbox.js';

export { ImageRejectedError };

export class InvalidDeviceIdError extends Error {
  override name = 'InvalidDeviceIdError';
}

export class InvalidTimestampError extends Error {
  override name = 'InvalidTimestampError';
}

/** The photo could not be stored; nothing was published. The caller may retry later. */
export class StorageUnavailableIngestError extends Error {
  override name = 'StorageUnavailableIngestError';
}

/** The metadata could not be published; the stored photo was deleted again. The caller may retry later. */
export class PublishFailedError extends Error {
  override name = 'PublishFailedError';
  constructor(
    message: string,
    /** False when deleting the stored photo also failed (it is then an orphan; inference rebuilds it). */
    readonly photoRemoved: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The broker is away and the outbox holds as many devices as it may; nothing was kept. The caller may retry later. */
export class OutboxFullError extends Error {
  override name = 'OutboxFullError';
}

export type IngestError =
  | InvalidDeviceIdError
  | InvalidTimestampError
  | ImageRejectedError
  | StorageUnavailableIngestError
  | PublishFailedError
  | OutboxFullError;

/** Why a device ID is refused under the given policy, or null. Pure. */
export function deviceIdRejection(deviceId: string, allowAnyDeviceId: boolean): string | null {
  const problem = deviceIdProblem(deviceId);
  if (problem) return problem;
  if (!allowAnyDeviceId && !isUuidV4(deviceId)) {
    return 'deviceID must be a UUID v4 (start the service with --allow-any-device-id to accept other safe IDs)';
  }
  return null;
}

/** The seed-format metadata message of a stored photo. Pure. */
export function buildPhotoMetadata(deviceId: string, key: string, creationTimestamp: number): PhotoMetadata {
  return { type: 'data', deviceID: deviceId, filePath: filePathOf(key), creationTimestamp };
}

export interface PhotoIngestorOptions {
  store: ObjectStore;
  mqtt: MqttConnection;
  logger: Logger;
  metrics: Registry;
  limits: ImageLimits;
  allowAnyDeviceId: boolean;
  /** A photo "taken" later than now + this is refused: it would pin its device's latest count. Default 5 min. */
  maxClockSkewMs?: number;
  /** Clock in unix seconds (tests). */
  now?: () => number;
  /** Where ingestOrQueue puts metadata while the broker is away; none: it answers like ingest. */
  outbox?: Outbox;
}

/** What ingestOrQueue did with a photo: published its metadata, or queued it in the outbox. */
export interface IngestOutcome {
  metadata: PhotoMetadata;
  queued: boolean;
}

/** A photo that passed validation, in the form it is stored. */
interface AcceptedPhoto {
  deviceId: string;
  creationTimestamp: number;
  jpeg: Buffer;
}

/** Deletes the stored photo a metadata message names (deleting a missing one succeeds). */
export async function deleteStoredPhoto(store: ObjectStore, filePath: string): Promise<void> {
  const parsed = parseFilePath(filePath);
  if ('problem' in parsed) throw new Error(`${filePath} is not a stored photo: ${parsed.problem}`);
  await store.delete(parsed.bucket, parsed.key);
}

/** One spelling per device: a UUID in any case is the same device, stored and announced in lower case. Pure. */
export function normalizeDeviceId(deviceId: string): string {
  return isUuidV4(deviceId) ? deviceId.toLowerCase() : deviceId;
}

/** Why a creationTimestamp is refused, or null. Pure. */
export function timestampRejection(timestamp: number, nowSeconds: number, maxClockSkewMs: number): string | null {
  const check = unixSecondsSchema.safeParse(timestamp);
  if (!check.success)
    return `creationTimestamp ${timestamp} is invalid: ${check.error.issues[0]?.message ?? 'not unix seconds'}`;
  const ahead = timestamp - nowSeconds;
  if (ahead * 1000 > maxClockSkewMs) {
    return `creationTimestamp ${timestamp} is ${Math.round(ahead)} s in the future (more than the allowed clock skew of ${maxClockSkewMs / 1000} s): check the device's clock`;
  }
  return null;
}

/** Reasons used in the `people_counter_ingest_photos_rejected_total` metric. */
export type RejectionReason =
  | 'invalid-device-id'
  | 'invalid-timestamp'
  | ImageRejectedError['problem']
  | 'storage'
  | 'publish'
  | 'outbox-full';

export class PhotoIngestor {
  private readonly ingested: Counter;
  private readonly rejected: Counter<'reason'>;
  private readonly bytes: Counter;
  private readonly storeSeconds: Histogram;
  private readonly publishSeconds: Histogram;

  constructor(private readonly options: PhotoIngestorOptions) {
    const registers = [options.metrics];
    this.ingested = new Counter({
      name: 'people_counter_ingest_photos_total',
      help: 'Photos stored and announced on the metadata topic',
      registers,
    });
    this.rejected = new Counter({
      name: 'people_counter_ingest_photos_rejected_total',
      help: 'Photos refused or failed, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.bytes = new Counter({
      name: 'people_counter_ingest_bytes_total',
      help: 'Bytes of photos stored',
      registers,
    });
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    this.storeSeconds = new Histogram({
      name: 'people_counter_ingest_store_seconds',
      help: 'Time to store one photo durably',
      buckets,
      registers,
    });
    this.publishSeconds = new Histogram({
      name: 'people_counter_ingest_publish_seconds',
      help: 'Time to publish one metadata message (QoS 1, until acknowledged)',
      buckets,
      registers,
    });
  }

  get limits(): ImageLimits {
    return this.options.limits;
  }

  /**
   * Stores the photo (a JPEG; PNG and WebP are converted) and then announces it. Resolves with the published metadata; rejects with
   * one of the typed errors above, leaving nothing half-done behind.
   */
  async ingest(givenDeviceId: string, photo: Buffer, creationTimestamp?: number): Promise<PhotoMetadata> {
    const metadata = await this.store(await this.accept(givenDeviceId, photo, creationTimestamp));
    try {
      await this.publish(metadata);
    } catch (error) {
      this.rejected.inc({ reason: 'publish' });
      const photoRemoved = await this.removePhoto(metadata);
      throw new PublishFailedError(`cannot publish the photo's metadata: ${(error as Error).message}`, photoRemoved, {
        cause: error,
      });
    }
    return metadata;
  }

  /**
   * Like ingest, but while the broker is away (or the outbox still holds earlier photos) the photo is
   * stored and its metadata queued in the outbox, to be published once the broker is back. With the
   * outbox full, rejects with OutboxFullError and keeps nothing. Without an outbox, it is ingest.
   */
  async ingestOrQueue(givenDeviceId: string, photo: Buffer, creationTimestamp?: number): Promise<IngestOutcome> {
    const { outbox } = this.options;
    if (!outbox) return { metadata: await this.ingest(givenDeviceId, photo, creationTimestamp), queued: false };
    const accepted = await this.accept(givenDeviceId, photo, creationTimestamp);
    // Checked before storing too, so that a refused photo costs no write.
    if (outbox.mustQueue && !outbox.hasRoomFor(accepted.deviceId)) throw this.outboxFull();
    const metadata = await this.store(accepted);
    if (!outbox.mustQueue) {
      try {
        await this.publish(metadata);
        return { metadata, queued: false };
      } catch (error) {
        this.options.logger.warn({ err: error, filePath: metadata.filePath }, 'publish failed; queueing in the outbox');
      }
    }
    let outcome: EnqueueOutcome;
    try {
      outcome = await outbox.enqueue(metadata);
    } catch (error) {
      // The entry stays queued in memory and may still be published: the photo stays too.
      this.rejected.inc({ reason: 'storage' });
      throw new StorageUnavailableIngestError(`cannot write the outbox: ${(error as Error).message}`, { cause: error });
    }
    if (outcome === 'full') {
      await this.removePhoto(metadata);
      throw this.outboxFull();
    }
    return { metadata, queued: true };
  }

  /** Validates the device ID, the timestamp and the image; the photo as it will be stored. */
  private async accept(givenDeviceId: string, photo: Buffer, creationTimestamp?: number): Promise<AcceptedPhoto> {
    const { limits, allowAnyDeviceId } = this.options;
    const deviceId = normalizeDeviceId(givenDeviceId);
    const deviceProblem = deviceIdRejection(deviceId, allowAnyDeviceId);
    if (deviceProblem) {
      this.rejected.inc({ reason: 'invalid-device-id' });
      throw new InvalidDeviceIdError(deviceProblem);
    }
    const now = (this.options.now ?? nowSeconds)();
    const timestamp = creationTimestamp ?? now;
    const timestampProblem = timestampRejection(
      timestamp,
      now,
      this.options.maxClockSkewMs ?? INGEST_DEFAULTS.maxClockSkewMs,
    );
    if (timestampProblem) {
      this.rejected.inc({ reason: 'invalid-timestamp' });
      throw new InvalidTimestampError(timestampProblem);
    }
    try {
      // PNG and WebP are stored as JPEG: everything downstream reads JPEG only.
      const jpeg = await asJpeg(photo, limits);
      await inspectJpeg(jpeg, limits);
      return { deviceId, creationTimestamp: timestamp, jpeg };
    } catch (error) {
      if (error instanceof ImageRejectedError) this.rejected.inc({ reason: error.problem });
      throw error;
    }
  }

  /** Stores the photo durably; its metadata, not yet published. */
  private async store({ deviceId, creationTimestamp, jpeg }: AcceptedPhoto): Promise<PhotoMetadata> {
    const key = newImageKey();
    const stopStoreTimer = this.storeSeconds.startTimer();
    try {
      await this.options.store.put(IMAGE_BUCKET, key, jpeg, photoObjectMetadata(deviceId, creationTimestamp));
    } catch (error) {
      this.rejected.inc({ reason: 'storage' });
      throw new StorageUnavailableIngestError(`cannot store the photo: ${(error as Error).message}`, { cause: error });
    } finally {
      stopStoreTimer();
    }
    this.bytes.inc(jpeg.length);
    return buildPhotoMetadata(deviceId, key, creationTimestamp);
  }

  private async publish(metadata: PhotoMetadata): Promise<void> {
    const { mqtt, logger } = this.options;
    const stopPublishTimer = this.publishSeconds.startTimer();
    try {
      await mqtt.publishJson(mqtt.topics.metadata, metadata, { qos: 1 });
    } finally {
      stopPublishTimer();
    }
    this.ingested.inc();
    logger.debug({ deviceID: metadata.deviceID, filePath: metadata.filePath }, 'photo ingested');
  }

  /** Deletes a stored photo whose metadata will not be published; false when that failed too. */
  private removePhoto(metadata: PhotoMetadata): Promise<boolean> {
    return deleteStoredPhoto(this.options.store, metadata.filePath).then(
      () => true,
      (deleteError: unknown) => {
        this.options.logger.error(
          { err: deleteError, filePath: metadata.filePath },
          'the stored photo could not be deleted: it is orphaned until inference recovers it',
        );
        return false;
      },
    );
  }

  private outboxFull(): OutboxFullError {
    this.rejected.inc({ reason: 'outbox-full' });
    return new OutboxFullError(
      'the broker is unavailable and the outbox holds as many devices as --outbox-max-devices allows',
    );
  }
}
