import { execFileSync } from 'node:child_process';
import { MemoryBus, type BusMessage } from '../../src/bus';
import { createMetrics, registerRelayAuditMetrics } from '../../src/metrics';
import { getCryptoBackend, generateSigningKey } from '../../src/crypto';
import { isVigilError, type VigilError } from '../../src/errors';
import { MemorySpool } from '../../src/edge/spool';
import {
  canonicalJson,
  encodeSignedSummary,
  openSignedSummary,
  Relay,
  relayAuditTopic,
  relayPolicyDigest,
  ReleaseAudit,
  summaryDigest,
  verifyRelayAudit,
  verifySummaryChain,
  type RelayAuditSummary,
} from '../../src/relay';
import { until } from '../harness/until';
import { GBR_ONLY, policyDoc, RELEASABLE, relayFixture, sealedMessage, TOP, vitalsRecord, type RelayFixture } from './relay-fixture';
import { parseRelayPolicy } from '../../src/relay';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
const backend = getCryptoBackend();

function audit(f: RelayFixture, bus: MemoryBus, clock: { t: number }, extra: { signingKey?: ReturnType<typeof generateSigningKey> } = {}): ReleaseAudit {
  // A long interval: these tests write summaries with flush() and stop(), never by the timer.
  return new ReleaseAudit({ policy: f.policy, signingKey: extra.signingKey ?? f.signingKey, bus, topic: relayAuditTopic(f.policy), intervalMs: 3_600_000, now: () => clock.t });
}

function topicMessages(bus: MemoryBus, topic: string): BusMessage[] {
  const t = bus.broker.topic(topic);
  return t === undefined ? [] : t.logs.flatMap((log) => log.read(0, Number.MAX_SAFE_INTEGER));
}

async function failure(p: Promise<unknown>): Promise<VigilError> {
  const err = await p.then(
    () => new Error('it passed'),
    (e: unknown) => e,
  );
  if (!isVigilError(err)) throw err instanceof Error ? err : new Error(String(err));
  return err;
}

const verifier = (f: RelayFixture) => backend.createVerifier(f.signingKey.sign.publicKey);
const verify = (f: RelayFixture, bus: MemoryBus, firstSeq?: number) => verifyRelayAudit({ bus, topic: relayAuditTopic(f.policy), verifiers: [verifier(f)], groupPrefix: 'verify', ...(firstSeq === undefined ? {} : { firstSeq }) });

