/**
 * Cost of durable receipts on the gateway (docs/wire-format.md §12), per frame, against the
 * cost of opening that frame in the same run (`FrameOpener.decodeAndOpen` of a one-reading
 * frame, the floor of admission): `ReceiptPublisher.durable` for every frame, plus the
 * receipts sealed at each interval's end (one per device), spread over the frames.
 *
 * Scenarios vary how many frames a device sends per receipt interval (1 = a receipt per
 * frame, the worst case; 20 = a 100 Hz device at the default 200 ms) and how many devices.
 * Run: `npm run bench receipts` (env VIGIL_BENCH_MS, time per scenario, default 1500).
 */
import { FrameOpener, FrameSealer, type Reading } from '../src/codec';
import { boxSharedKey, generateDeviceKeys, generateIngestKeys, getCryptoBackend } from '../src/crypto';
import { ReceiptPublisher } from '../src/edge/receipts';
import { opsPerSecond, writeReport, type BenchRow } from './lib/report';

const MS = Number(process.env.VIGIL_BENCH_MS ?? 1500);
const backend = getCryptoBackend('auto');
const ingest = generateIngestKeys('bench-ingest');

function openRate(): number {
  const dev = generateDeviceKeys('bench-dev', 1);
  const key = boxSharedKey(ingest.box.publicKey, dev.box.secretKey, backend);
  const shared = boxSharedKey(dev.box.publicKey, ingest.box.secretKey, backend);
  const sealer = new FrameSealer({ backend });
  const reading: Reading = { kind: 'power', offsetMs: 0, batteryPct: 80, voltageV: 24 };
  const frames = Array.from({ length: 256 }, (_, i) => Uint8Array.from(sealer.seal({ deviceId: 'bench-dev', epoch: 1, seq: BigInt(i), eventTimeMs: Date.UTC(2026, 0, 1), readings: [reading] }, key)));
  const opener = new FrameOpener({ backend });
  let i = 0;
  return opsPerSecond(() => {
    opener.decodeAndOpen(frames[i++ & 255] as Uint8Array, shared);
    return 1;
  }, MS);
}

function receiptRate(devices: number, framesPerInterval: number): { framesPerSecond: number; receipts: number } {
  const ids = Array.from({ length: devices }, (_, i) => `dev-${i}`);
  const topics = ids.map((id) => `vigil/v1/north/u1/${id}/telemetry`);
  const key = boxSharedKey(generateDeviceKeys('k', 1).box.publicKey, ingest.box.secretKey, backend);
  let published = 0;
  const pub = new ReceiptPublisher({ gatewayId: 'gw-bench', keyOf: () => key, publish: () => void published++, intervalMs: 60_000, backend });
  let seq = 0n;
  const framesPerSecond = opsPerSecond(() => {
    // One interval: every device makes framesPerInterval frames durable, then receipts go out.
    for (let f = 0; f < framesPerInterval; f++) {
      seq++;
      for (let d = 0; d < devices; d++) pub.durable(topics[d] as string, ids[d] as string, 1, seq);
    }
    pub.flush();
    return devices * framesPerInterval;
  }, MS);
  pub.close();
  return { framesPerSecond, receipts: published };
}

function main(): void {
  const open = openRate();
  const rows: BenchRow[] = [{ scenario: 'open one frame (admission floor)', framesPerSecond: Math.round(open), usPerFrame: +(1e6 / open).toFixed(2), receiptCostVsOpen: '—' }];
  for (const [devices, perInterval] of [[100, 1], [1000, 1], [1000, 20], [10000, 5]] as const) {
    const r = receiptRate(devices, perInterval);
    rows.push({
      scenario: `receipts: ${devices} devices, ${perInterval} frame(s)/device/receipt`,
      framesPerSecond: Math.round(r.framesPerSecond),
      usPerFrame: +(1e6 / r.framesPerSecond).toFixed(2),
      receiptCostVsOpen: `${((open / r.framesPerSecond) * 100).toFixed(1)} %`,
    });
  }
  writeReport('receipts', rows, { backend: backend.name });
}

main();
