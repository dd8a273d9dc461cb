import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { BusMessage } from '../../../src/bus';
import type { DeviceKeys } from '../../../src/crypto';
import { ClockSequence, DeviceClient, type SequenceSource } from '../../../src/device';
import { exited, spawnVigil } from '../../e2e/e2e-helpers';
import { metricSum, openTelemetry, provisionGateway, readKafka, until, type GatewayFixture } from './gateway-fixture';

const brokers = process.env.VIGIL_KAFKA_BROKERS as string;
const mqttUrl = process.env.VIGIL_MQTT_URL as string;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Hands out the device's sequence numbers and remembers them, in the order issued. */
class RecordingSequence implements SequenceSource {
  readonly issued: bigint[] = [];
  private readonly inner = new ClockSequence();
  next(): bigint {
    const s = this.inner.next();
    this.issued.push(s);
    return s;
  }
}

interface GatewayChild {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly url: string;
}

// Issue: the gateway process is killed with SIGKILL in the middle of a run of QoS1 publishes
// and restarted on the same config and data dir; every frame the sensors saw acknowledged
// is in Kafka (duplicates allowed, counted; losses not). While no gateway runs, Mosquitto
// keeps taking the devices' frames and queues them for the gateway's persistent session;
// what the dead gateway had in flight is redelivered to the new one, and the devices count a
// frame acknowledged only once a gateway's durable receipt covers it.
describe('gateway killed with SIGKILL mid-stream and restarted (real Mosquitto and Kafka, separate process)', () => {
  let fx: GatewayFixture | undefined;
  const children: ChildProcess[] = [];
  let devices: DeviceClient[] = [];

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close(2000).catch(() => undefined)));
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill('SIGTERM');
      const hard = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await exited(c);
      clearTimeout(hard);
    }
    if (fx) {
      // Ends the gateway's persistent MQTT session, so the broker keeps nothing of this test.
      const end = await mqtt
        .connectAsync(mqttUrl, { protocolVersion: 5, clientId: `${fx.config.mqtt.clientId}-${fx.config.gateway.id}`, clean: true, reconnectPeriod: 0, properties: { sessionExpiryInterval: 0 } })
        .catch(() => undefined);
      await end?.endAsync().catch(() => undefined);
      fx.cleanup();
    }
  });

  /** Starts `vigil gateway` as a child process and waits until it serves /readyz with 200 and its Kafka topics exist. */
  async function startGatewayChild(): Promise<GatewayChild> {
    const f = fx as GatewayFixture;
    // Info level: the child logs its HTTP address (port 0 in the config) when it has started.
    const p = spawnVigil(['gateway', '--config', join(f.dir, 'vigil.yaml')], { VIGIL_LOG_LEVEL: 'info' });
    children.push(p.child);
    const logged = (msg: string): Record<string, unknown> | undefined => {
      const lines = p.output().split('\n').slice(0, -1); // complete lines only
      const line = lines.find((l) => l.includes(`"msg":"${msg}"`));
      return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
    };
    /** Waits for `cond`, failing at once with the child's output if the child dies meanwhile. */
    const waitFor = (cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> =>
      until(
        () => {
          if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`gateway child exited (${p.child.exitCode ?? p.child.signalCode}) before ${what}:\n${p.output()}`);
          return cond();
        },
        ms,
        what,
      );
    await waitFor(() => logged('gateway started') !== undefined, 60_000, 'gateway child started');
    const url = String(logged('gateway started')?.http);
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 30_000, 'gateway child ready');
    await waitFor(() => logged('kafka topics ready') !== undefined, 30_000, 'gateway child has its kafka topics');
    return { child: p.child, output: p.output, url };
  }

  it('loses no acknowledged frame: every one is in Kafka, in order per device, duplicates only', async () => {
    const run = randomUUID().slice(0, 6);
    const ids = [0, 1, 2, 3].map((i) => `crash-${run}-${i}`);
    // The backlog the broker queued while no gateway ran reaches the new one at line speed,
    // far beyond the burst of 200 frames: the rate limit is measured in the frames' event
    // time, so frames made at the allowed pace pass. (Measured in arrival time, as it once
    // was, it refused most of the backlog after the broker had acknowledged it.) The
    // devices here send about 100-125 frames/s, under the 500/s allowed.
    fx = await provisionGateway({ kafkaBrokers: brokers, mqttUrl, devices: ids.map((id) => ({ id, rate: { perSecond: 500, burst: 200 } })), fsync: 'always' });
    const f = fx;

    const gw1 = await startGatewayChild();
    const sequences = ids.map(() => new RecordingSequence());
    devices = await Promise.all(
      ids.map((id, i) =>
        DeviceClient.connect({
          keys: f.devices.get(id) as DeviceKeys, ingestPublicKey: f.ingest.box.publicKey, theatre: f.theatre, unit: 'u1', mqttUrl,
          maxReadingsPerFrame: 2, lingerMs: 5, sequence: sequences[i] as RecordingSequence,
        }),
      ),
    );
    const acked = (): number => devices.reduce((n, d) => n + d.stats().framesAcked, 0);

    // A steady stream: every few ms each device takes a reading; frames of up to 2 readings.
    const sent = ids.map(() => [] as number[]);
    let publishing = true;
    const publisher = (async () => {
      for (let n = 0; publishing; n++) {
        for (const [i, d] of devices.entries()) {
          d.send({ kind: 'power', batteryPct: n % 101, voltageV: 24 });
          sent[i]?.push(n % 101);
        }
        await sleep(4);
      }
    })();

    let gw2: GatewayChild | undefined;
    try {
      // Gateway 1 writes a good part of the stream to Kafka, then dies mid-stream.
      await until(async () => (await metricSum(gw1.url, /^vigil_gateway_durable_frames_total\{[^}]*sink="kafka"/)) >= 400, 30_000, 'first frames in Kafka');
      gw1.child.kill('SIGKILL');
      expect(await exited(gw1.child)).toBeNull();
      const ackedAtKill = acked();

      // No gateway: the broker goes on taking the devices' frames (QoS 1) and queues them for
      // the gateway's persistent session; no receipt comes back, so the devices hold them as
      // unconfirmed (a device counts a frame acknowledged only when a gateway's durable
      // receipt covers it, so acked() cannot grow before gateway 2 has written some).
      await sleep(3000);
      const waiting = (): number => devices.reduce((n, d) => n + d.stats().framesUnconfirmed, 0);
      const waitingAtRestart = waiting();
      expect(waitingAtRestart).toBeGreaterThan(0);
      gw2 = await startGatewayChild();
      const url2 = gw2.url;
      // Gateway 2 writes what the broker queued and its receipts confirm those frames.
      await until(async () => (await metricSum(url2, /^vigil_gateway_durable_frames_total\{/)) > 0, 60_000, 'gateway 2 wrote frames');
      await until(() => acked() >= ackedAtKill + waitingAtRestart, 60_000, 'gateway 2 confirmed the frames waiting at its start');
      await sleep(2000); // and a stretch of live traffic through gateway 2
    } finally {
      publishing = false;
      await publisher;
    }
    // Every frame sealed is acknowledged by the broker (Mosquitto stayed up), so the
    // acknowledged set is every sequence number each device issued.
    let flushTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(devices.map((d) => d.flush())),
      new Promise((_, reject) => (flushTimer = setTimeout(() => reject(new Error('devices did not get every frame acknowledged within 30 s')), 30_000))),
    ]).finally(() => clearTimeout(flushTimer));
    for (const [i, d] of devices.entries()) {
      const s = d.stats();
      expect({ device: ids[i], sealed: s.framesSealed, acked: s.framesAcked, dropped: s.framesDropped }).toEqual({ device: ids[i], sealed: sequences[i]?.issued.length, acked: sequences[i]?.issued.length, dropped: 0 });
    }
    const ackedTotal = acked();
    // Should a frame be missing, what gateway 2 refused says why (a redelivered frame it had
    // already admitted is a VIGIL_E_REPLAY: expected, its first copy is in Kafka).
    const refused = (await (await fetch(`${(gw2 as GatewayChild).url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('vigil_gateway_frames_total{result="rejected"'));

    // Read until every acknowledged (device, seq) is in telemetry.power. Records are
    // opened once each, however often the reader calls back.
    const want = new Set(ids);
    const wanted = new Map(ids.map((id, i) => [id, new Set((sequences[i] as RecordingSequence).issued)]));
    let seen: BusMessage[] | undefined;
    let opened = 0;
    let found = new Map<string, Set<bigint>>();
    const missingCount = (msgs: BusMessage[]): number => {
      if (msgs !== seen) [seen, opened, found] = [msgs, 0, new Map(ids.map((id) => [id, new Set<bigint>()]))];
      for (const r of openTelemetry(msgs.slice(opened), f.streamKey, want)) found.get(r.deviceId)?.add(r.seq);
      opened = msgs.length;
      let missing = 0;
      for (const [id, seqs] of wanted) for (const s of seqs) if (!found.get(id)?.has(s)) missing++;
      return missing;
    };
    const msgs = await readKafka(brokers, ['telemetry.power'], (m) => missingCount(m) === 0, 60_000, (m) => `; ${missingCount(m)} of ${ackedTotal} acknowledged frames not in Kafka; gateway 2 refused: ${refused.join(', ') || 'none'}`);
    const recs = openTelemetry(msgs, f.streamKey, want);

    // Per device, the first occurrence of each sequence number, in the order read.
    const firsts = new Map(ids.map((id) => [id, [] as typeof recs]));
    const once = new Set<string>();
    let duplicates = 0;
    for (const r of recs) {
      const k = `${r.deviceId}/${r.seq}`;
      if (once.has(k)) {
        duplicates++;
      } else {
        once.add(k);
        firsts.get(r.deviceId)?.push(r);
      }
    }
    const lost = ids.flatMap((id, i) => (sequences[i] as RecordingSequence).issued.filter((s) => !once.has(`${id}/${s}`)).map((s) => `${id}/${s}`));
    // Duplicates are allowed (a frame durable in Kafka whose PUBACK the kill prevented is
    // redelivered and, if its replay entry was not yet committed, admitted again): counted
    // here, next to the losses, of which there must be none.
    expect({ acknowledged: ackedTotal, lost: lost.slice(0, 20), duplicates }).toEqual({ acknowledged: ackedTotal, lost: [], duplicates: expect.any(Number) as number });
    expect(duplicates).toBeGreaterThanOrEqual(0);
    for (const [i, id] of ids.entries()) {
      const mine = firsts.get(id) ?? [];
      const seqs = mine.map((r) => r.seq);
      // First occurrences in the order the device sent them, nothing foreign among them...
      expect({ id, ascending: seqs.every((s, j) => j === 0 || s > (seqs[j - 1] as bigint)) }).toEqual({ id, ascending: true });
      expect(seqs).toEqual((sequences[i] as RecordingSequence).issued);
      // ...holding the readings sent, in order.
      expect(mine.flatMap((r) => r.readings.map((x) => (x.kind === 'power' ? x.batteryPct : -1)))).toEqual(sent[i]);
    }
  }, 240_000);
});
