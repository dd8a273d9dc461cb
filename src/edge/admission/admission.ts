import { createHash } from 'node:crypto';
import { FrameOpener, makeLabel, RecordCodec, DEFAULT_MAX_CLOCK_SKEW_MS, rejectionMessage, type DecodedFrame, type Reading, type ReadingKind, type ClassificationLabel, type RejectedFrameHeader, type RejectionMessage } from '../../codec';
import { resolveCryptoBackend, SharedKeyCache, type CryptoBackend, type CryptoBackendOption, type IngestKeys, type StreamDataKey, type Verifier } from '../../crypto';
import { isVigilError, VigilError, type VigilErrorCode } from '../../errors';
import type { DeviceEntry, DeviceRegistry, PriorityClass, RegistryEvent } from '../../registry';
import type { ReplayStore } from '../../replay';
import { RateLimiter } from './rate-limiter';

export interface AdmissionOptions {
  readonly gatewayId: string;
  readonly registry: DeviceRegistry;
  readonly replay: ReplayStore;
  /** The ingest key devices seal frames to (its secret half opens them). */
  readonly ingestKeys: IngestKeys;
  /** The current stream data key of `telemetry.<kind>`: records are sealed under it. */
  readonly streamKey: (kind: ReadingKind) => StreamDataKey;
  /** Largest amount an event time may be ahead of gateway time, ms (default 300 000); also the bound behind it unless `maxFrameAgeMs` says otherwise. */
  readonly maxClockSkewMs?: number;
  /**
   * Oldest event time admitted, ms behind gateway time (default: `maxClockSkewMs`). A frame
   * held by a device or a broker while no gateway could take it (an outage, an upgrade) is
   * old when it arrives: set this to the longest such outage to be ridden out (the gateway's
   * own config defaults it to 24 h). The replay window, not this bound, stops replays.
   */
  readonly maxFrameAgeMs?: number;
  /** Gateway clock (default `Date.now`); tests inject one. */
  readonly clock?: () => number;
  readonly backend?: CryptoBackend | CryptoBackendOption;
}

/** One sealed telemetry record ready for the bus: `telemetry.<kind>`, keyed by device id. */
export interface AdmittedRecord {
  readonly topic: string;
  readonly key: string;
  readonly keyId: string;
  readonly value: Uint8Array;
}

export interface Admitted {
  readonly ok: true;
  readonly deviceId: string;
  /** Key epoch the frame was sealed at (its durable receipt is sealed under the same key). */
  readonly epoch: number;
  readonly seq: bigint;
  readonly eventTimeMs: number;
  readonly priority: PriorityClass;
  readonly readings: number;
  /** One record per reading kind in the frame. */
  readonly records: readonly AdmittedRecord[];
}

export interface Rejected {
  readonly ok: false;
  /** The reason: a VIGIL_E_ code from the closed list. */
  readonly code: VigilErrorCode;
  readonly message: string;
  /** The clear header when it could be decoded (never the plaintext). */
  readonly header: RejectedFrameHeader | null;
  /** SHA-256 of the frame bytes, hex: lets an operator match the frame without keeping it. */
  readonly sha256: string;
  readonly bytes: number;
}

export type AdmissionResult = Admitted | Rejected;


/**
 * The gateway's admission chain for one frame, in order of cost: decode the clear header →
 * registry (unknown, revoked) → key epoch → replay window → clock skew → open with the
 * cached shared key (MAC, signature when the device class needs one, reading validation) →
 * allowed kinds → rate limit → seal one record per reading kind under the stream key.
 * Rate limiting comes after authentication so forged frames cannot spend a device's budget.
 *
 * `admit` never throws for any input: a bad frame becomes a `Rejected` with its reason.
 * The replay window is only checked here; `commit` marks the frame seen once it is durable,
 * so a frame that could not be made durable (and was not acknowledged) can be resent.
 * Registry changes (revocation, rotation) apply to the next frame: lookups are per frame and
 * cached keys of a changed device are dropped at once.
 *
 * @example
 * const admission = new Admission({ gatewayId: 'gw-1', registry, replay, ingestKeys, streamKey: (k) => keys[k] });
 * const r = admission.admit(frameBytes);
 * if (r.ok) { await bus.send(r.records); admission.commit(r); } else { await bus.send(rejectionRecord(r, 'gw-1', Date.now(), telemetryKey)); }
 */
