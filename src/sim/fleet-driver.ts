import { randomBytes } from 'node:crypto';
import type { CryptoBackendOption, DeviceKeys } from '../crypto';
import { DeviceClient, type DeviceClientOptions, type ReadingInput } from '../device';
import { VigilError } from '../errors';
import { ARCHETYPE_PROFILES } from './archetype-profiles';
import type { Fleet } from './fleet';
import { mapLimit } from './map-limit';

export interface FleetDriverOptions {
  readonly fleet: Fleet;
  /** Every fleet device's keys, by device id. */
  readonly keys: ReadonlyMap<string, DeviceKeys>;
  /** The ingest X25519 public key (32 bytes, or base64). */
  readonly ingestPublicKey: Uint8Array | string;
  /** MQTT broker, e.g. `mqtt://127.0.0.1:1883`. */
  readonly mqttUrl: string;
  /**
   * Simulated seconds per wall-clock second (default 1). Readings carry simulated time, so
   * above 1 they drift ahead of the wall clock by `(speed − 1) × elapsed`; a gateway admits
   * them only while that stays inside its clock-skew bound (default ±300 s).
   */
  readonly speed?: number;
  /** Wall-clock ms between ticks (default 100). */
  readonly tickMs?: number;
  /** Connections opened and closed at once (default 32). */
  readonly concurrency?: number;
  /** Passed to every `DeviceClient` (SDK defaults otherwise). */
  readonly maxReadingsPerFrame?: number;
  readonly lingerMs?: number;
  readonly maxQueuedFrames?: number;
  readonly backend?: CryptoBackendOption;
  /** Extra mqtt.js options for every device connection. */
  readonly mqtt?: DeviceClientOptions['mqtt'];
  /** MQTT options of one device, over `mqtt` (its TLS client certificate: `vigil simulate --tls-dir`). */
  readonly deviceMqtt?: (deviceId: string) => DeviceClientOptions['mqtt'];
  /** Wall clock (default `Date.now`); tests inject one. */
  readonly now?: () => number;
  /**
   * Devices whose clock is wrong by this many ms: their readings (and so their frames' event
   * times) are shifted, as a device with a drifted or unset clock would send them. A gateway
   * refuses them beyond its skew bound (`VIGIL_E_CLOCK_SKEW`).
   */
  readonly clockOffsets?: ReadonlyMap<string, number>;
  /** Called for every reading handed to a device, after it was queued: the simulator's own log of what it sent. */
  readonly onReading?: (deviceId: string, reading: ReadingInput, atMs: number) => void;
  /** Called for every frame a device knows durable (`DeviceClientOptions.onDurable`): what an audit checks Kafka against. */
  readonly onDurable?: (deviceId: string, seq: bigint, readings: number, resent: boolean) => void;
  /** Passed to every `DeviceClient`: keep frames until a durable receipt covers them (default true). */
  readonly receipts?: boolean;
}

/** The fleet's counters, summed over its devices. */
export interface FleetStats {
  readonly devices: number;
  readonly connected: number;
  /** Simulated time reached, ms since the Unix epoch. */
  readonly simTimeMs: number;
  /** Wall-clock ms since `start()`. */
  readonly elapsedMs: number;
  readonly readingsGenerated: number;
  readonly framesSealed: number;
  readonly framesAcked: number;
  readonly readingsAcked: number;
  readonly bytesAcked: number;
  /** Frames waiting for the broker (not yet handed to MQTT). */
  readonly framesQueued: number;
  readonly framesInflight: number;
  /** Frames sent and waiting for a gateway's durable receipt. */
  readonly framesUnconfirmed: number;
  /** Frames sent again because no receipt covered them in time. */
  readonly framesResent: number;
  /** Frames dropped because a device's queue overflowed while the broker was unreachable. */
  readonly framesDropped: number;
  readonly reconnects: number;
  /** Connection errors reported by the devices' MQTT clients (they reconnect by themselves). */
  readonly errors: number;
}

