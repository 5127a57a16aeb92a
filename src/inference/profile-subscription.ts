/**
 * Which camera profile counts a device's next photo. Precedence: the live profile engage publishes
 * retained on `<prefix>/devices/<id>/profile` wins; a device without one falls back to the static
 * `--profiles` file (the seed); without either the defaults apply. The version a result carries is
 * the profile's short hash (the same for the same profile from either source).
 */
import { profileHash, profileMessageSchema } from '../core/live-profile.js';
import type { Logger } from '../core/log.js';
import type { MqttConnection } from '../core/mqtt.js';
import type { CameraProfile } from '../core/people-counter.js';
import { watchRetainedDeviceState } from './retained-device-state.js';

export interface ProfileChoice {
  profile: CameraProfile;
  /** Short hash of the profile (see profileHash). */
  version: string;
}

export interface ProfileSubscription {
  profileFor(deviceId: string): ProfileChoice | undefined;
  readonly subscribed: Promise<void>;
  stop(): void;
}

const hashed = (seed: Readonly<Record<string, CameraProfile>>) =>
  new Map(Object.entries(seed).map(([id, profile]) => [id, { profile, version: profileHash(profile) }]));

/** The `--profiles` map alone, where no broker connection can carry live profiles. */
export function staticProfiles(seed: Readonly<Record<string, CameraProfile>>): ProfileSubscription {
  const seeded = hashed(seed);
  return { profileFor: (deviceId) => seeded.get(deviceId), subscribed: Promise.resolve(), stop: () => undefined };
}

export function subscribeToProfiles(options: {
  connection: MqttConnection;
  seed: Readonly<Record<string, CameraProfile>>;
  logger: Logger;
  onChange?: (deviceId: string, choice: ProfileChoice | undefined) => void;
}): ProfileSubscription {
  const { connection, seed, logger } = options;
  const seeded = hashed(seed);
  const live = new Map<string, ProfileChoice>();
  const profileFor = (deviceId: string) => live.get(deviceId) ?? seeded.get(deviceId);
  const state = watchRetainedDeviceState({
    connection,
    wildcard: connection.topics.deviceProfileWildcard,
    schema: profileMessageSchema,
    logger,
    onChange: (deviceId, message) => {
      // Hashed here, not taken from the message: the same profile has the same version from any source.
      if (message) live.set(deviceId, { profile: message.profile, version: profileHash(message.profile) });
      else live.delete(deviceId);
      logger.info({ deviceId, version: live.get(deviceId)?.version ?? null }, 'camera profile changed');
      options.onChange?.(deviceId, profileFor(deviceId));
    },
  });
  return { profileFor, subscribed: state.subscribed, stop: state.stop };
}
