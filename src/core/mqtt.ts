/**
 * The one place that talks to the MQTT broker. Wraps MQTT.js with what every service needs:
 * MQTT 3.1.1 by default (aedes refuses v5), QoS 1, reconnect with exponential backoff, a retained
 * `online` availability message on connect and a last-will `offline`, publishes that fail fast
 * instead of queueing while the broker is away, and topic-filtered message handlers.
 */
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { MqttConfig } from './config.js';
import type { Logger } from './log.js';
import { makeTopics, type ServiceName, type Topics, topicFilter } from './topics.js';

export class PublishError extends Error {
  override name = 'PublishError';
}

export interface LastWill {
  topic: string;
  payload: string;
  retain: boolean;
}

export interface MqttConnectionOptions {
  config: MqttConfig;
  service: ServiceName;
  instanceId: string;
  logger: Logger;
  /** Keep the session (subscriptions and queued QoS 1 messages) across disconnects. Default false. */
  persistentSession?: boolean;
  /**
   * Replaces the default will (retained `offline` on the availability topic). A function is asked
   * again before every connect, so that each connection carries a will of its own.
   */
  will?: LastWill | (() => LastWill);
  /** Distinguishes a second connection of the same instance (client IDs must be unique). */
  clientIdSuffix?: string;
  /** Publish retained `online`/`offline` on the availability topic. Default true. */
  announceAvailability?: boolean;
  /** How long a QoS 1 publish may wait for the broker's acknowledgement. Default 10 s. */
  publishTimeoutMs?: number;
  /** Reconnect backoff bounds. Defaults 500 ms → 15 s. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  keepaliveSeconds?: number;
  /**
   * When the connection drops, fail every publish not yet acknowledged and withdraw it, instead of
   * letting MQTT.js re-send it after the reconnect (possibly before anyone has re-subscribed).
   * For messages that only make sense within the session that sent them (docs/coordination.md).
   */
  withdrawOnDisconnect?: boolean;
}

export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

export interface PublishOptions {
  /** 1 by default. 2 where a lost message costs an outcome: see docs/coordination.md. */
  qos?: 0 | 1 | 2;
  retain?: boolean;
}

function mqttWill(will: LastWill): NonNullable<IClientOptions['will']> {
  return { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: will.retain };
}

export class MqttConnection {
  readonly topics: Topics;
  private readonly client: MqttClient;
  readonly clientId: string;
  private readonly handlers: Array<{ matches: (topic: string) => boolean; handler: MessageHandler }> = [];
  private readonly availabilityTopic: string;
  private reconnectDelay: number;
  private closing = false;
  /** Publishes awaiting their acknowledgement, by callback (withdrawn on disconnect if asked). */
  private readonly unacknowledged = new Map<(error?: Error) => void, (error: Error) => void>();
  /** QoS 2 publishes not yet completed (a hint when a broker without QoS 2 drops the connection). */
  private exactlyOnceOutstanding = 0;

  private constructor(private readonly options: MqttConnectionOptions) {
    const { config, service, instanceId } = options;
    this.topics = makeTopics(config.prefix, config.metadataTopic);
    this.availabilityTopic = this.topics.availability(service, instanceId);
    this.clientId = `pc-${service}-${instanceId}`.slice(0, 64) + (options.clientIdSuffix ?? '');
    const reconnectMinMs = options.reconnectMinMs ?? 500;
    this.reconnectDelay = reconnectMinMs;
    const announce = options.announceAvailability ?? true;
    const given = options.will;
    const will =
      typeof given === 'function'
        ? given()
        : (given ?? (announce ? { topic: this.availabilityTopic, payload: 'offline', retain: true } : undefined));
    const clientOptions: IClientOptions = {
      clientId: this.clientId,
      clean: !(options.persistentSession ?? false),
      protocolVersion: config.protocolVersion,
      keepalive: options.keepaliveSeconds ?? 15,
      reconnectPeriod: this.reconnectDelay,
      connectTimeout: 10_000,
      resubscribe: true,
      queueQoSZero: false,
      ...(config.username !== undefined ? { username: config.username } : {}),
      ...(config.password !== undefined ? { password: config.password } : {}),
      ...(will ? { will: mqttWill(will) } : {}),
    };
    this.client = connect(config.url, clientOptions);
    if (typeof given === 'function') {
      // MQTT.js emits `reconnect` just before it sends the next CONNECT, built from `options.will`.
      this.client.on('reconnect', () => {
        this.client.options.will = mqttWill(given());
      });
    }
    this.client.on('connect', (packet) => {
      // Small control messages (claims, acks) must not wait for Nagle's algorithm (~40 ms).
      const socket = this.client.stream as { setNoDelay?: (noDelay: boolean) => void };
      socket.setNoDelay?.(true);
      this.reconnectDelay = reconnectMinMs;
      this.client.options.reconnectPeriod = this.reconnectDelay;
      options.logger.info(
        { url: redactUrl(config.url), sessionPresent: packet.sessionPresent },
        'connected to MQTT broker',
      );
      if (announce) {
        this.client.publish(this.availabilityTopic, 'online', { qos: 1, retain: true });
      }
    });
    this.client.on('close', () => {
      if (this.exactlyOnceOutstanding > 0 && !this.closing) {
        // NATS 2.9 closes the connection on every QoS 2 publish: without this hint, a silent reconnect loop.
        options.logger.warn(
          'connection lost while a QoS 2 publish was outstanding; if this repeats, the broker may lack QoS 2 (NATS 2.9 closes the connection on one): use --outcome-qos 1 there',
        );
      }
      if (options.withdrawOnDisconnect) this.withdrawUnacknowledged();
      if (this.closing) return;
      // Exponential backoff: MQTT.js reads reconnectPeriod each time it schedules a reconnect.
      const max = options.reconnectMaxMs ?? 15_000;
      this.reconnectDelay = Math.min(max, this.reconnectDelay * 2);
      this.client.options.reconnectPeriod = this.reconnectDelay;
      options.logger.warn({ retryInMs: this.reconnectDelay }, 'MQTT connection lost; reconnecting');
    });
    this.client.on('error', (error) => {
      // While closing, a message still arriving cannot be acknowledged any more: harmless.
      if (this.closing) options.logger.debug({ err: error }, 'MQTT error while closing');
      else options.logger.error({ err: error }, 'MQTT error');
    });
    this.client.on('message', (topic, payload, packet) => {
      for (const { matches, handler } of this.handlers) {
        if (matches(topic)) handler(topic, payload, packet);
      }
    });
  }

