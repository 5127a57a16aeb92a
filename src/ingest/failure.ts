/** How ingestion failures are classified for the sources that cannot answer with HTTP (MQTT, folder, camera). */
import { ImageRejectedError, imageRejectionReason } from '../core/image.js';
import type { DeadLetterReason } from '../core/messages.js';
import {
  InvalidDeviceIdError,
  InvalidTimestampError,
  PublishFailedError,
  StorageUnavailableIngestError,
} from './photo-ingestor.js';

/** True for failures that may go away on their own (storage or broker down): worth retrying later. */
export function isTransientFailure(error: unknown): boolean {
  return error instanceof StorageUnavailableIngestError || error instanceof PublishFailedError;
}

/** The dead-letter reason of an ingestion failure. Pure. */
export function deadLetterReasonFor(error: unknown): DeadLetterReason {
  if (error instanceof InvalidDeviceIdError || error instanceof InvalidTimestampError) return 'invalid-schema';
  if (error instanceof ImageRejectedError) return imageRejectionReason(error);
  if (error instanceof StorageUnavailableIngestError) return 'storage-error';
  if (error instanceof PublishFailedError) return 'publish-error';
  return 'storage-error';
}
