import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClockSequence, FileSequence, telemetryTopic } from '../../src/device';
import { isVigilError } from '../../src/errors';

describe('sequence sources', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-seq-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('ClockSequence starts at ms x 1024 and counts up, so a later start is higher', () => {
    const a = new ClockSequence(1_000);
    expect([a.next(), a.next()]).toEqual([1_024_000n, 1_024_001n]);
    expect(new ClockSequence(1_001).next()).toBeGreaterThan(1_024_001n);
  });

  it('FileSequence reserves blocks ahead, so a crash never repeats a number', () => {
    const path = join(dir, 'dev.seq');
    const s1 = new FileSequence(path, 100n);
    const first = Array.from({ length: 150 }, () => s1.next());
    expect(first[0]).toBe(0n);
    expect(first[149]).toBe(149n);
    expect(readFileSync(path, 'utf8').trim()).toBe('200'); // reserved 100..199 before handing out 100
    const s2 = new FileSequence(path, 100n); // "crash" and restart
    expect(s2.next()).toBe(200n);
  });

  it('FileSequence refuses a state file that is not a number', () => {
    const path = join(dir, 'bad.seq');
    writeFileSync(path, 'twelve');
    let err: unknown;
    try {
      new FileSequence(path);
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'VIGIL_E_CONFIG_INVALID')).toBe(true);
  });

  it('builds the telemetry topic of docs/architecture.md §6 and refuses levels that would break it', () => {
    expect(telemetryTopic('north', 'recon-3', 'uav-0042')).toBe('vigil/v1/north/recon-3/uav-0042/telemetry');
    expect(() => telemetryTopic('north/x', 'u', 'd')).toThrow(/theatre/);
    expect(() => telemetryTopic('n', 'u', 'd+#')).toThrow(/device id/);
  });
});
