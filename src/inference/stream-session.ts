/**
 * An instance's session on the broker, as views of the ordered stream (docs/coordination.md,
 * "Reconnects"): every connection that has subscribed is one view. A view ends when the
 * connection drops; what was published and not acknowledged is withdrawn then, never re-sent
 * into a later view. Coordination messages leave only from a view that is subscribed, so nothing
 * enters the stream from a session that has not (re)subscribed. Every message we publish on our
 * own topics is signed, and every coordination or outcome message received is verified.
 */
import { z } from 'zod';
import type { Logger } from '../core/log.js';
import type { MessageAuth } from '../core/message-auth.js';
import { type MqttConnection, PublishError } from '../core/mqtt.js';
import type { Topics } from '../core/topics.js';
import { type CoordinationMessage, coordinationMessageSchema } from './coordination-messages.js';

/** The part of an MQTT connection the instance needs; a fake broker implements it in unit tests. */
export interface BrokerLink {
  readonly connected: boolean;
  publish(topic: string, payload: string, options: { qos: 0 | 1 | 2; retain?: boolean }): Promise<void>;
  subscribe(filters: string[]): Promise<void>;
  unsubscribe(filters: string[]): Promise<void>;
  /** Every (re)connect. */
  onConnect(listener: () => void): void;
  /** Every loss of the connection (it may fire more than once per loss). */
  onDisconnect(listener: () => void): void;
  onMessage(listener: (topic: string, payload: Buffer) => void): void;
  close(): Promise<void>;
}

/** A BrokerLink over an MqttConnection created with `withdrawOnDisconnect`. */
export function mqttBrokerLink(connection: MqttConnection): BrokerLink {
  return {
    get connected() {
      return connection.connected;
    },
    publish: (topic, payload, options) => connection.publish(topic, payload, options),
    subscribe: (filters) => connection.subscribe(filters, 1),
    unsubscribe: (filters) => connection.unsubscribe(filters),
    onConnect: (listener) => {
      connection.onConnect(listener);
    },
    onDisconnect: (listener) => {
      connection.onDisconnect(listener);
    },
    onMessage: (listener) => connection.onMessage('#', (topic, payload) => listener(topic, payload)),
    close: () => connection.close(),
  };
}

export type RefusedReason = 'unauthenticated' | 'invalid';

export type OutcomeQos = 1 | 2;

export interface StreamSessionHandlers {
  /** A view starts: subscribed on a new connection. `afterGap`: an earlier view ended before it. */
  viewStarted(afterGap: boolean): void;
  /** The current view ended (connection lost). */
  viewEnded(): void;
  /** A metadata-topic payload received while a view is subscribed. */
  metadata(payload: Buffer): void;
  /** A verified, valid coordination message. */
  coordination(message: CoordinationMessage): void;
  /** A verified outcome (result, superseded or inference dead letter) of a photo. */
  outcomeSeen(filePath: string): void;
  /** A coordination or outcome message that failed verification or validation: never applied. */
  refused(topic: string, reason: RefusedReason, detail: string, payload: Buffer): void;
}

export class StreamSession {
  private connects = 0;
  private subscribedConnect = 0;
  private viewOpen = false;
  private everSubscribed = false;

  constructor(
    private readonly link: BrokerLink,
    private readonly topics: Topics,
    private readonly auth: MessageAuth,
    private readonly handlers: StreamSessionHandlers,
    private readonly logger: Logger,
    /** QoS of outcome messages: 2, or 1 on a broker without QoS 2 that stores before it acknowledges (NATS). */
    private readonly outcomeQos: OutcomeQos = 2,
  ) {}

  /** The topics of one view, subscribed in ONE SUBSCRIBE so that their order is shared. */
  get filters(): string[] {
    const { topics } = this;
    return [topics.metadata, topics.coordination, topics.results, topics.superseded, topics.deadLetter];
  }

  start(): void {
    this.link.onConnect(() => this.onConnect());
    this.link.onDisconnect(() => this.endView());
    this.link.onMessage((topic, payload) => this.onMessage(topic, payload));
    if (this.link.connected) this.onConnect();
  }

  /** Subscribed in the current connection: coordination messages may be published. */
  get ready(): boolean {
    return this.viewOpen && this.link.connected;
  }

  get subscribedOnce(): boolean {
    return this.everSubscribed;
  }

  /** Publishes a coordination message; refused unless the current view is subscribed. */
  publishCoordination(message: CoordinationMessage): Promise<void> {
    if (!this.ready) {
      return Promise.reject(new PublishError(`no subscribed view: ${message.type} not published`));
    }
    return this.link.publish(this.topics.coordination, this.auth.sign(this.topics.coordination, message), { qos: 1 });
  }

