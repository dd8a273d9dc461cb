import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus } from '../../src/bus';
import { main } from '../../src/cli/main';
import { out } from '../../src/cli/output';
import { runTap } from '../../src/cli/tap-command';
import { generateStreamKey, writeKeyFile } from '../../src/crypto';
import { tapToken, type TapRecordJson } from '../../src/tap';
import { position, produce, sealed, until, vitals } from './helpers';

const vitalsKey = generateStreamKey('derived.vitals-1');
const positionKey = generateStreamKey('telemetry.position-1');

let stdout: string;
let logs: string[];
const write = out.write;
let bus: MemoryBus;

beforeEach(async () => {
  stdout = '';
  logs = [];
  out.write = (t: string) => {
    stdout += t;
  };
  bus = new MemoryBus();
  await bus.admin().ensureTopics([{ topic: 'derived.vitals', partitions: 1 }, { topic: 'telemetry.position', partitions: 1 }]);
});
afterEach(async () => {
  out.write = write;
  await bus.close();
});

describe('vigil tap (runTap on a memory bus)', () => {
  it('prints live derived records as an aligned table with revision markers', async () => {
    const ac = new AbortController();
    const done = runTap({ bus, stream: 'derived.vitals', keys: [vitalsKey], signal: ac.signal, log: (l) => void logs.push(l), onReady: () => void produce(bus, 'derived.vitals', [vitals(0), vitals(0, { revision: 1 }), vitals(1, { key: 'sol-002' })].map((r) => sealed(r, vitalsKey))) });
    await until(() => stdout.split('\n').length > 4, 5000, 'three table rows');
    ac.abort();
    const stats = await done;
    expect(stats.records).toBe(3);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      'time (UTC)    key              win      values                                    rev label',
      '── 2026-01-01 ──',
      '12:00:00.000Z sol-001          10s      heartRateBpm=80 n=10 posture=standing         SECRET GBR,USA',
      '12:00:00.000Z sol-001          10s      heartRateBpm=80 n=10 posture=standing     r1  SECRET GBR,USA',
      '12:00:10.000Z sol-002          10s      heartRateBpm=81 n=10 posture=standing         SECRET GBR,USA',
    ]);
    // Every line fits 100 columns.
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100);
    // Columns line up: every row has its label at the same place.
    expect(new Set(lines.slice(2).map((l) => l.indexOf('SECRET'))).size).toBe(1);
    expect(logs[0]).toBe('tap: derived.vitals from now on, keys derived.vitals-1; Ctrl-C to stop');
    expect(logs[logs.length - 1]).toBe('tap: 3 records');
  });

  it('prints JSON lines, one per record, and stops at --limit; raw telemetry works with the telemetry key', async () => {
    await produce(bus, 'telemetry.position', [0, 1, 2].map((i) => sealed(position('veh-001', i), positionKey)));
    const stats = await runTap({ bus, stream: 'telemetry.position', keys: [positionKey], json: true, fromBeginning: true, limit: 2, log: (l) => void logs.push(l) });
    expect(stats.records).toBeGreaterThanOrEqual(2);
    const lines = stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as TapRecordJson);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ type: 'record', stream: 'telemetry.position', partition: 0, offset: '0', keyId: 'telemetry.position-1', record: { type: 'telemetry', deviceId: 'veh-001', seq: '1000', kind: 'position' } });
    expect(lines[1]?.record).toMatchObject({ seq: '1001', readings: [{ kind: 'position', lat: 51.501, lon: -0.14 }, { offsetMs: 500 }] });
  });

  it('shows one table row per telemetry reading, at the reading time', async () => {
    await produce(bus, 'telemetry.position', [sealed(position('veh-001', 3), positionKey)]);
    await runTap({ bus, stream: 'telemetry.position', keys: [positionKey], fromBeginning: true, limit: 1, log: (l) => void logs.push(l) });
    expect(stdout.trimEnd().split('\n').slice(1)).toEqual([
      '── 2026-01-01 ──',
      '12:00:03.000Z veh-001          position lat=51.503 lon=-0.14 speedMps=4.5             RESTRICTED GBR',
      '                                        headingDeg=90 accuracyM=3',
      '12:00:03.500Z veh-001          position lat=51.5035 lon=-0.1395 speedMps=4.5          RESTRICTED GBR',
      '                                        headingDeg=90 accuracyM=3',
    ]);
  });

  it('refuses a stream whose key the analyst lacks, and reports unreadable records on the log', async () => {
    await produce(bus, 'derived.vitals', [sealed(vitals(0), vitalsKey)]);
    await expect(runTap({ bus, stream: 'derived.vitals', keys: [positionKey], fromBeginning: true, log: (l) => void logs.push(l) })).rejects.toMatchObject({
      code: 'VIGIL_E_TAP_NO_KEY',
      message: 'stream derived.vitals is sealed under key derived.vitals-1; your key files hold: telemetry.position-1',
    });
    expect(stdout).toBe('');

    logs = [];
    const bad = Buffer.from(sealed(vitals(1), vitalsKey).value as Buffer);
    bad[bad.length - 1] ^= 1;
    await produce(bus, 'derived.vitals', [{ value: bad, headers: { 'vigil-key-id': 'derived.vitals-1' } }, sealed(vitals(2), vitalsKey)]);
    await runTap({ bus, stream: 'derived.vitals', keys: [vitalsKey], fromBeginning: true, limit: 2, log: (l) => void logs.push(l) });
    expect(logs).toContainEqual(expect.stringMatching(/^tap: skipped derived\.vitals\[0\]@1 \(key derived\.vitals-1\): VIGIL_E_RECORD_AUTH: /));
    expect(logs[logs.length - 1]).toBe('tap: 2 records, 1 unreadable (VIGIL_E_RECORD_AUTH 1)');
  });
});

describe('vigil tap (command line)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-tap-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('--token prints the WebSocket tap token of the stream for the key file', async () => {
    const file = join(dir, 'vitals.key.json');
    await writeKeyFile(file, { type: 'stream', key: vitalsKey });
    await main(['node', 'vigil', 'tap', 'derived.vitals', '--token', '--key', file]);
    expect(process.exitCode ?? 0).toBe(0);
    expect(stdout).toBe(tapToken(vitalsKey, 'derived.vitals') + '\n');
  });

  it('refuses a bad --limit before touching the bus', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await main(['node', 'vigil', 'tap', 'derived.vitals', '--key', 'x.json', '--limit', 'ten']);
      expect(process.exitCode).toBe(2);
      expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/--limit <n>.*must be a non-negative integer/);
    } finally {
      stderr.mockRestore();
      process.exitCode = undefined;
    }
  });
});
