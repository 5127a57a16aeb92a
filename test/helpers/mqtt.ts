// MQTT.js directly: the test's observer must not share code (availability, wills, fail-fast) with what it checks.
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { MqttConnection } from '../../src/core/mqtt.js';
import { waitFor } from './net.js';

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  json<T = unknown>(): T;
}

/** A plain MQTT.js client that records everything on the given filters, for assertions. */
export class MessageRecorder {
  readonly messages: ReceivedMessage[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({
        topic,
        payload,
        retain: packet.retain,
        json: <T>() => JSON.parse(payload.toString('utf8')) as T,
      });
    });
  }

  static async start(url: string, filters: string[], options: IClientOptions = {}): Promise<MessageRecorder> {
    const client = connect(url, {
      clientId: `recorder-${Math.random().toString(16).slice(2, 10)}`,
      reconnectPeriod: 200,
      ...options,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])));
    return new MessageRecorder(client);
  }

  on(topic: string): ReceivedMessage[] {
    return this.messages.filter((message) => message.topic === topic);
  }

  async waitForCount(topic: string, count: number, timeoutMs = 10_000): Promise<ReceivedMessage[]> {
    await waitFor(() => this.on(topic).length >= count, { timeoutMs, message: `${count} message(s) on ${topic}` });
    return this.on(topic);
  }

  async stop(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Destroys the connection's socket, as when the process is killed: no DISCONNECT, so the broker sends the will. */
export function dropSocket(connection: MqttConnection): void {
  // Below the wrapper on purpose: MqttConnection has no way to lose its socket abruptly, and needs none.
  (connection as unknown as { client: MqttClient }).client.stream.destroy();
}