describe('signed release summaries (ReleaseAudit, verifyRelayAudit)', () => {
  it('a relay counts every decision per stream; the summaries verify and their totals match', async () => {
    const f = relayFixture({ redact: ['heartRateMeanBpm'] });
    const theatre = new MemoryBus();
    const command = new MemoryBus();
    await theatre.admin().ensureTopics([{ topic: 'derived.vitals', partitions: 2 }]);
    const clock = { t: T0 };
    const a = audit(f, theatre, clock);
    await a.start();
    const relay = new Relay({ policy: f.policy, keys: f.keys, source: theatre, destination: command, spool: new MemorySpool(), retryMinMs: 10, retryMaxMs: 50, audit: a });
    await relay.start();
    try {
      const records = Array.from({ length: 12 }, (_, i) => vitalsRecord(`sol-${i % 3}`, T0 + i * 10_000, [RELEASABLE, TOP, GBR_ONLY][i % 3] as typeof RELEASABLE));
      await theatre.producer().send('derived.vitals', records.slice(0, 6).map((r) => sealedMessage(f, r)));
      await until(() => relay.stats().relayed === 2, 20_000, 'first records relayed');
      clock.t += 60_000;
      await a.flush();
      await theatre.producer().send('derived.vitals', records.slice(6).map((r) => sealedMessage(f, r)));
      await until(() => relay.stats().relayed === 4, 20_000, 'all records relayed');
      clock.t += 30_000;
    } finally {
      await relay.stop();
      await a.stop();
    }
    const report = await verify(f, theatre);
    expect(report.summaries.map((s) => [s.seq, s.reason, s.periodStartMs - T0, s.periodEndMs - T0])).toEqual([
      [1, 'periodic', 0, 60_000],
      [2, 'shutdown', 60_000, 90_000],
    ]);
    expect(report.summaries[0]).toMatchObject({ relay: 'north-to-command', signer: 'relay.north-to-command', destination: 'command-fra-gbr', ceiling: 'SECRET//REL TO FRA, GBR', policyDigest: relayPolicyDigest(f.policy), prevDigest: null, afterUncleanStop: false });
    expect(report.summaries[1]?.prevDigest).toBe(summaryDigest(report.summaries[0] as RelayAuditSummary));
    expect(report.totals.streams).toEqual([
      {
        source: 'derived.vitals',
        destination: 'theatre.north.derived.vitals',
        released: 4,
        delivered: 4,
        withheld: { 'above-ceiling': 4, 'not-releasable': 4, unreadable: 0 },
        redactedFields: { heartRateMeanBpm: 4 },
        sampled: 0,
        shed: { flash: 0, immediate: 0, routine: 0 },
      },
    ]);
    expect(report.totals.policies).toEqual([{ digest: relayPolicyDigest(f.policy), fromSeq: 1, toSeq: 2 }]);
    await theatre.close();
    await command.close();
  });

  it('refuses a summary whose counts were altered, or that another key signed', async () => {
    const f = relayFixture();
    const bus = new MemoryBus();
    const clock = { t: T0 };
    const a = audit(f, bus, clock);
    await a.start();
    a.decided('derived.vitals', { verdict: 'withheld', reason: 'above-ceiling', detail: 'TOP_SECRET' });
    await a.stop();
    const [m] = topicMessages(bus, relayAuditTopic(f.policy));
    const value = (m as BusMessage).value as Buffer;
    expect(openSignedSummary(value, [verifier(f)], 'here').summary.streams[0]?.withheld['above-ceiling']).toBe(1);

    // Hide the withheld record: the signature no longer verifies.
    const doc = JSON.parse(value.toString()) as { summary: RelayAuditSummary; signature: string };
    const altered = { ...doc, summary: { ...doc.summary, streams: doc.summary.streams.map((s) => ({ ...s, withheld: { ...s.withheld, 'above-ceiling': 0 } })) } };
    const err = (() => {
      try {
        openSignedSummary(Buffer.from(canonicalJson(altered)), [verifier(f)], 'audit@0:0');
      } catch (e) {
        return e as VigilError;
      }
      throw new Error('an altered summary was accepted');
    })();
    expect(err.code).toBe('VIGIL_E_RELAY_AUDIT_SIGNATURE');
    expect(err.message).toBe('audit@0:0: seq 1: the Ed25519 signature (key relay.north-to-command) does not verify under the public key given: the summary was altered, or signed by another key');

    // A forger with a key of their own cannot pass either.
    const mallory = generateSigningKey('relay.north-to-command');
    const forged = encodeSignedSummary(altered.summary, backend.createSigner(mallory.sign.seed));
    expect(() => openSignedSummary(forged, [verifier(f)], 'x')).toThrow(/does not verify/);
    // … and is accepted only by whoever trusts the forger's key, which is why verify-audit takes the key from the operator.
    expect(openSignedSummary(forged, [verifier(f), backend.createVerifier(mallory.sign.publicKey)], 'x').summary.seq).toBe(1);
    for (const bad of [Buffer.from('not json'), Buffer.from('{"summary":{"format":"x"},"signature":""}'), null]) {
      expect(() => openSignedSummary(bad, [verifier(f)], 'y')).toThrow(expect.objectContaining({ code: 'VIGIL_E_RELAY_AUDIT_SIGNATURE' }) as Error);
    }
    await bus.close();
  });

  it('detects a deleted, repeated or replaced summary in the chain (VIGIL_E_RELAY_AUDIT_GAP)', async () => {
    const f = relayFixture();
    const bus = new MemoryBus();
    const clock = { t: T0 };
    const a = audit(f, bus, clock);
    await a.start();
    for (let i = 0; i < 3; i++) {
      clock.t += 60_000;
      await a.flush();
    }
    await a.stop();
    const chain = (await verify(f, bus)).summaries.map((summary, i) => ({ summary, where: `offset ${i}` }));
    expect(chain.map((c) => c.summary.seq)).toEqual([1, 2, 3, 4]);
    expect(verifySummaryChain(chain).summaries).toBe(4);

    const deleted = [chain[0], chain[1], chain[3]] as typeof chain;
    expect(() => verifySummaryChain(deleted)).toThrow(expect.objectContaining({ code: 'VIGIL_E_RELAY_AUDIT_GAP', message: 'offset 3: seq 4 follows seq 2 (offset 1): summaries 3..3 are missing' }) as Error);
    const repeated = [chain[0], chain[1], chain[1], chain[2]] as typeof chain;
    expect(() => verifySummaryChain(repeated)).toThrow(/seq 2 follows seq 2 \(offset 1\): repeated or out of order/);
    // A replacement with the right seq but not chained to its predecessor (validly signed, counts changed).
    const replaced = [chain[0], { summary: { ...(chain[1] as (typeof chain)[0]).summary, prevDigest: 'sha256:00' }, where: 'offset 1' }, chain[2]] as typeof chain;
    expect(() => verifySummaryChain(replaced)).toThrow(/offset 1: seq 2 does not name the digest of seq 1/);
    const head = chain.slice(1);
    expect(() => verifySummaryChain(head)).toThrow(/the first summary is seq 2, expected 1: summaries 1..1 are missing .*--first-seq 2/);
    expect(verifySummaryChain(head, 2).summaries).toBe(3);

    // The same, end to end: a summary deleted from the topic.
    const t = bus.broker.topic(relayAuditTopic(f.policy));
    const kept = topicMessages(bus, relayAuditTopic(f.policy)).filter((_, i) => i !== 1);
    await bus.admin().deleteTopics([relayAuditTopic(f.policy)]);
    expect(t).toBeDefined();
    await bus.admin().ensureTopics([{ topic: relayAuditTopic(f.policy), partitions: 1 }]);
    await bus.producer().send(relayAuditTopic(f.policy), kept.map((m) => ({ key: m.key, value: m.value })));
    const gap = await failure(verify(f, bus));
    expect(gap.code).toBe('VIGIL_E_RELAY_AUDIT_GAP');
    expect(gap.message).toMatch(/seq 3 follows seq 1 .*summaries 2..2 are missing/);
    await bus.close();
  });

  it('continues the chain across restarts; a run after a crash says so', async () => {
    const f = relayFixture();
    const bus = new MemoryBus();
    const clock = { t: T0 };
    const first = audit(f, bus, clock);
    await first.start();
    clock.t += 1000;
    await first.stop();
    const second = audit(f, bus, clock);
    await second.start();
    clock.t += 1000;
    await second.flush();
    // Crash: no stop(), no shutdown summary.
    const third = audit(f, bus, clock);
    await third.start();
    clock.t += 1000;
    await third.stop();
    const report = await verify(f, bus);
    expect(report.summaries.map((s) => [s.seq, s.reason, s.afterUncleanStop])).toEqual([
      [1, 'shutdown', false],
      [2, 'periodic', false],
      [3, 'shutdown', true],
    ]);
    expect(report.totals.uncleanStops).toBe(1);
    await second.stop();
    await bus.close();
  });

  it('a summary whose write failed is written again unchanged before the next one: no gap, no fork', async () => {
    const f = relayFixture();
    const bus = new MemoryBus();
    const clock = { t: T0 };
    let fail = false;
    const flaky = Object.assign(Object.create(bus) as MemoryBus, {
      producer: () => {
        const p = bus.producer();
        return { ...p, send: (topic: string, msgs: Parameters<typeof p.send>[1]) => (fail ? Promise.reject(new Error('link down')) : p.send(topic, msgs)), flush: () => p.flush(), close: () => p.close() };
      },
    });
    const a = new ReleaseAudit({ policy: parseRelayPolicy(policyDoc()), signingKey: f.signingKey, bus: flaky, topic: relayAuditTopic(f.policy), intervalMs: 3_600_000, now: () => clock.t });
    await a.start();
    clock.t += 60_000;
    fail = true;
    a.decided('derived.vitals', { verdict: 'sampled' });
    await a.flush();
    expect(topicMessages(bus, relayAuditTopic(f.policy))).toHaveLength(0);
    fail = false;
    clock.t += 60_000;
    a.decided('derived.vitals', { verdict: 'sampled' });
    await a.stop();
    const report = await verify(f, bus);
    expect(report.summaries.map((s) => [s.seq, s.periodEndMs - T0, s.streams[0]?.sampled])).toEqual([
      [1, 60_000, 1],
      [2, 120_000, 1],
    ]);
    expect(a.stats()).toEqual({ written: 2, failed: 1, lastWrittenAtMs: T0 + 120_000 });
    // The same on /metrics, in a form promtool accepts.
    const metrics = createMetrics({ processMetrics: false });
    try {
      registerRelayAuditMetrics(metrics, () => a.stats());
      const text = await metrics.registry.metrics();
      expect(text).toContain('vigil_relay_audit_summaries_total 2');
      expect(text).toContain('vigil_relay_audit_write_failures_total 1');
      expect(text).toContain(`vigil_relay_audit_last_written_timestamp_seconds ${(T0 + 120_000) / 1000}`);
      expect(execFileSync('promtool', ['check', 'metrics'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] }).toString()).toBe('');
    } finally {
      metrics.close();
    }
    await bus.close();
  });
});
