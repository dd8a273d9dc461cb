import {
  generateStreamKey,
  makeLabel,
  MemoryBus,
  RECORD_KEY_ID_HEADER,
  RecordCodec,
  startPipeline,
  StreamKeyring,
  type ClassificationLabel,
  type DerivedRecord,
  type DerivedValue,
  type PipelineDefinition,
  type PipelineWorker,
  type Reading,
  type ReadingKind,
  type RejectionRecord,
  type SourceKind,
  type TelemetryRecord,
  rejectionMessage,
  rejectionKey,
} from '../../src';
import { createFleet, type FleetConfigInput, type Fleet } from '../../src/sim';
import { derivedView, readAll, waitForPositions } from '../runtime/helpers';

export const T0 = Date.UTC(2026, 2, 1);
export const SECRET_FVEY = makeLabel('SECRET', ['AUS', 'CAN', 'GBR', 'NZL', 'USA']);
export const CONFIDENTIAL_NATO = makeLabel('CONFIDENTIAL', ['GBR', 'NATO', 'USA']);

type Without<R> = R extends Reading ? Omit<R, 'offsetMs' | 'kind'> : never;

/** Builds sealed-record input by hand: one frame per call, sequence numbers per device. */
export class Frames {
  readonly records: TelemetryRecord[] = [];
  private readonly seqs = new Map<string, bigint>();

  /** One frame of `deviceId` at `timeMs` holding `readings` (all of one kind). */
  add(deviceId: string, timeMs: number, readings: readonly Reading[], label: ClassificationLabel = SECRET_FVEY): TelemetryRecord {
    const seq = (this.seqs.get(deviceId) ?? 0n) + 1n;
    this.seqs.set(deviceId, seq);
    const kind = (readings[0] as Reading).kind;
    const r: TelemetryRecord = { type: 'telemetry', deviceId, seq, eventTimeMs: timeMs, ingestTimeMs: timeMs + 500, gatewayId: 'gw-test', kind, label, readings: [...readings] };
    this.records.push(r);
    return r;
  }
}

export const vitalsReading = (v: Partial<Without<Extract<Reading, { kind: 'vitals' }>>>, offsetMs = 0): Reading => ({ kind: 'vitals', offsetMs, heartRateBpm: null, spo2Pct: null, skinTempC: 33.5, posture: null, ...v });
export const powerReading = (batteryPct: number | null, offsetMs = 0): Reading => ({ kind: 'power', offsetMs, batteryPct, voltageV: 24 });
export const vehicleReading = (v: Partial<Without<Extract<Reading, { kind: 'vehicle' }>>>, offsetMs = 0): Reading => ({ kind: 'vehicle', offsetMs, engineTempC: null, rpm: null, fuelPct: null, speedMps: null, ...v });
export const positionReading = (lat: number, lon: number, offsetMs = 0): Reading => ({ kind: 'position', offsetMs, lat, lon, altM: null, speedMps: null, headingDeg: null, accuracyM: 3 });

/** The readings of a simulated fleet up to `untilMs` after its start, as one frame per reading (filtered by kind). */
export function simRecords(config: FleetConfigInput, untilMs: number, kinds: readonly ReadingKind[]): { fleet: Fleet; records: TelemetryRecord[] } {
  const fleet = createFleet(config, { startMs: T0 });
  const frames = new Frames();
  for (const r of fleet.readings(T0 + untilMs)) {
    if (!kinds.includes(r.reading.kind)) continue;
    frames.add(r.deviceId, r.atMs, [{ ...r.reading, offsetMs: 0 } as Reading]);
  }
  // Per device in time order is what a gateway delivers; across devices the fleet is already time-ordered per step batch.
  frames.records.sort((a, b) => a.eventTimeMs - b.eventTimeMs);
  return { fleet, records: frames.records };
}

/** A published result, opened with the analyst's key. */
export interface Result {
  /** The Kafka key: `${key}|${windowStartMs}|${windowEndMs}`. */
  readonly kafkaKey: string;
  readonly key: string;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly revision: number;
  readonly values: Readonly<Record<string, DerivedValue>>;
  readonly record: DerivedRecord;
}

export interface RunOptions {
  /** Source partitions. Default 1. */
  readonly partitions?: number;
  /** Partition of a device. Default: all in partition 0. */
  readonly partitionOf?: (deviceId: string) => number;
  /**
   * Crash and restart mid-run: after the first `checkpointAt` records the worker commits,
   * after `crashAt` (≥ checkpointAt) it has read more and stops as a crash would (no
   * commit); a new worker restores the commit and reads the rest. Default: no crash.
   */
  readonly crash?: { readonly checkpointAt: number; readonly crashAt: number };
}

