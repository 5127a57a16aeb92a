/**
 * Who may say what on the embedded broker: every client authenticates as one of our services or
 * as a device, and each may publish only on the topics that its job needs (the same rules as
 * deploy/mosquitto.acl). Pure: the broker asks, these functions answer.
 */
import { randomBytes } from 'node:crypto';
import { type DeviceCredential, registrableDeviceIdProblem } from '../core/device-credentials.js';
import type { LiveDeviceRegistry } from '../core/device-registry.js';
import { sameSecret } from '../core/secret.js';
import { type Topics, topicMatches } from '../core/topics.js';

/** The parts of the pipeline, each with a broker account of its own. */
const pipelineRoles = ['inference', 'ingest', 'engage'] as const;
type PipelineRole = (typeof pipelineRoles)[number];
/**
 * Accounts that are not devices: the pipeline's services; `homeassistant`, which may only read what
 * Home Assistant shows (docs/home-assistant.md); `admin`, which may do anything (operators' tools).
 */
export type ServiceRole = PipelineRole | 'homeassistant' | 'admin';
/** The username of the Home Assistant account. */
export const HOME_ASSISTANT_USERNAME = 'homeassistant';

export interface ServiceAccount {
  role: ServiceRole;
  username: string;
  password: string;
}

/** What the broker needs of the device registry (src/core/device-registry.ts). */
export type DeviceDirectory = Pick<LiveDeviceRegistry, 'has' | 'verify' | 'isCurrent' | 'onChange'>;

export interface BrokerCredentials {
  services: ServiceAccount[];
  /** Registered devices, each with its own secret; a device's username is its device ID. */
  devices?: DeviceDirectory;
  /**
   * Deprecated: one password every *unregistered* device shares (a registered device must use its
   * own secret). With neither, no device may connect.
   */
  devicePassword?: string;
}

/** How a device proved who it is: its registered credential, or the deprecated shared password. */
export type DeviceProof = DeviceCredential | 'shared-password';

export type ClientIdentity =
  | { role: ServiceRole; username: string }
  | { role: 'device'; deviceId: string; proof: DeviceProof };

/** Why a CONNECT was refused (for the log; the client only learns "not authorized"). */
export type ConnectRefusal = { refused: 'credentials' | 'client-id'; reason: string };

export interface ConnectAttempt {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
}

export interface AccessRules {
  topics: Topics;
  /** Where engage publishes Home Assistant discovery (outside the topic prefix). */
  discoveryPrefix: string;
}

/**
 * Why a device may not use this client ID, or null. A device's client ID is its device ID (or
 * starts with `<deviceID>/`): it can then neither take over another device's session nor a
 * service's (`pc-…`, which no registrable device ID starts with).
 */
export function deviceClientIdProblem(deviceId: string, clientId: string): string | null {
  if (clientId === deviceId || clientId.startsWith(`${deviceId}/`)) return null;
  return `a device's client ID must be its device ID (or start with "${deviceId}/")`;
}

/** The identity of a client that presented these credentials, or why it is refused. */
export async function authenticateClient(
  credentials: BrokerCredentials,
  { clientId, username, password }: ConnectAttempt,
): Promise<ClientIdentity | ConnectRefusal> {
  const wrong: ConnectRefusal = { refused: 'credentials', reason: 'unknown user or wrong password' };
  if (username === undefined) return wrong;
  const service = credentials.services.find((account) => account.username === username);
  // A service's username is never a device's: a device calling itself "ingest" gets the service check.
  if (service) return sameSecret(password, service.password) ? { role: service.role, username } : wrong;
  const idProblem = registrableDeviceIdProblem(username);
  if (idProblem !== null) return { refused: 'credentials', reason: idProblem };
  const clientIdProblem = deviceClientIdProblem(username, clientId);
  if (clientIdProblem !== null) return { refused: 'client-id', reason: clientIdProblem };
  if (credentials.devices?.has(username)) {
    const credential = await credentials.devices.verify(username, password);
    return credential ? { role: 'device', deviceId: username, proof: credential } : wrong;
  }
  if (credentials.devicePassword !== undefined && sameSecret(password, credentials.devicePassword)) {
    return { role: 'device', deviceId: username, proof: 'shared-password' };
  }
  return wrong;
}

export function isRefusal(result: ClientIdentity | ConnectRefusal): result is ConnectRefusal {
  return 'refused' in result;
}

/**
 * Whether a connected client may stay after the registry changed: a device whose credential was
 * revoked or reissued may not, nor one on the shared password once it is registered.
 */
export function stillAuthorized(credentials: BrokerCredentials, identity: ClientIdentity): boolean {
  if (identity.role !== 'device') return true;
  if (identity.proof === 'shared-password') return !(credentials.devices?.has(identity.deviceId) ?? false);
  return credentials.devices?.isCurrent(identity.proof) ?? false;
}