/**
 * Runs a fleet against an MQTT broker: one `DeviceClient` per simulated device, all
 * connected before the first tick (a bounded number at a time, so a thousand devices do not
 * open a thousand sockets at once), then ticks every `tickMs` of wall-clock time, advancing
 * the fleet to the simulated time `speed` allows and sending each reading through its
 * device's client, which batches, seals, publishes with QoS 1 and queues through outages.
 *
 * @example
 * const driver = await FleetDriver.connect({ fleet, keys, ingestPublicKey, mqttUrl: 'mqtt://127.0.0.1:1883' });
 * driver.start();
 * setInterval(() => console.error(driver.stats().framesAcked), 1000);
 * const summary = await driver.stop(); // flushes and closes every device
 */
export class FleetDriver {
  private readonly fleet: Fleet;
  private readonly speed: number;
  private readonly tickMs: number;
  private readonly concurrency: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private wallAnchor = 0;
  private simAnchor: number;
  private simNow: number;
  private started = false;
  private stopping: Promise<FleetStats> | undefined;
  private readingsGenerated = 0;
  private errors = 0;
  private readonly sink = (deviceId: string, reading: ReadingInput, atMs: number): void => {
    const t = this.clockOffsets === undefined ? atMs : atMs + (this.clockOffsets.get(deviceId) ?? 0);
    (this.clients.get(deviceId) as DeviceClient).send(reading, t);
    this.onReading?.(deviceId, reading, t);
  };
  private readonly clockOffsets: ReadonlyMap<string, number> | undefined;
  private readonly onReading: FleetDriverOptions['onReading'];

  private constructor(
    options: FleetDriverOptions,
    private readonly clients: ReadonlyMap<string, DeviceClient>,
  ) {
    this.onReading = options.onReading;
    this.clockOffsets = options.clockOffsets;
    this.fleet = options.fleet;
    this.speed = options.speed ?? 1;
    this.tickMs = options.tickMs ?? 100;
    this.concurrency = options.concurrency ?? 32;
    this.now = options.now ?? Date.now;
    this.simAnchor = this.fleet.timeMs;
    this.simNow = this.simAnchor;
    for (const c of clients.values()) c.on('error', () => this.errors++);
  }

  /**
   * Connects every device of the fleet. When any connection fails, those already open are
   * closed and the error is thrown.
   *
   * @throws VigilError `VIGIL_E_CONFIG_INVALID` (bad option, missing keys), `VIGIL_E_SERVICE_START` (broker unreachable).
   */
  static async connect(options: FleetDriverOptions): Promise<FleetDriver> {
    const speed = options.speed ?? 1;
    if (!Number.isFinite(speed) || speed <= 0 || speed > 10_000) invalid('speed', speed, 'a number in (0, 10000]');
    const tickMs = options.tickMs ?? 100;
    if (!Number.isInteger(tickMs) || tickMs < 1 || tickMs > 60_000) invalid('tickMs', tickMs, 'an integer in 1..60000');
    const concurrency = options.concurrency ?? 32;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 10_000) invalid('concurrency', concurrency, 'an integer in 1..10000');
    for (const d of options.fleet.devices) if (!options.keys.has(d.deviceId)) invalid('keys', d.deviceId, 'keys for every fleet device');

