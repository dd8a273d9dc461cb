import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus } from '../../src/bus';
import { auditDelivery } from '../../src/cli/audit-command';
import { out } from '../../src/cli/output';
import { generateStreamKey, writeKeyFile } from '../../src/crypto';
import { installCliCapture } from '../cli/cli-harness';
import { ackedLines, range, store } from './helpers';

const key = generateStreamKey('telemetry-1');

describe('vigil audit', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-audit-'));
    await writeKeyFile(join(dir, 'telemetry.key.json'), { type: 'stream', key });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('the table (auditDelivery on a memory bus)', () => {
    let bus: MemoryBus;
    let stdout = '';
    const write = out.write;
    beforeEach(async () => {
      stdout = '';
      out.write = (t: string) => void (stdout += t);
      bus = new MemoryBus();
      await bus.admin().ensureTopics([{ topic: 'telemetry.power', partitions: 2 }]);
    });
    afterEach(async () => {
      out.write = write;
      await bus.close();
    });

    it('prints one line per device and the totals, and says OK when nothing is lost', async () => {
      await store(bus, 'telemetry.power', 'ugv-1', range(1, 5), key);
      await store(bus, 'telemetry.power', 'uav-22', range(10, 12), key);
      writeFileSync(join(dir, 'ok.jsonl'), [...ackedLines('ugv-1', range(1, 5)), ...ackedLines('uav-22', range(10, 12))].join('\n') + '\n');
      const logs: string[] = [];
      const report = await auditDelivery({ bus, ackedFile: join(dir, 'ok.jsonl'), keys: [key], log: (l) => void logs.push(l) });
      expect(report.ok).toBe(true);
      expect(stdout.split('\n')).toEqual([
        'device             acknowledged  stored  lost  out of order  duplicates',
        'uav-22                        3       3     0             0           0',
        'ugv-1                         5       5     0             0           0',
        '-----------------  ------------  ------  ----  ------------  ----------',
        'total (2 devices)             8       8     0             0           0',
        '8 records read; OK: every acknowledged frame is stored, in order per device',
        '',
      ]);
      expect(logs[0]).toBe(`audit: 8 acknowledged frames of 2 devices in ${join(dir, 'ok.jsonl')}`);
    });

    it('reports a loss with its range, and JSON on request', async () => {
      await store(bus, 'telemetry.power', 'ugv-1', [1, 2, 5], key);
      writeFileSync(join(dir, 'lost.jsonl'), ackedLines('ugv-1', range(1, 5)).join('\n'));
      const report = await auditDelivery({ bus, ackedFile: join(dir, 'lost.jsonl'), keys: [key], json: true, log: () => undefined });
      expect(report.ok).toBe(false);
      const json = JSON.parse(stdout) as { ok: boolean; totals: { lost: number }; devices: Array<{ lostRanges: unknown }> };
      expect(json).toMatchObject({ ok: false, totals: { lost: 2 }, devices: [{ lostRanges: [{ first: '3', last: '4', count: 2 }] }] });
    });
  });

  describe('the command', () => {
    const vigil = installCliCapture();
    let closed: Server;
    let closedPort = 0;
    beforeAll(async () => {
      // A port nothing answers on: a listener that is closed again at once.
      closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
      closedPort = (closed.address() as { port: number }).port;
      await new Promise<void>((r) => closed.close(() => r()));
    });

    it('names file:line and what is wrong with a bad acked-log line (exit 2)', async () => {
      writeFileSync(join(dir, 'bad.jsonl'), `${ackedLines('ugv-1', [1]).join('')}\n{"deviceId":"ugv-1","seq":2}\n`);
      const r = await vigil('audit', '--acked', join(dir, 'bad.jsonl'), '--key', join(dir, 'telemetry.key.json'), '--kafka', `127.0.0.1:${closedPort}`);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`VIGIL_E_AUDIT_ACKED_LOG: ${join(dir, 'bad.jsonl')}:2: seq must be a decimal string, got 2`);
    });

    it('says which acked log or key file is missing (exit 2)', async () => {
      const noLog = await vigil('audit', '--acked', join(dir, 'absent.jsonl'), '--key', join(dir, 'telemetry.key.json'), '--kafka', `127.0.0.1:${closedPort}`);
      expect(noLog.code).toBe(2);
      expect(noLog.stderr).toContain(`VIGIL_E_AUDIT_ACKED_LOG: cannot read the acked log ${join(dir, 'absent.jsonl')}: ENOENT`);
      const noKey = await vigil('audit', '--acked', join(dir, 'ok.jsonl'), '--key', join(dir, 'absent.key.json'), '--kafka', `127.0.0.1:${closedPort}`);
      expect(noKey.code).toBe(2);
      expect(noKey.stderr).toMatch(/VIGIL_E_KEY_FILE_READ: .*absent\.key\.json/);
      const noOption = await vigil('audit', '--key', join(dir, 'telemetry.key.json'));
      expect(noOption.code).toBe(2);
      expect(noOption.stderr).toContain("VIGIL_E_CLI_USAGE: required option '--acked <file>' not specified");
    });

    it('says Kafka is unreachable, naming the brokers (exit 2)', async () => {
      writeFileSync(join(dir, 'one.jsonl'), ackedLines('ugv-1', [1]).join('\n'));
      const r = await vigil('audit', '--acked', join(dir, 'one.jsonl'), '--key', join(dir, 'telemetry.key.json'), '--kafka', `127.0.0.1:${closedPort}`);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`VIGIL_E_BUS_UNAVAILABLE: cannot reach Kafka at 127.0.0.1:${closedPort}`);
    });
  });
});