/**
 * Runs `definition` end to end on a fresh MemoryBus: seals `records` into
 * `telemetry.<kind>`, starts a worker, waits until it has read everything (and its second
 * stage, if any, everything the first re-keyed), commits, and returns the latest result per
 * Kafka key (what a compacted reader ends with), sorted by window end then key. Checks that
 * no (key, revision) was ever published with two values.
 */
export async function runPipeline<K extends SourceKind>(definition: PipelineDefinition<K>, records: readonly (TelemetryRecord | RejectionRecord)[], options: RunOptions = {}): Promise<Result[]> {
  const partitions = options.partitions ?? 1;
  const partitionOf = options.partitionOf ?? ((): number => 0);
  const telemetryKey = generateStreamKey('telemetry.test.k1');
  const derivedKey = generateStreamKey(`derived.${definition.name}.k1`);
  const bus = new MemoryBus();
  const codec = new RecordCodec();
  const ends = new Map<string, number[]>(definition.sources.map((t) => [t, new Array<number>(partitions).fill(0)]));
  const produce = async (batch: readonly (TelemetryRecord | RejectionRecord)[]): Promise<void> => {
    const producer = bus.producer();
    try {
      for (const r of batch) {
        const rejection = 'reason' in r;
        const topic = rejection ? 'telemetry.rejected' : `telemetry.${r.kind}`;
        const end = ends.get(topic);
        if (end === undefined) throw new Error(`${definition.name} does not read ${topic}`);
        const key = rejection ? rejectionKey(r) : r.deviceId;
        const partition = partitionOf(key);
        end[partition] = (end[partition] as number) + 1;
        if (rejection) {
          const m = rejectionMessage(r, telemetryKey);
          await producer.send(topic, [{ key, partition, value: Buffer.from(m.value), headers: m.headers }]);
        } else {
          const sealed = codec.seal(r, telemetryKey);
          await producer.send(topic, [{ key, partition, value: Buffer.from(sealed.value), headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId } }]);
        }
      }
    } finally {
      await producer.close();
    }
  };
  /** Until the worker has read every source record produced, and its second stage every re-keyed result. */
  const settle = async (worker: PipelineWorker): Promise<void> => {
    for (const [topic, end] of ends) await waitForPositions([worker], topic, end);
    await worker.checkpoint();
    const repartition = worker.topics().repartition;
    if (repartition !== undefined) {
      await waitForPositions([worker], repartition, (bus.broker.topic(repartition)?.logs ?? []).map((l) => l.endOffset));
      await worker.checkpoint();
    }
  };
  const start = (): Promise<PipelineWorker> => startPipeline(definition, { bus, keyring: new StreamKeyring([telemetryKey]), derivedKey, checkpointIntervalMs: 0 });
  try {
    await bus.admin().ensureTopics(definition.sources.map((topic) => ({ topic, partitions })));
    let rest = records;
    if (options.crash !== undefined) {
      const { checkpointAt, crashAt } = options.crash;
      const first = await start();
      try {
        await produce(records.slice(0, checkpointAt));
        await settle(first);
        await produce(records.slice(checkpointAt, crashAt));
        for (const [topic, end] of ends) await waitForPositions([first], topic, end);
      } finally {
        await first.stop({ checkpoint: false });
      }
      rest = records.slice(crashAt);
    }
    const worker = await start();
    try {
      await produce(rest);
      await settle(worker);
      expect(worker.stats()).toMatchObject({ invalid: 0, refused: 0 });
    } finally {
      await worker.stop({ checkpoint: false });
    }
    const derived = `derived.${definition.name}`;
    const derivedEnds = (bus.broker.topic(derived)?.logs ?? []).map((l) => l.endOffset);
    const view = derivedView(await readAll(bus, derived, derivedEnds), new StreamKeyring([derivedKey]));
    expect(view.conflicts).toEqual([]);
    return [...view.latest]
      .map(([kafkaKey, record]): Result => ({ kafkaKey, key: record.key, windowStartMs: record.windowStartMs, windowEndMs: record.windowEndMs, revision: record.revision, values: record.values, record }))
      .sort((a, b) => a.windowEndMs - b.windowEndMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  } finally {
    await bus.close();
  }
}