/** Topics each service publishes on (availability is checked separately: its own service name only). */
function serviceTopics(role: PipelineRole, rules: AccessRules): string[] {
  const { topics } = rules;
  switch (role) {
    case 'inference':
      // Metadata too: the orphan sweeper re-announces rebuilt metadata, and legacy results go there.
      return [
        topics.coordination,
        topics.results,
        topics.superseded,
        topics.deadLetter,
        topics.metadata,
        topics.deviceCount('+'),
      ];
    case 'ingest':
      return [topics.metadata, topics.deadLetter];
    case 'engage':
      // Profiles and tuning requests are retained state that engage owns (the tuning flow).
      return [
        topics.alerts,
        topics.siteOccupancy('+'),
        topics.deadLetter,
        topics.deviceProfileWildcard,
        topics.deviceCollectWildcard,
        topics.deviceStateWildcard,
        topics.deviceZoneWildcard,
        `${rules.discoveryPrefix}/#`,
      ];
  }
}

/**
 * What Home Assistant reads: discovery configs, the retained states its sensors show, engage's
 * availability, and alerts (for automations). Nothing of photos, results, coordination or profiles.
 */
export function homeAssistantReads(rules: AccessRules): string[] {
  const { topics } = rules;
  return [
    `${rules.discoveryPrefix}/#`,
    topics.deviceStateWildcard,
    topics.deviceZoneWildcard,
    topics.siteOccupancy('+'),
    topics.availability('engage', '+'),
    topics.alerts,
  ];
}

/** Home Assistant's birth and last-will topic (its MQTT integration's default), the only one it writes. */
export function homeAssistantStatus(rules: AccessRules): string {
  return `${rules.discoveryPrefix}/status`;
}

export function mayPublish(identity: ClientIdentity, topic: string, rules: AccessRules): boolean {
  const { topics } = rules;
  if (identity.role === 'admin') return true;
  if (identity.role === 'device') {
    return topic === topics.deviceImage(identity.deviceId) || topic === deviceAvailability(topics, identity.deviceId);
  }
  if (identity.role === 'homeassistant') return topic === homeAssistantStatus(rules);
  if (topicMatches(topics.availability(identity.role, '+'), topic)) return true;
  return serviceTopics(identity.role, rules).some((filter) => topicMatches(filter, topic));
}

/**
 * Services read what they like; Home Assistant only what it shows (a filter within one of
 * homeAssistantReads); a device only its own topics (e.g. its retained count).
 */
export function maySubscribe(identity: ClientIdentity, filter: string, rules: AccessRules): boolean {
  // A filter lies within an allowed one when the allowed one matches it level by level, its
  // wildcards taken as plain levels: `a/+/b` lies within `a/+/b` and `a/#`, not `a/#` within `a/+/b`.
  if (identity.role === 'homeassistant')
    return homeAssistantReads(rules).some((allowed) => topicMatches(allowed, filter));
  if (identity.role !== 'device') return true;
  const own = `${rules.topics.prefix}/devices/${identity.deviceId}/`;
  return filter.startsWith(own) && !/[#+]/.test(filter.slice(own.length));
}

function deviceAvailability(topics: Topics, deviceId: string): string {
  return topics.deviceAvailabilityWildcard.replace('+', deviceId);
}

/** `PEOPLE_COUNTER_BROKER_<ROLE>_PASSWORD` (or `…_FILE`): the password of a service's account. */
export function servicePasswordEnv(role: Exclude<ServiceRole, 'admin'> | 'device'): string {
  return `PEOPLE_COUNTER_BROKER_${role.toUpperCase()}_PASSWORD`;
}

/**
 * The accounts an operator configured: one per service whose password is set (username = the
 * role's name; Home Assistant's too), the admin account if given, and the shared device password.
 */
export function credentialsFromEnv(
  readSecret: (name: string) => string | undefined,
  admin: { username: string; password: string } | undefined,
): BrokerCredentials | undefined {
  const services: ServiceAccount[] = [];
  for (const role of [...pipelineRoles, 'homeassistant'] as const) {
    const password = readSecret(servicePasswordEnv(role));
    if (password !== undefined) services.push({ role, username: role, password });
  }
  if (admin) services.push({ role: 'admin', ...admin });
  const devicePassword = readSecret(servicePasswordEnv('device'));
  if (services.length === 0 && devicePassword === undefined) return undefined;
  return { services, ...(devicePassword !== undefined ? { devicePassword } : {}) };
}

/** Fresh random accounts for the services of a stack that runs its own broker (`up`). */
export function generateServiceAccounts(): ServiceAccount[] {
  return pipelineRoles.map((role) => ({
    role,
    username: role,
    password: randomBytes(24).toString('base64url'),
  }));
}
