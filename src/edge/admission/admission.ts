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
  /**
   * True when the frame authenticated (its MAC, and its signature when present, verified)
   * and a resend of the same bytes would earn the same refusal: an invalid body or reading,
   * a kind the device may not send, or a frame too old to admit (below the replay window, or
   * its event time older than `maxFrameAgeMs`). Its device should stop resending it: the
   * gateway's durable receipt says so (`refused`). Never true for a frame that did not
   * authenticate: a forged frame must not make a device forget its real frame.
   */
  readonly final: boolean;
}

export type AdmissionResult = Admitted | Rejected;

const TELEMETRY_TOPICS = new Map<string, string>();
/** `telemetry.<kind>`, one string per kind rather than one per record. */
function telemetryTopicOf(kind: ReadingKind): string {
  let t = TELEMETRY_TOPICS.get(kind);
  if (t === undefined) TELEMETRY_TOPICS.set(kind, (t = `telemetry.${kind}`));
  return t;
}

/** Errors `FrameOpener.open` raises only after the frame authenticated: the body itself is bad, and stays bad when resent. */
const FINAL_AFTER_OPEN: ReadonlySet<VigilErrorCode> = new Set<VigilErrorCode>(['VIGIL_E_READING_INVALID', 'VIGIL_E_FRAME_MALFORMED']);