export class Admission {
  private readonly opener: FrameOpener;
  private readonly records: RecordCodec;
  private readonly backend: CryptoBackend;
  private readonly keys: SharedKeyCache;
  private readonly verifiers = new Map<string, { epoch: number; verifier: Verifier }>();
  private readonly labels = new WeakMap<DeviceEntry, ClassificationLabel>();
  private readonly rate = new RateLimiter();
  private readonly clock: () => number;
  private readonly maxSkew: number;
  private readonly maxAge: number;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: AdmissionOptions) {
    this.backend = resolveCryptoBackend(options.backend);
    this.opener = new FrameOpener({ backend: this.backend });
    this.records = new RecordCodec({ backend: this.backend });
    this.clock = options.clock ?? Date.now;
    this.maxSkew = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    if (!Number.isInteger(this.maxSkew) || this.maxSkew < 0) {
      throw new VigilError('VIGIL_E_CONFIG_INVALID', `maxClockSkewMs must be a non-negative integer, got ${String(this.maxSkew)}`, { details: { key: 'maxClockSkewMs' } });
    }
    this.maxAge = options.maxFrameAgeMs ?? this.maxSkew;
    if (!Number.isInteger(this.maxAge) || this.maxAge < 0) {
      throw new VigilError('VIGIL_E_CONFIG_INVALID', `maxFrameAgeMs must be a non-negative integer, got ${String(this.maxAge)}`, { details: { key: 'maxFrameAgeMs' } });
    }
    this.keys = new SharedKeyCache({
      secretKey: options.ingestKeys.box.secretKey,
      backend: this.backend,
      lookup: (deviceId, epoch) => options.registry.get(deviceId)?.keys.get(epoch)?.boxPublicKey,
    });
    this.unsubscribe = options.registry.subscribe((e) => this.onRegistry(e));
  }

  /**
   * Runs the chain on one frame. `topic`, when given, is the MQTT topic it arrived on: its
   * theatre, unit and device levels must match the registry, so a device cannot publish
   * into another device's (or unit's) topic.
   */
  admit(bytes: Uint8Array, topic?: string): AdmissionResult {
    let frame: DecodedFrame | null = null;
    // Once the body is decrypted, an unexpected error's text could quote it: it is then not passed on.
    let opened = false;
    try {
      frame = this.opener.decode(bytes);
      const device = this.options.registry.get(frame.deviceId);
      if (!device) return this.reject(bytes, frame, 'VIGIL_E_DEVICE_UNKNOWN', `device ${frame.deviceId} is not in the registry`);
      if (device.status === 'revoked') return this.reject(bytes, frame, 'VIGIL_E_DEVICE_REVOKED', `device ${frame.deviceId} is revoked`);
      if (topic !== undefined && topic !== `vigil/v1/${device.theatre}/${device.unit}/${device.deviceId}/telemetry`) {
        return this.reject(bytes, frame, 'VIGIL_E_TOPIC_MISMATCH', `frame of ${frame.deviceId} arrived on ${topic.slice(0, 200)}, expected vigil/v1/${device.theatre}/${device.unit}/${device.deviceId}/telemetry`);
      }
      if (frame.epoch !== device.epoch) {
        return this.reject(bytes, frame, 'VIGIL_E_KEY_EPOCH_STALE', `frame key epoch ${frame.epoch}, device ${frame.deviceId} is at epoch ${device.epoch}`);
      }
      const verdict = this.options.replay.check(frame.deviceId, frame.seq);
      if (verdict === 'replay') return this.reject(bytes, frame, 'VIGIL_E_REPLAY', `sequence ${frame.seq} of ${frame.deviceId} was admitted before`);
      if (verdict === 'too-old') return this.reject(bytes, frame, 'VIGIL_E_SEQ_TOO_OLD', `sequence ${frame.seq} of ${frame.deviceId} is older than the replay window`);
      const now = this.clock();
      if (frame.eventTimeMs - now > this.maxSkew) {
        return this.reject(bytes, frame, 'VIGIL_E_CLOCK_SKEW', `event time ${new Date(frame.eventTimeMs).toISOString()} is ${Math.round((frame.eventTimeMs - now) / 1000)} s ahead of gateway time; at most ${this.maxSkew / 1000} s allowed`);
      }
      if (now - frame.eventTimeMs > this.maxAge) {
        return this.reject(bytes, frame, 'VIGIL_E_CLOCK_SKEW', `event time ${new Date(frame.eventTimeMs).toISOString()} is ${Math.round((now - frame.eventTimeMs) / 1000)} s behind gateway time; at most ${this.maxAge / 1000} s allowed`);
      }
      const shared = this.keys.get(frame.deviceId, frame.epoch);
      if (!shared) return this.reject(bytes, frame, 'VIGIL_E_DEVICE_UNKNOWN', `no public key for ${frame.deviceId} at epoch ${frame.epoch}`);
      const verifier = frame.signature !== null || device.requireSignature ? this.verifier(device) : undefined;
      opened = true;
      const readings = this.opener.open(frame, shared, { requireSignature: device.requireSignature, ...(verifier ? { verifier } : {}) });
      for (const r of readings) {
        // The message names the rule, not the kind sent: that comes from the decrypted body.
        if (!device.allowedKinds.has(r.kind)) return this.reject(bytes, frame, 'VIGIL_E_KIND_NOT_ALLOWED', `device ${frame.deviceId} sent a reading of a kind outside those it may send (${[...device.allowedKinds].join(', ')})`);
      }
      // Measured in the device's own event time, not arrival time: a backlog the broker
      // delivers at once (after a gateway restart or a broken link) was sent at the
      // device's pace and must not be refused. A device cannot cheat by much: its event
      // time is held within maxClockSkewMs of gateway time just above, so faking it earns
      // at most rate × 2 × skew frames, once.
      if (!this.rate.take(frame.deviceId, device.rate.perSecond, device.rate.burst, frame.eventTimeMs)) {
        return this.reject(bytes, frame, 'VIGIL_E_RATE_LIMITED', `device ${frame.deviceId} exceeded ${device.rate.perSecond} frames/s (burst ${device.rate.burst})`);
      }
      return {
        ok: true,
        deviceId: frame.deviceId,
        epoch: frame.epoch,
        seq: frame.seq,
        eventTimeMs: frame.eventTimeMs,
        priority: device.priority,
        readings: readings.length,
        records: this.seal(frame, device, readings, now),
      };
    } catch (err) {
      if (isVigilError(err)) return this.reject(bytes, frame, err.code, err.message);
      // A bug, not the input's fault; still a rejection, never a crash of the gateway.
      return this.reject(bytes, frame, 'VIGIL_E_INTERNAL', opened ? 'internal error admitting a frame after opening its body' : `internal error admitting a frame: ${(err as Error).message}`);
    }
  }

  /** The shared `box` key of a device at an epoch (cached), for sealing its durable receipts; undefined when unknown. */
  sharedKey(deviceId: string, epoch: number): Uint8Array | undefined {
    return this.keys.get(deviceId, epoch) ?? undefined;
  }

  /** Marks an admitted frame seen in the replay window; call once it is durable. */
  commit(admitted: Pick<Admitted, 'deviceId' | 'seq'>): boolean {
    return this.options.replay.accept(admitted.deviceId, admitted.seq);
  }

  close(): void {
    this.unsubscribe();
    this.keys.clear();
    this.verifiers.clear();
  }

  private seal(frame: DecodedFrame, device: DeviceEntry, readings: Reading[], now: number): AdmittedRecord[] {
    let label = this.labels.get(device);
    if (!label) this.labels.set(device, (label = makeLabel(device.ceiling, device.releasability)));
    // Most frames carry one kind: avoid grouping work for them.
    const first = readings[0] as Reading;
    const kinds = readings.every((r) => r.kind === first.kind) ? [first.kind] : [...new Set(readings.map((r) => r.kind))];
    return kinds.map((kind) => {
      const ofKind = kinds.length === 1 ? readings : readings.filter((r) => r.kind === kind);
      const key = this.options.streamKey(kind);
      const sealed = this.records.seal(
        { type: 'telemetry', deviceId: frame.deviceId, seq: frame.seq, eventTimeMs: frame.eventTimeMs, ingestTimeMs: now, gatewayId: this.options.gatewayId, kind, label, readings: ofKind },
        key,
      );
      return { topic: `telemetry.${kind}`, key: frame.deviceId, keyId: sealed.keyId, value: sealed.value };
    });
  }

  private verifier(device: DeviceEntry): Verifier | undefined {
    const hit = this.verifiers.get(device.deviceId);
    if (hit && hit.epoch === device.epoch) return hit.verifier;
    const pub = device.keys.get(device.epoch)?.signPublicKey;
    if (!pub) return undefined;
    const verifier = this.backend.createVerifier(pub);
    this.verifiers.set(device.deviceId, { epoch: device.epoch, verifier });
    return verifier;
  }

  private onRegistry(e: RegistryEvent): void {
    if (e.type === 'error') return;
    const id = e.type === 'remove' ? e.before.deviceId : e.after.deviceId;
    this.keys.invalidate(id);
    this.verifiers.delete(id);
    if (e.type === 'remove') this.rate.forget(id);
  }

  private reject(bytes: Uint8Array, frame: DecodedFrame | null, code: VigilErrorCode, message: string): Rejected {
    return {
      ok: false,
      code,
      message,
      header: frame ? { deviceId: frame.deviceId, epoch: frame.epoch, seq: frame.seq.toString(), eventTimeMs: frame.eventTimeMs } : null,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.length,
    };
  }
}

/**
 * The record a rejection leaves in `telemetry.rejected` (codec `RejectionRecord`): reason,
 * clear header and the frame's hash, as JSON, keyed by device id (or the hash when the
 * header did not decode), authenticated under the telemetry stream key `key`. It never
 * carries plaintext: an unopened frame has none to give.
 */
export function rejectionRecord(r: Rejected, gatewayId: string, atMs: number, key: StreamDataKey): RejectionMessage {
  return rejectionMessage({ reason: r.code, message: r.message, header: r.header, sha256: r.sha256, bytes: r.bytes, gatewayId, atMs }, key);
}