  /** Starts connecting and resolves once connected (or rejects after `timeoutMs`). */
  static async connect(options: MqttConnectionOptions, timeoutMs = 15_000): Promise<MqttConnection> {
    const connection = new MqttConnection(options);
    await connection.waitForConnection(timeoutMs).catch(async (error: unknown) => {
      await connection.close();
      throw error;
    });
    return connection;
  }

  /** Starts connecting in the background; for services that must come up while the broker is down. */
  static start(options: MqttConnectionOptions): MqttConnection {
    return new MqttConnection(options);
  }

  get connected(): boolean {
    return this.client.connected;
  }

  get availability(): string {
    return this.availabilityTopic;
  }

  waitForConnection(timeoutMs: number): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('connect', onConnect);
        reject(
          new Error(`could not connect to MQTT broker ${redactUrl(this.options.config.url)} within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const onConnect = () => {
        clearTimeout(timer);
        resolve();
      };
      this.client.once('connect', onConnect);
    });
  }

  /** Registers a handler for messages whose topic matches `filter` (does not subscribe). */
  onMessage(filter: string, handler: MessageHandler): void {
    this.handlers.push({ matches: topicFilter(filter), handler });
  }

  /** Calls `listener` on every (re)connect, after the connection's own handling; returns what removes it. */
  onConnect(listener: () => void): () => void {
    const handler = () => listener();
    this.client.on('connect', handler);
    return () => {
      this.client.off('connect', handler);
    };
  }

  /** Calls `listener` whenever the connection closes (dropped or ended); returns what removes it. */
  onDisconnect(listener: () => void): () => void {
    const handler = () => listener();
    this.client.on('close', handler);
    return () => {
      this.client.off('close', handler);
    };
  }

  async subscribe(filters: string[], qos: 0 | 1 = 1): Promise<void> {
    const granted = await this.client.subscribeAsync(Object.fromEntries(filters.map((filter) => [filter, { qos }])));
    const refused = granted.filter((grant) => grant.qos === 128);
    if (refused.length > 0) {
      throw new Error(`broker refused subscription to ${refused.map((grant) => grant.topic).join(', ')}`);
    }
  }

  async unsubscribe(filters: string | string[]): Promise<void> {
    await this.client.unsubscribeAsync(filters);
  }

  /**
   * Publishes and resolves when the broker has acknowledged (QoS 1) or completed (QoS 2). Rejects at once while
   * disconnected, and after the publish timeout, withdrawing the message so that it is not sent
   * later behind the caller's back (the caller has already been told it failed).
   */
  publish(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    const qos = options.qos ?? 1;
    if (!this.client.connected) {
      return Promise.reject(new PublishError(`not connected to the MQTT broker; cannot publish on ${topic}`));
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      if (qos === 2) this.exactlyOnceOutstanding += 1;
      const settle = () => {
        settled = true;
        if (qos === 2) this.exactlyOnceOutstanding -= 1;
      };
      const fail = (error: Error) => {
        if (settled) return;
        settle();
        clearTimeout(timer);
        this.unacknowledged.delete(callback);
        this.withdraw(callback);
        reject(error);
      };
      const callback = (error?: Error) => {
        if (settled) return;
        settle();
        clearTimeout(timer);
        this.unacknowledged.delete(callback);
        if (error) reject(new PublishError(`publish on ${topic} failed: ${error.message}`));
        else resolve();
      };
      const timeoutMs = this.options.publishTimeoutMs ?? 10_000;
      const timer = setTimeout(
        () => fail(new PublishError(`broker did not acknowledge publish on ${topic} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.unacknowledged.set(callback, fail);
      this.client.publish(topic, payload, { qos, retain: options.retain ?? false }, callback);
    });
  }

  publishJson(topic: string, message: unknown, options: PublishOptions = {}): Promise<void> {
    return this.publish(topic, JSON.stringify(message), options);
  }

  /** Marks this instance offline and disconnects cleanly (the will is not sent on a clean disconnect). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.client.connected && (this.options.announceAvailability ?? true)) {
      await this.publish(this.availabilityTopic, 'offline', { retain: true }).catch(() => undefined);
    }
    await this.client.endAsync(!this.client.connected).catch(() => undefined);
  }

  private withdrawUnacknowledged(): void {
    for (const fail of [...this.unacknowledged.values()]) {
      fail(new PublishError('connection lost before the broker acknowledged the publish; withdrawn'));
    }
  }

  private withdraw(callback: (error?: Error) => void): void {
    const outgoing = (this.client as unknown as { outgoing: Record<number, { cb: unknown }> }).outgoing;
    for (const [id, entry] of Object.entries(outgoing)) {
      if (entry.cb === callback) this.client.removeOutgoingMessage(Number(id));
    }
  }
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
