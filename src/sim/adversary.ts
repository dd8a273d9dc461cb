import mqtt, { type MqttClient } from 'mqtt';
import { VigilError } from '../errors';

export interface AdversaryOptions {
  readonly mqttUrl: string;
  /** Frames to capture, e.g. `vigil/v1/<theatre>/+/+/telemetry`. */
  readonly topicFilter: string;
  /** Replays of captured frames per minute (default 6). */
  readonly replaysPerMinute?: number;
  /** Tampered copies of captured frames per minute (default 6). */
  readonly tamperedPerMinute?: number;
  /** MQTT protocol of the broker (default 5). */
  readonly protocolVersion?: 4 | 5;
  /** The broker's credentials, when it wants a user and password (an insider with a device's login). */
  readonly username?: string;
  readonly password?: string;
}

export interface AdversaryStats {
  captured: number;
  replayed: number;
  tampered: number;
}

/**
 * An attacker on the network, for demos and end-to-end tests of the gateway's defences: it
 * listens to frames on the broker and re-publishes some of them unchanged (replays, which
 * the gateway refuses with `VIGIL_E_REPLAY` or `VIGIL_E_SEQ_TOO_OLD`) and some with one
 * ciphertext byte flipped (tampering, refused with `VIGIL_E_FRAME_AUTH`). It never holds a
 * key: everything it sends comes from the wire.
 */
export class Adversary {
  private readonly captured: Array<{ topic: string; payload: Buffer }> = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private next = 0;
  /** What it published itself: it hears its own frames on the broker and must not re-capture them. */
  private readonly sent = new Set<string>();
  private readonly counts: AdversaryStats = { captured: 0, replayed: 0, tampered: 0 };

  private constructor(private readonly client: MqttClient) {}

  static async start(options: AdversaryOptions): Promise<Adversary> {
    const client = mqtt.connect(options.mqttUrl, { protocolVersion: options.protocolVersion ?? 5, clientId: `vigil-sim-adversary-${process.pid}-${Date.now()}`, reconnectPeriod: 1000, ...(options.username === undefined ? {} : { username: options.username, password: options.password ?? '' }) });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', (err) => reject(new VigilError('VIGIL_E_SERVICE_START', `adversary cannot reach ${options.mqttUrl}: ${err.message}`, { cause: err, retriable: true })));
    });
    const a = new Adversary(client);
    client.on('message', (topic, payload) => a.capture(topic, payload));
    await client.subscribeAsync(options.topicFilter, { qos: 0 });
    const every = (perMinute: number | undefined, fallback: number, act: () => void): void => {
      const n = perMinute ?? fallback;
      if (n > 0) a.timers.push(setInterval(act, 60_000 / n));
    };
    every(options.replaysPerMinute, 6, () => a.replay());
    every(options.tamperedPerMinute, 6, () => a.tamper());
    return a;
  }

  stats(): AdversaryStats {
    return { ...this.counts };
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.client.endAsync();
  }

  private capture(topic: string, payload: Buffer): void {
    if (this.sent.has(payload.toString('base64'))) return;
    this.counts.captured++;
    // Keep a small ring of recent frames: replaying an old one also exercises "too old".
    if (this.captured.length < 64) this.captured.push({ topic, payload: Buffer.from(payload) });
    else this.captured[this.counts.captured % 64] = { topic, payload: Buffer.from(payload) };
  }

  private pick(): { topic: string; payload: Buffer } | undefined {
    if (this.captured.length === 0) return undefined;
    return this.captured[this.next++ % this.captured.length];
  }

  private replay(): void {
    const f = this.pick();
    if (!f) return;
    this.publish(f.topic, f.payload);
    this.counts.replayed++;
  }

  private tamper(): void {
    const f = this.pick();
    if (!f || f.payload.length < 2) return;
    const copy = Buffer.from(f.payload);
    // The last byte is ciphertext (or signature): the frame still parses, but cannot authenticate.
    copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0x01;
    this.publish(f.topic, copy);
    this.counts.tampered++;
  }

  private publish(topic: string, payload: Buffer): void {
    if (this.sent.size > 4096) this.sent.clear();
    this.sent.add(payload.toString('base64'));
    this.client.publish(topic, payload, { qos: 1 });
  }
}
