/**
 * An in-memory MQTT broker for deterministic unit tests of the inference parts. It keeps the
 * properties the protocol relies on and the failures it must survive:
 * - ONE queue: publishes, subscribes and unsubscribes take effect in the order they arrive, and
 *   every message reaches every subscriber in that order (a single broker's total order);
 * - a session subscribes at a position: messages routed before its SUBSCRIBE are not delivered;
 * - persistent sessions queue messages while their client is away (delivered on reconnect);
 * - `stop()`: unrouted messages are lost (their publishers get an error), every client is
 *   disconnected one after the other and its will reaches the clients still connected at that
 *   moment; without persistence every session is forgotten;
 * - `kill(link)`: a client process dies: its will is published, its link hangs for ever;
 * - a will is asked for at every connect, as MQTT.js sends one in every CONNECT.
 */
import type { LastWill } from '../../src/core/mqtt.js';
import type { BrokerLink } from '../../src/inference/stream-session.js';

type Operation =
  | { kind: 'publish'; from: FakeLink | undefined; topic: string; payload: string; done: (error?: Error) => void }
  | { kind: 'subscribe' | 'unsubscribe'; from: FakeLink; filters: string[]; done: (error?: Error) => void };

interface Session {
  filters: Set<string>;
  /** Messages routed while the client was away. */
  backlog: Array<{ topic: string; payload: string }>;
}

export class FakeBroker {
  private queue: Operation[] = [];
  private readonly links: FakeLink[] = [];
  private scheduled = false;
  up = true;

  constructor(readonly options: { persistence: boolean } = { persistence: false }) {}

  /** A client; it connects at once (call `connect()` again after a drop or a broker restart). */
  link(clientId: string, willOf?: () => LastWill): FakeLink {
    const link = new FakeLink(this, clientId, willOf);
    this.links.push(link);
    return link;
  }

  /** Quiescence: every queued operation routed and every callback it started has run. */
  async settle(): Promise<void> {
    for (let idle = 0; idle < 5; ) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.queue.length > 0) {
        this.pump();
        idle = 0;
      } else idle += 1;
    }
  }

  /** A broker restart, step one: the broker goes away. */
  stop(): void {
    this.up = false;
    for (const operation of this.queue.splice(0)) operation.done(new Error('broker stopped'));
    for (const link of this.links.filter((l) => l.connected)) {
      link.dropped();
      if (link.will) this.routeNow(link.will.topic, link.will.payload);
      if (!this.options.persistence) link.session = undefined;
    }
  }

  /** A broker restart, step two; clients reconnect when the test calls their `connect()`. */
  start(): void {
    this.up = true;
  }

  /** The client's connection drops (network); the broker publishes its will; its session stays. */
  drop(link: FakeLink): void {
    if (!link.connected) return;
    link.dropped();
    this.publishWill(link);
  }

  /** The client's process dies: its will is published and its link never answers again. */
  kill(link: FakeLink): void {
    link.dead = true;
    if (!link.connected) return;
    link.connected = false;
    this.publishWill(link);
  }

  private publishWill(link: FakeLink): void {
    if (!link.will) return;
    const { topic, payload } = link.will;
    this.enqueue({ kind: 'publish', from: undefined, topic, payload, done: () => undefined });
  }

  enqueue(operation: Operation): void {
    this.queue.push(operation);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    }
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const operation = this.queue.shift() as Operation;
      if (operation.kind === 'publish') {
        this.routeNow(operation.topic, operation.payload);
        operation.done();
        continue;
      }
      const session = operation.from.session;
      if (session && operation.from.connected) {
        for (const filter of operation.filters) {
          if (operation.kind === 'subscribe') session.filters.add(filter);
          else session.filters.delete(filter);
        }
        operation.done();
      } else operation.done(new Error('not connected'));
    }
  }

  private routeNow(topic: string, payload: string): void {
    for (const link of this.links) {
      if (!link.session?.filters.has(topic) || link.dead) continue;
      if (link.connected) link.deliver(topic, payload);
      else link.session.backlog.push({ topic, payload });
    }
  }
}

export class FakeLink implements BrokerLink {
  connected = false;
  dead = false;
  session: { filters: Set<string>; backlog: Array<{ topic: string; payload: string }> } | undefined;
  /** The will of the current (or last) connection. */
  will: LastWill | undefined;
  private readonly connectListeners: Array<() => void> = [];
  private readonly disconnectListeners: Array<() => void> = [];
  private readonly messageListeners: Array<(topic: string, payload: Buffer) => void> = [];

  constructor(
    private readonly broker: FakeBroker,
    readonly clientId: string,
    private readonly willOf: (() => LastWill) | undefined,
  ) {
    this.connect();
  }

  /** (Re)connects; a kept session's backlog is delivered first. */
  connect(): void {
    if (this.dead || this.connected || !this.broker.up) return;
    this.will = this.willOf?.();
    this.connected = true;
    this.session ??= { filters: new Set(), backlog: [] } satisfies Session;
    for (const listener of this.connectListeners) listener();
    for (const message of this.session.backlog.splice(0)) this.deliver(message.topic, message.payload);
  }

  dropped(): void {
    this.connected = false;
    for (const listener of this.disconnectListeners) listener();
  }

  deliver(topic: string, payload: string): void {
    for (const listener of this.messageListeners) listener(topic, Buffer.from(payload));
  }

  publish(topic: string, payload: string): Promise<void> {
    if (this.dead) return new Promise(() => undefined);
    if (!this.connected) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) =>
      this.broker.enqueue({
        kind: 'publish',
        from: this,
        topic,
        payload,
        done: (error) => (error ? reject(error) : resolve()),
      }),
    );
  }

  subscribe(filters: string[]): Promise<void> {
    return this.subscription('subscribe', filters);
  }

  unsubscribe(filters: string[]): Promise<void> {
    return this.subscription('unsubscribe', filters);
  }

  onConnect(listener: () => void): void {
    this.connectListeners.push(listener);
  }

  onDisconnect(listener: () => void): void {
    this.disconnectListeners.push(listener);
  }

  onMessage(listener: (topic: string, payload: Buffer) => void): void {
    this.messageListeners.push(listener);
  }

  async close(): Promise<void> {
    this.connected = false;
    this.session = undefined;
  }

  private subscription(kind: 'subscribe' | 'unsubscribe', filters: string[]): Promise<void> {
    if (this.dead) return new Promise(() => undefined);
    if (!this.connected) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) =>
      this.broker.enqueue({ kind, from: this, filters, done: (error) => (error ? reject(error) : resolve()) }),
    );
  }
}
