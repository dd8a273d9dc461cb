import { RECORD_KEY_ID_HEADER } from '../../src/codec';
import type { BusMessage } from '../../src/bus';
import { RELAY_ID_HEADER, StreamReleaser, type ReleaseOutcome } from '../../src/relay';
import { ReleaseThread, type ReleaseLease } from '../../src/relay/release-thread';
import { packReleaseRequest, packReleaseResult, unpackReleaseRequest, unpackReleaseResult } from '../../src/relay/release-wire';
import { busMessage, RELEASABLE, relayFixture, sealedMessage, vitalsRecord, vitalsStreamRecord, type RelayFixture } from './relay-fixture';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);

/** A mix of every outcome: releasable, above the ceiling, not releasable, alerts, a tombstone, no key id, an unknown key, garbage. */
function mixedMessages(f: RelayFixture, n: number): BusMessage[] {
  const out: BusMessage[] = [];
  for (let i = 0; i < n; i++) out.push(busMessage(sealedMessage(f, vitalsStreamRecord(i, 7)), i));
  const first = out[0] as BusMessage;
  out.push({ ...first, value: null });
  out.push({ ...first, headers: {} });
  out.push({ ...first, headers: { [RECORD_KEY_ID_HEADER]: Buffer.from('derived.vitals-9') } });
  out.push({ ...first, value: Buffer.from('not a sealed record') });
  out.push({ ...first, headers: { [RECORD_KEY_ID_HEADER]: Buffer.from('ключ-é') } });
  return out;
}

function spec(f: RelayFixture): Parameters<typeof ReleaseThread.open>[0] {
  const keys = f.keys.get('derived.vitals');
  if (keys === undefined) throw new Error('fixture');
  return { streams: [{ policy: f.policy.streams[0] as never, sourceKeys: keys.source.ids().map((id) => keys.source.get(id)), relayKey: keys.relay }], ceiling: f.policy.destination.ceiling, recordCompression: 'none' };
}

/** The outcome with its sealed value replaced by the record it opens to under the relay key (a fresh nonce differs each time). */
function comparable(f: RelayFixture, o: ReleaseOutcome): unknown {
  if (o.verdict !== 'release') return o;
  const { value, ...entry } = o.entry;
  return { ...o, entry: { ...entry, key: Buffer.from(entry.key ?? []).toString('hex') }, record: f.codec.open(value, f.relayKey) };
}

describe('release wire: one buffer each way between the relay and its release thread', () => {
  it('a request carries each value and key id header, tombstones and missing headers included', () => {
    const f = relayFixture();
    const msgs = mixedMessages(f, 20);
    const back = unpackReleaseRequest(packReleaseRequest(msgs, 3, msgs.length));
    expect(back).toHaveLength(msgs.length - 3);
    back.forEach((b, i) => {
      const m = msgs[i + 3] as BusMessage;
      expect(b.value === null ? null : Buffer.from(b.value)).toEqual(m.value);
      expect(b.keyId).toBe(m.headers[RECORD_KEY_ID_HEADER]?.toString('utf8'));
    });
  });

  it('a result gives back every outcome as the releaser decided it, redacted names and the relay id included', () => {
    const f = relayFixture({ redact: ['heartRateMeanBpm', 'spo2MinPct'], sample: { windowEverySeconds: 60 } });
    const msgs = mixedMessages(f, 60);
    const outcomes = msgs.map((m) => new StreamReleaser(f.policy.streams[0] as never, f.keys.get('derived.vitals') as never, f.policy.destination.ceiling, f.codec, () => T0).release(m));
    expect(new Set(outcomes.map((o) => o.verdict))).toEqual(new Set(['release', 'withheld']));
    const back = unpackReleaseResult(packReleaseResult(outcomes), outcomes.length, 'theatre.north.derived.vitals', T0);
    expect(back).toEqual(outcomes);
    const one = back.find((o) => o.verdict === 'release' && o.redacted.length === 2);
    expect(one).toMatchObject({ redacted: ['heartRateMeanBpm', 'spo2MinPct'] });
    const sampled: ReleaseOutcome = { verdict: 'sampled' };
    expect(unpackReleaseResult(packReleaseResult([sampled, sampled]), 2, 't', T0)).toEqual([sampled, sampled]);
  });
});

describe('ReleaseThread', () => {
  let lease: ReleaseLease | undefined;
  afterEach(() => {
    lease?.close();
    lease = undefined;
  });
  afterAll(() => ReleaseThread.shutdown());

  it('decides as the main thread would: the same verdicts, re-sealed records that the relay key opens to the same record', async () => {
    const f = relayFixture({ redact: ['spo2MinPct'] });
    lease = await ReleaseThread.open(spec(f));
    const msgs = mixedMessages(f, 300);
    const inline = new StreamReleaser(f.policy.streams[0] as never, f.keys.get('derived.vitals') as never, f.policy.destination.ceiling, f.codec, () => T0);
    const expected = msgs.map((m) => comparable(f, inline.release(m)));
    // Three requests in flight at once: answered in order.
    const results = await Promise.all([lease.release(0, msgs, 0, 100), lease.release(0, msgs, 100, 200), lease.release(0, msgs, 200, msgs.length)]);
    const got = results.flatMap((r, i) => unpackReleaseResult(r, (i === 2 ? msgs.length : (i + 1) * 100) - i * 100, 'theatre.north.derived.vitals', T0));
    expect(got.map((o) => comparable(f, o))).toEqual(expected);
    const released = got.filter((o) => o.verdict === 'release');
    expect(released.length).toBeGreaterThan(200);
    for (const o of released) expect(o.entry.headers?.[RELAY_ID_HEADER]).toMatch(/#0$/);
  });

  it('keeps each lease\'s sampler state across requests, apart from another lease\'s on the same thread', async () => {
    const f = relayFixture({ sample: { windowEverySeconds: 60 } });
    lease = await ReleaseThread.open(spec(f));
    const other = await ReleaseThread.open(spec(f));
    const msgs = [0, 10_000, 70_000].map((dt, i) => busMessage(sealedMessage(f, vitalsRecord('sol-1', T0 + dt, RELEASABLE)), i));
    const verdicts: string[] = [];
    for (let i = 0; i < msgs.length; i++) verdicts.push(...unpackReleaseResult(await lease.release(0, msgs, i, i + 1), 1, 't', T0).map((o) => o.verdict));
    expect(verdicts).toEqual(['release', 'sampled', 'release']);
    // The other lease has seen nothing yet: its first window of the period is released.
    expect(unpackReleaseResult(await other.release(0, msgs, 1, 2), 1, 't', T0).map((o) => o.verdict)).toEqual(['release']);
    other.close();
    await expect(other.release(0, msgs, 0, 1)).rejects.toThrow(/closed/);
  });

  it('once stopped, refuses requests in flight and later ones; the next open starts a new thread', async () => {
    const f = relayFixture();
    lease = await ReleaseThread.open(spec(f));
    const msgs = mixedMessages(f, 2000);
    const inFlight = lease.release(0, msgs, 0, msgs.length);
    await ReleaseThread.shutdown();
    await expect(inFlight).rejects.toThrow(/stopped/);
    await expect(lease.release(0, msgs, 0, 1)).rejects.toThrow(/stopped/);
    expect(lease.failure).toBeDefined();
    const next = await ReleaseThread.open(spec(f));
    expect(unpackReleaseResult(await next.release(0, msgs, 0, 1), 1, 't', T0)).toHaveLength(1);
    next.close();
  });
});
