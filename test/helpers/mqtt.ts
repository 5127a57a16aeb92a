import { connect, type IClientOptions, type MqttClient } from 'mqtt';
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