  /**
   * Publishes a signed message on one of our own topics. Outcomes go at QoS 2 by default: aedes
   * acknowledges a QoS 1 publish before it hands the message to subscribers, so a broker killed in
   * between loses an outcome whose photo the instance then deletes; at QoS 2 it stores, delivers,
   * then answers (docs/coordination.md, "Broker restarts"). NATS 2.9 has no QoS 2 (it closes the
   * connection) but acknowledges QoS 1 only once JetStream stored the message (docs/system.md).
   */
  publishSigned(topic: string, message: object, options: { retain?: boolean; outcome?: boolean } = {}): Promise<void> {
    return this.link.publish(topic, this.auth.sign(topic, message), {
      qos: options.outcome ? this.outcomeQos : 1,
      retain: options.retain ?? false,
    });
  }

  /** Publishes an announcement on the metadata topic (ingestion's format, unsigned). */
  publishMetadata(message: object): Promise<void> {
    return this.link.publish(this.topics.metadata, JSON.stringify(message), { qos: 1 });
  }

  async stop(): Promise<void> {
    // A stopped instance should not have the broker queue the stream for it.
    await this.link.unsubscribe(this.filters).catch(() => undefined);
    this.endView();
  }

  private onConnect(): void {
    this.endView();
    this.connects += 1;
    const connect = this.connects;
    this.link
      .subscribe(this.filters)
      .then(() => {
        // A newer connection has started meanwhile: its own subscribe opens the view.
        if (connect !== this.connects || !this.link.connected) return;
        const afterGap = this.subscribedConnect > 0;
        this.subscribedConnect = connect;
        this.viewOpen = true;
        this.everSubscribed = true;
        this.handlers.viewStarted(afterGap);
      })
      .catch((error: unknown) => this.logger.error({ err: error }, 'subscribe failed'));
  }

  private endView(): void {
    if (!this.viewOpen) return;
    this.viewOpen = false;
    this.handlers.viewEnded();
  }

  private onMessage(topic: string, payload: Buffer): void {
    const { topics } = this;
    if (topic === topics.metadata) {
      // Announcements that arrive outside a view belong to no view: never claimed from here.
      if (this.ready) this.handlers.metadata(payload);
      return;
    }
    if (topic === topics.coordination) {
      const verified = this.verify(topic, payload);
      if (verified === undefined) return;
      const parsed = coordinationMessageSchema.safeParse(verified);
      if (!parsed.success) {
        this.handlers.refused(topic, 'invalid', parsed.error.issues[0]?.message ?? 'schema', payload);
        return;
      }
      this.handlers.coordination(parsed.data);
      return;
    }
    if (topic === topics.results || topic === topics.superseded || topic === topics.deadLetter) {
      const filePath = this.outcomeFilePath(topic, payload);
      if (filePath !== undefined) this.handlers.outcomeSeen(filePath);
    }
  }

  /** The photo an outcome message is about, when it is a verified outcome from an inference instance. */
  private outcomeFilePath(topic: string, payload: Buffer): string | undefined {
    const verified = this.verify(topic, payload);
    if (verified === undefined) return undefined;
    const outcome = outcomeReferenceSchema.safeParse(verified);
    if (!outcome.success) return undefined;
    const { type, filePath, service, payload: letterPayload } = outcome.data;
    const { topics } = this;
    if (topic === topics.results) return type === 'result' ? filePath : undefined;
    if (topic === topics.superseded) return type === 'superseded' ? filePath : undefined;
    // An inference dead letter about a stored photo, not about an unusable metadata payload.
    return type === 'dead-letter' && service === 'inference' && letterPayload === undefined ? filePath : undefined;
  }

  private verify(topic: string, payload: Buffer): unknown {
    const outcome = this.auth.verify(topic, payload);
    if (outcome.ok) return outcome.value;
    // Our own refusals on the dead-letter topic are not refused again (no echo loop).
    if (topic === this.topics.deadLetter) return undefined;
    this.handlers.refused(
      topic,
      outcome.reason === 'invalid-json' ? 'invalid' : 'unauthenticated',
      outcome.detail,
      payload,
    );
    return undefined;
  }
}

/**
 * The fields of an outcome that an instance reads: which photo it settles. The message is signed,
 * so it comes from one of our own services; the rest of it (a result's count, detections, …) is
 * engage's to validate, not every instance's for every outcome (docs/coordination.md, "Costs").
 */
const outcomeReferenceSchema = z.object({
  type: z.enum(['result', 'superseded', 'dead-letter']),
  filePath: z.string().min(1),
  service: z.string().optional(),
  payload: z.unknown().optional(),
});