/**
 * The gateway's admission chain for one frame, in order of cost: decode the clear header →
 * registry (unknown, revoked) → key epoch → replay window → clock skew → open with the
 * cached shared key (MAC, signature when the device class needs one, reading validation) →
 * allowed kinds → rate limit → seal one record per reading kind under the stream key.
 * Rate limiting comes after authentication so forged frames cannot spend a device's budget.
 *
 * `admit` never throws for any input: a bad frame becomes a `Rejected` with its reason,
 * `final` when it authenticated and would be refused again if resent (see `Rejected.final`):
 * frames too old to admit (stale epoch, below the replay window, older than `maxFrameAgeMs`)
 * are authenticated before that verdict, within a per-device budget of the device's rate.
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
  /** Per registry entry (a changed device is a new entry): its records' label and the one MQTT topic it may publish on, built once rather than per frame. */
  private readonly perDevice = new WeakMap<DeviceEntry, { readonly label: ClassificationLabel; readonly topic: string }>();
  private readonly rate = new RateLimiter();
  /** Bounds how many too-old frames per device are authenticated (to answer them with `final`), so replaying old captures cannot make the gateway verify signatures at will. */
  private readonly staleRate = new RateLimiter();
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
      const own = this.ofDevice(device);
      if (topic !== undefined && topic !== own.topic) {
        return this.reject(bytes, frame, 'VIGIL_E_TOPIC_MISMATCH', `frame of ${frame.deviceId} arrived on ${topic.slice(0, 200)}, expected ${own.topic}`);
      }
      // A frame too old to admit (sealed under a key epoch since rotated, below the replay
      // window, or older than maxFrameAgeMs) is refused whatever its bytes. It is still
      // authenticated (within a per-device budget), so that an authentic one is refused for
      // good and its device stops resending it: a device holding frames through a long
      // outage or a key rotation, or restarted with its queue on disk, would otherwise resend
      // them for ever. A frame from an epoch ahead of the registry may pass later: not final.
      let stale: { readonly code: VigilErrorCode; readonly message: string } | undefined;
      if (frame.epoch !== device.epoch) {
        const message = `frame key epoch ${frame.epoch}, device ${frame.deviceId} is at epoch ${device.epoch}`;
        if (frame.epoch > device.epoch || !device.keys.has(frame.epoch)) return this.reject(bytes, frame, 'VIGIL_E_KEY_EPOCH_STALE', message);
        stale = { code: 'VIGIL_E_KEY_EPOCH_STALE', message };
      }
      const verdict = this.options.replay.check(frame.deviceId, frame.seq);
      if (verdict === 'replay') return this.reject(bytes, frame, 'VIGIL_E_REPLAY', `sequence ${frame.seq} of ${frame.deviceId} was admitted before`);
      if (verdict === 'too-old') stale ??= { code: 'VIGIL_E_SEQ_TOO_OLD', message: `sequence ${frame.seq} of ${frame.deviceId} is older than the replay window` };
      const now = this.clock();
      if (frame.eventTimeMs - now > this.maxSkew) {
        return this.reject(bytes, frame, 'VIGIL_E_CLOCK_SKEW', `event time ${new Date(frame.eventTimeMs).toISOString()} is ${Math.round((frame.eventTimeMs - now) / 1000)} s ahead of gateway time; at most ${this.maxSkew / 1000} s allowed`);
      }
      if (now - frame.eventTimeMs > this.maxAge) {
        stale ??= { code: 'VIGIL_E_CLOCK_SKEW', message: `event time ${new Date(frame.eventTimeMs).toISOString()} is ${Math.round((now - frame.eventTimeMs) / 1000)} s behind gateway time; at most ${this.maxAge / 1000} s allowed` };
      }
      if (stale && !this.staleRate.take(frame.deviceId, device.rate.perSecond, device.rate.burst, now)) return this.reject(bytes, frame, stale.code, stale.message);
      const shared = this.keys.get(frame.deviceId, frame.epoch);
      if (!shared) return this.reject(bytes, frame, 'VIGIL_E_DEVICE_UNKNOWN', `no public key for ${frame.deviceId} at epoch ${frame.epoch}`);
      const verifier = frame.signature !== null || device.requireSignature ? (frame.epoch === device.epoch ? this.verifier(device) : this.staleVerifier(device, frame.epoch)) : undefined;
      opened = true;
      const readings = this.opener.open(frame, shared, { requireSignature: device.requireSignature, ...(verifier ? { verifier } : {}) });
      if (stale) return this.reject(bytes, frame, stale.code, stale.message, true);
      // Most frames carry one kind: it is looked up once.
      let single: ReadingKind | null = (readings[0] as Reading).kind;
      for (let i = 0; i < readings.length; i++) {
        const kind = (readings[i] as Reading).kind;
        if (kind === single && i > 0) continue;
        if (kind !== single) single = null;
        // The message names the rule, not the kind sent: that comes from the decrypted body.
        if (!device.allowedKinds.has(kind)) return this.reject(bytes, frame, 'VIGIL_E_KIND_NOT_ALLOWED', `device ${frame.deviceId} sent a reading of a kind outside those it may send (${[...device.allowedKinds].join(', ')})`, true);
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
        records: this.seal(frame, own.label, readings, single, now),
      };
    } catch (err) {
      // Errors raised once the body opened (its MAC and signature verified) are the body's own.
      if (isVigilError(err)) return this.reject(bytes, frame, err.code, err.message, opened && FINAL_AFTER_OPEN.has(err.code));
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

  private ofDevice(device: DeviceEntry): { readonly label: ClassificationLabel; readonly topic: string } {
    let own = this.perDevice.get(device);
    if (own === undefined) {
      own = { label: makeLabel(device.ceiling, device.releasability), topic: `vigil/v1/${device.theatre}/${device.unit}/${device.deviceId}/telemetry` };
      this.perDevice.set(device, own);
    }
    return own;
  }

  /** One record per reading kind; `single` is the frame's one kind when it has only one (the common case: no grouping). */
  private seal(frame: DecodedFrame, label: ClassificationLabel, readings: Reading[], single: ReadingKind | null, now: number): AdmittedRecord[] {
    if (single !== null) return [this.sealKind(frame, label, single, readings, now)];
    const kinds = [...new Set(readings.map((r) => r.kind))];
    return kinds.map((kind) => this.sealKind(frame, label, kind, readings.filter((r) => r.kind === kind), now));
  }

  private sealKind(frame: DecodedFrame, label: ClassificationLabel, kind: ReadingKind, readings: Reading[], now: number): AdmittedRecord {
    const sealed = this.records.seal(
      { type: 'telemetry', deviceId: frame.deviceId, seq: frame.seq, eventTimeMs: frame.eventTimeMs, ingestTimeMs: now, gatewayId: this.options.gatewayId, kind, label, readings },
      this.options.streamKey(kind),
    );
    return { topic: telemetryTopicOf(kind), key: frame.deviceId, keyId: sealed.keyId, value: sealed.value };
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

  /** A verifier for a past epoch's signing key: not cached, as stale frames are few (and rate-bounded). */
  private staleVerifier(device: DeviceEntry, epoch: number): Verifier | undefined {
    const pub = device.keys.get(epoch)?.signPublicKey;
    return pub ? this.backend.createVerifier(pub) : undefined;
  }

  private onRegistry(e: RegistryEvent): void {
    if (e.type === 'error') return;
    const id = e.type === 'remove' ? e.before.deviceId : e.after.deviceId;
    this.keys.invalidate(id);
    this.verifiers.delete(id);
    if (e.type === 'remove') {
      this.rate.forget(id);
      this.staleRate.forget(id);
    }
  }

  private reject(bytes: Uint8Array, frame: DecodedFrame | null, code: VigilErrorCode, message: string, final = false): Rejected {
    return {
      ok: false,
      code,
      message,
      final,
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
