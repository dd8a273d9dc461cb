/**
 * Frames per second of the wire format on each crypto backend:
 * - seal: device side, validate + msgpack-encode readings + header + SHA-512 + box (random nonce)
 * - open: gateway side, decode header + shared key from the (device, epoch) cache + SHA-512 +
 *   box.open + msgpack-decode + validate readings
 * - open+verify: the same for a signed frame, plus Ed25519 verification
 * - raw seal / raw open: baseline loop of msgpack encode + secretbox (or secretbox.open +
 *   msgpack decode) with no header, no validation, no hashing: what the format costs on top of
 *   bare crypto+codec. A later benchmark compares gateway admission against these rows.
 *
 * Run: `npx tsx bench/crypto-codec.bench.ts` (or `npm run bench crypto-codec`).
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { encodeReadings, FrameOpener, FrameSealer, type FrameInput, type Reading } from '../src/codec';
import { boxSharedKey, generateDeviceKeys, generateIngestKeys, getCryptoBackend, isSodiumAvailable, SharedKeyCache, type CryptoBackendName } from '../src/crypto';
import { opsPerSecond, writeReport, type BenchRow } from './lib/report';

const MS = Number(process.env.VIGIL_BENCH_MS ?? 1000);

const MIX: readonly Reading[] = [
  { kind: 'position', offsetMs: 0, lat: 51.501364, lon: -0.14189, altM: 35.2, speedMps: 12.4, headingDeg: 271.5, accuracyM: 3.2 },
  { kind: 'vitals', offsetMs: 100, heartRateBpm: 74, spo2Pct: 97.5, skinTempC: 33.9, posture: 'prone' },
  { kind: 'vehicle', offsetMs: 200, engineTempC: 89.5, rpm: 2150, fuelPct: 61.25, speedMps: 12.4 },
  { kind: 'power', offsetMs: 300, batteryPct: 80.5, voltageV: 24.1 },
];
function readings(n: number): Reading[] {
  return Array.from({ length: n }, (_, i) => ({ ...(n === 1 ? MIX[0] : MIX[i % MIX.length]), offsetMs: i * 100 }) as Reading);
}

const rows: BenchRow[] = [];
function row(backend: string, n: number, op: string, fps: number, bytes: number): void {
  rows.push({ backend, readings: n, op, 'frames/s': Math.round(fps), 'µs/frame': Number((1e6 / fps).toFixed(2)), 'frame bytes': bytes });
  process.stderr.write(`${backend} ${n} ${op}: ${Math.round(fps)} frames/s\n`);
}

const backends: CryptoBackendName[] = isSodiumAvailable() ? ['tweetnacl', 'sodium'] : ['tweetnacl'];
for (const name of backends) {
  const backend = getCryptoBackend(name);
  const device = generateDeviceKeys('uav-0042', 1, backend);
  const ingest = generateIngestKeys('ingest-1', backend);
  const deviceKey = boxSharedKey(ingest.box.publicKey, device.box.secretKey, backend);
  const cache = new SharedKeyCache({ secretKey: ingest.box.secretKey, lookup: (id) => (id === 'uav-0042' ? device.box.publicKey : undefined), backend });
  const signer = backend.createSigner(device.sign.seed);
  const verifier = backend.createVerifier(device.sign.publicKey);
  const sealer = new FrameSealer({ backend });
  const opener = new FrameOpener({ backend });

  for (const n of [1, 16]) {
    const rs = readings(n);
    let seq = 0n;
    const input = (): FrameInput => ({ deviceId: 'uav-0042', epoch: 1, seq: ++seq, eventTimeMs: 1_767_225_600_000, readings: rs });
    const frame = sealer.seal(input(), deviceKey);
    const signed = sealer.seal(input(), deviceKey, { signer });

    row(name, n, 'seal', opsPerSecond(() => (sealer.seal(input(), deviceKey), 1), MS), frame.length);
    let sink = 0;
    const open = (bytes: Uint8Array, opts = {}): number => {
      const f = opener.decode(bytes);
      sink += opener.open(f, cache.get(f.deviceId, f.epoch) as Uint8Array, opts).length;
      return 1;
    };
    row(name, n, 'open', opsPerSecond(() => open(frame), MS), frame.length);
    row(name, n, 'open+verify (signed)', opsPerSecond(() => open(signed, { verifier }), MS), signed.length);

    // Baseline: bare msgpack + secretbox, no header, hashing or validation.
    const enc = new Encoder();
    const dec = new Decoder();
    const wire = encodeReadings(rs);
    const nonce = new Uint8Array(24);
    const body = enc.encode(wire);
    const boxed = new Uint8Array(body.length + 16);
    backend.secretboxSealInto(boxed, body, nonce, deviceKey);
    const plain = new Uint8Array(body.length);
    row(name, n, 'raw seal (msgpack+secretbox)', opsPerSecond(() => {
      const b = enc.encodeSharedRef(wire);
      backend.randomFill(nonce);
      backend.secretboxSealInto(new Uint8Array(b.length + 16), b, nonce, deviceKey);
      return 1;
    }, MS), boxed.length);
    nonce.fill(0);
    row(name, n, 'raw open (secretbox+msgpack)', opsPerSecond(() => {
      if (!backend.secretboxOpenInto(plain, boxed, nonce, deviceKey)) throw new Error('raw open failed');
      sink += (dec.decode(plain) as unknown[]).length;
      return 1;
    }, MS), boxed.length);
    if (sink === 0) throw new Error('nothing opened');
  }
}

writeReport('crypto-codec', rows, { note: 'frames/s on one core; seal = device side, open = gateway side with cached shared key', durationMsPerRow: MS });