    const fleet = options.fleet;
    // Readings are stamped by the fleet; the client's own clock only seeds its ClockSequence.
    const clock = (): number => fleet.timeMs;
    // A per-run suffix: two runs (or tests) with the same device ids on one broker must not
    // take each other's sessions over. Sessions are clean, so nothing depends on the id.
    const run = randomBytes(3).toString('hex');
    const opened: DeviceClient[] = [];
    let connected: DeviceClient[];
    try {
      connected = await mapLimit(fleet.devices, concurrency, async (d) => {
        const client = await DeviceClient.connect({
          keys: options.keys.get(d.deviceId) as DeviceKeys,
          ingestPublicKey: options.ingestPublicKey,
          theatre: d.theatre,
          unit: d.unit,
          mqttUrl: options.mqttUrl,
          sign: ARCHETYPE_PROFILES[d.archetype].requireSignature,
          clock,
          ...(options.maxReadingsPerFrame !== undefined ? { maxReadingsPerFrame: options.maxReadingsPerFrame } : {}),
          ...(options.lingerMs !== undefined ? { lingerMs: options.lingerMs } : {}),
          ...(options.maxQueuedFrames !== undefined ? { maxQueuedFrames: options.maxQueuedFrames } : {}),
          ...(options.backend !== undefined ? { backend: options.backend } : {}),
          mqtt: { clientId: `vigil-sim-${d.deviceId}-${run}`, ...options.mqtt, ...options.deviceMqtt?.(d.deviceId) },
          ...(options.onDurable ? { onDurable: (seq: bigint, readings: number, resent: boolean) => options.onDurable?.(d.deviceId, seq, readings, resent) } : {}),
          ...(options.receipts !== undefined ? { receipts: options.receipts } : {}),
        });
        opened.push(client);
        return client;
      });
    } catch (err) {
      await mapLimit(opened, concurrency, (c) => c.close(1_000));
      throw err;
    }
    const clients = new Map<string, DeviceClient>();
    fleet.devices.forEach((d, i) => clients.set(d.deviceId, connected[i] as DeviceClient));
    return new FleetDriver(options, clients);
  }

  /** Starts ticking. The simulated clock resumes from where the fleet stands. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.wallAnchor = this.now();
    this.simAnchor = this.fleet.timeMs;
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  /** Simulated time reached so far. */
  get simTimeMs(): number {
    return this.simNow;
  }

  /** Advances the fleet to the simulated time of now; the timer calls it, tests may too. */
  tick(): void {
    if (this.stopping !== undefined) return;
    this.simNow = Math.floor(this.simAnchor + (this.now() - this.wallAnchor) * this.speed);
    this.readingsGenerated += this.fleet.advance(this.simNow, this.sink);
  }

  stats(): FleetStats {
    let connected = 0, framesSealed = 0, framesAcked = 0, readingsAcked = 0, bytesAcked = 0, framesQueued = 0, framesInflight = 0, framesUnconfirmed = 0, framesResent = 0, framesDropped = 0, reconnects = 0;
    for (const c of this.clients.values()) {
      const s = c.stats();
      if (s.connected) connected++;
      framesSealed += s.framesSealed;
      framesAcked += s.framesAcked;
      readingsAcked += s.readingsAcked;
      bytesAcked += s.bytesAcked;
      framesQueued += s.framesQueued;
      framesInflight += s.framesInflight;
      framesUnconfirmed += s.framesUnconfirmed;
      framesResent += s.framesResent;
      framesDropped += s.framesDropped;
      reconnects += s.reconnects;
    }
    return {
      devices: this.clients.size, connected, simTimeMs: this.simNow, elapsedMs: this.started ? this.now() - this.wallAnchor : 0,
      readingsGenerated: this.readingsGenerated, framesSealed, framesAcked, readingsAcked, bytesAcked, framesQueued, framesInflight, framesUnconfirmed, framesResent, framesDropped, reconnects, errors: this.errors,
    };
  }

  /**
   * Stops ticking, then closes every device: each seals what is pending and waits up to
   * `timeoutMs` for the broker's acknowledgements. Resolves with the final counters.
   * Calling it again returns the same promise.
   */
  stop(timeoutMs = 10_000): Promise<FleetStats> {
    this.stopping ??= (async () => {
      clearInterval(this.timer);
      await mapLimit([...this.clients.values()], this.concurrency, (c) => c.close(timeoutMs));
      return this.stats();
    })();
    return this.stopping;
  }
}

function invalid(key: string, value: unknown, allowed: string): never {
  throw new VigilError('VIGIL_E_CONFIG_INVALID', `fleet driver option ${key} must be ${allowed}, got ${JSON.stringify(value)}`, { details: { key } });
}

