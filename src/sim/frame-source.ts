import { FrameSealer, MAX_READING_OFFSET_MS, MAX_READINGS_PER_FRAME, type Reading } from '../codec';
import { boxSharedKey, getCryptoBackend, type CryptoBackendOption, type DeviceKeys, type Signer } from '../crypto';
import { ClockSequence, type ReadingInput } from '../device';
import { VigilError } from '../errors';
import { ARCHETYPE_PROFILES } from './archetype-profiles';
import type { Fleet } from './fleet';

export interface FrameSourceOptions {
  /** Every fleet device's keys, by device id (`loadProvisionedFleet`, or `ephemeralFleetKeys`). */
  readonly keys: ReadonlyMap<string, DeviceKeys>;
  /** The ingest X25519 public key (32 bytes, or base64). */
  readonly ingestPublicKey: Uint8Array | string;
  /** Most readings per frame (default 16, at most 256). */
  readonly maxReadingsPerFrame?: number;
  /** A device's readings within this much simulated time share frames, like the SDK's linger (default 1 000 ms, at most 300 000). */
  readonly batchMs?: number;
  /** Sign the frames of archetypes whose registry entry requires it (default true). */
  readonly sign?: boolean;
  readonly backend?: CryptoBackendOption;
}

/** One sealed frame, ready to publish with QoS 1. */
export interface SimFrame {
  readonly topic: string;
  readonly payload: Buffer;
  readonly deviceId: string;
  readonly seq: bigint;
  readonly eventTimeMs: number;
  readonly readings: number;
}

interface DeviceState {
  readonly deviceId: string;
  readonly topic: string;
  readonly epoch: number;
  readonly sharedKey: Uint8Array;
  readonly signer: Signer | undefined;
  readonly sequence: ClockSequence;
  pending: Reading[];
  pendingStart: number;
}

/**
 * Headless mode: the fleet's readings sealed into frames directly, without MQTT, for
 * benchmarks that load a gateway (or its admission chain) with many sensors at once, and
 * for tests. Frames are exactly what `DeviceClient` would publish: same sealer, same
 * batching rule, sequence numbers from `ClockSequence` at the fleet's start.
 *
 * @example
 * const { keys, ingest } = ephemeralFleetKeys(fleet);
 * const source = new FrameSource(fleet, { keys, ingestPublicKey: ingest.box.publicKey });
 * for (const f of source.frames(fleet.startMs + 60_000)) gateway.handle(f.topic, f.payload);
 */
export class FrameSource {
  private readonly sealer: FrameSealer;
  private readonly states: ReadonlyMap<string, DeviceState>;
  private readonly order: readonly DeviceState[];
  private readonly maxReadings: number;
  private readonly batchMs: number;

  constructor(
    private readonly fleet: Fleet,
    options: FrameSourceOptions,
  ) {
    const backend = getCryptoBackend(options.backend ?? 'auto');
    this.sealer = new FrameSealer({ backend });
    this.maxReadings = intOption('maxReadingsPerFrame', options.maxReadingsPerFrame ?? 16, 1, MAX_READINGS_PER_FRAME);
    // Half the offset limit: leftovers of an abandoned iteration share a frame with the next batch.
    this.batchMs = intOption('batchMs', options.batchMs ?? 1_000, 1, MAX_READING_OFFSET_MS / 2);
    const ingest = typeof options.ingestPublicKey === 'string' ? new Uint8Array(Buffer.from(options.ingestPublicKey, 'base64')) : options.ingestPublicKey;
    const states = new Map<string, DeviceState>();
    for (const d of fleet.devices) {
      const k = options.keys.get(d.deviceId);
      if (k === undefined) throw new VigilError('VIGIL_E_CONFIG_INVALID', `no keys for simulated device ${d.deviceId}`, { details: { key: 'keys' } });
      const sign = options.sign !== false && ARCHETYPE_PROFILES[d.archetype].requireSignature;
      states.set(d.deviceId, {
        deviceId: d.deviceId, topic: d.topic, epoch: k.epoch, sharedKey: boxSharedKey(ingest, k.box.secretKey, backend),
        signer: sign ? backend.createSigner(k.sign.seed) : undefined, sequence: new ClockSequence(fleet.startMs), pending: [], pendingStart: 0,
      });
    }
    this.states = states;
    this.order = [...states.values()];
  }

  /**
   * Advances the fleet to `untilMs` in steps of `batchMs` and yields the frames sealed at
   * each step, device by device. Lazy: nothing is generated ahead of the consumer.
   */
  *frames(untilMs: number): Generator<SimFrame, void, undefined> {
    const sink = (deviceId: string, reading: ReadingInput, atMs: number): void => {
      const s = this.states.get(deviceId) as DeviceState;
      if (s.pending.length === 0) s.pendingStart = atMs;
      s.pending.push({ ...reading, offsetMs: atMs - s.pendingStart } as Reading);
    };
    let t = this.fleet.timeMs;
    while (t < untilMs) {
      t = Math.min(t + this.batchMs, untilMs);
      this.fleet.advance(t, sink);
      for (const s of this.order) {
        // Chunks are taken off `pending` one at a time, so a consumer that stops iterating
        // mid-device loses nothing: the rest is sealed on the next call.
        while (s.pending.length > 0) {
          const base = s.pendingStart;
          const readings = s.pending.splice(0, this.maxReadings);
          // Each frame's offsets count from its own first reading.
          const first = (readings[0] as Reading).offsetMs;
          const eventTimeMs = base + first;
          const own = first === 0 ? readings : readings.map((r) => ({ ...r, offsetMs: r.offsetMs - first }));
          const seq = s.sequence.next();
          const bytes = this.sealer.seal({ deviceId: s.deviceId, epoch: s.epoch, seq, eventTimeMs, readings: own }, s.sharedKey, s.signer ? { signer: s.signer } : {});
          yield { topic: s.topic, payload: Buffer.from(bytes), deviceId: s.deviceId, seq, eventTimeMs, readings: own.length };
        }
      }
    }
  }
}

function intOption(key: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new VigilError('VIGIL_E_CONFIG_INVALID', `frame source option ${key} must be an integer in ${min}..${max}, got ${String(value)}`, { details: { key } });
  }
  return value;
}
