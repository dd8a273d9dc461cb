import fc from 'fast-check';
import { MAX_RECEIPT_RANGES, openReceipt } from '../../../src/codec';
import { boxSharedKey, generateDeviceKeys, generateIngestKeys, getCryptoBackend } from '../../../src/crypto';
import { ReceiptPublisher } from '../../../src/edge/receipts';
import { insert } from '../../../src/edge/receipts/receipt-publisher';

const backend = getCryptoBackend('auto');

function expand(flat: bigint[]): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < flat.length; i += 2) for (let s = flat[i] as bigint; s <= (flat[i + 1] as bigint); s++) out.push(s);
  return out;
}

/** A publisher for device `a` whose broker link is up only while `link.up`; `sent` holds the receipts that went out, opened. */
function publisherOverLink(link: { up: boolean }, intervalMs: number): { pub: ReceiptPublisher; sent: Array<ReturnType<typeof openReceipt>> } {
  const ingest = generateIngestKeys('i');
  const dev = generateDeviceKeys('a', 1);
  const key = boxSharedKey(ingest.box.publicKey, dev.box.secretKey, backend);
  const sent: Array<ReturnType<typeof openReceipt>> = [];
  const pub = new ReceiptPublisher({
    gatewayId: 'gw-9',
    keyOf: () => boxSharedKey(dev.box.publicKey, ingest.box.secretKey, backend),
    publish: (_t, payload) => link.up && sent.push(openReceipt(payload, 'a', () => key, backend)) > 0,
    intervalMs,
    backend,
  });
  return { pub, sent };
}

describe('ReceiptPublisher', () => {
  it('range insertion keeps sorted, disjoint, maximal ranges holding exactly the inserted numbers (any order)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 200 }), (xs) => {
        const r: bigint[] = [];
        for (const x of xs) insert(r, BigInt(x));
        expect(expand(r)).toEqual([...new Set(xs)].sort((a, b) => a - b).map(BigInt));
        for (let i = 2; i < r.length; i += 2) expect((r[i] as bigint) > (r[i - 1] as bigint) + 1n).toBe(true); // gaps between ranges
      }),
      { numRuns: 500 },
    );
  });

  it('sends one sealed receipt per device per interval, on the device\'s receipt topic', async () => {
    const ingest = generateIngestKeys('i');
    const devs = ['a', 'b'].map((id) => generateDeviceKeys(id, 1));
    const sent: Array<{ topic: string; payload: Uint8Array }> = [];
    const pub = new ReceiptPublisher({
      gatewayId: 'gw-9',
      keyOf: (d) => boxSharedKey((devs.find((x) => x.deviceId === d) as (typeof devs)[number]).box.publicKey, ingest.box.secretKey, backend),
      publish: (topic, payload) => void sent.push({ topic, payload }),
      intervalMs: 20,
      backend,
    });
    for (let s = 100n; s < 150n; s++) pub.durable('vigil/v1/t/u/a/telemetry', 'a', 1, s);
    pub.durable('vigil/v1/t/u/a/telemetry', 'a', 1, 160n);
    pub.durable('vigil/v1/t/u/b/telemetry', 'b', 1, 7n);
    pub.refused('vigil/v1/t/u/a/telemetry', 'a', 1, 151n);
    expect(sent).toHaveLength(0); // coalesced until the interval ends
    await new Promise((r) => setTimeout(r, 60));
    expect(sent.map((s) => s.topic).sort()).toEqual(['vigil/v1/t/u/a/receipt', 'vigil/v1/t/u/b/receipt']);
    const a = sent.find((s) => s.topic.includes('/a/')) as { payload: Uint8Array };
    const key = boxSharedKey(ingest.box.publicKey, (devs[0] as (typeof devs)[number]).box.secretKey, backend);
    expect(openReceipt(a.payload, 'a', () => key, backend)).toEqual({ deviceId: 'a', epoch: 1, gatewayId: 'gw-9', ranges: [[100n, 149n], [160n, 160n]], refused: [[151n, 151n]] });
    pub.close();
  });

  it('keeps a receipt it could not hand over and sends it with the next one, or at flush()', async () => {
    // Chaos seed 435755603: receipts of a batch made durable while the gateway's connection had
    // no SUBACK yet were dropped; their frames' resends then came after the replay window had
    // moved past them (VIGIL_E_SEQ_TOO_OLD), so nothing ever told the device they were durable.
    const link = { up: false };
    const { pub, sent } = publisherOverLink(link, 10);
    const T = 'vigil/v1/t/u/a/telemetry';
    for (let s = 1n; s <= 5n; s++) pub.durable(T, 'a', 1, s);
    await new Promise((r) => setTimeout(r, 40));
    expect(sent).toHaveLength(0);
    expect(pub.counters.held).toBe(1);
    // Still no connection: held again, later frames join it, nothing is lost.
    pub.durable(T, 'a', 1, 9n);
    await new Promise((r) => setTimeout(r, 40));
    expect(pub.counters.held).toBe(2);
    // The connection is back: the next receipt carries everything held.
    link.up = true;
    pub.durable(T, 'a', 1, 10n);
    await new Promise((r) => setTimeout(r, 40));
    expect(sent.map((r) => r.ranges)).toEqual([[[1n, 5n], [9n, 10n]]]);
    // Held with no later frame of its device: the owner's flush() on reconnect sends it.
    link.up = false;
    pub.durable(T, 'a', 1, 20n);
    pub.flush();
    expect(sent).toHaveLength(1);
    link.up = true;
    pub.flush();
    expect(sent.map((r) => r.ranges)).toEqual([[[1n, 5n], [9n, 10n]], [[20n, 20n]]]);
    expect(pub.counters).toMatchObject({ receipts: 2, held: 3, rangesDropped: 0 });
    pub.close();
  });

  it('bounds a held receipt: beyond MAX_RECEIPT_RANGES ranges the oldest are given up', () => {
    const link = { up: false };
    const { pub, sent } = publisherOverLink(link, 200);
    // Every other number: one range each.
    for (let i = 0n; i < BigInt(MAX_RECEIPT_RANGES + 10); i++) pub.durable('vigil/v1/t/u/a/telemetry', 'a', 1, 2n * i);
    link.up = true;
    pub.flush();
    expect(sent).toHaveLength(1);
    const ranges = (sent[0] as ReturnType<typeof openReceipt>).ranges;
    expect(ranges.length).toBeLessThanOrEqual(MAX_RECEIPT_RANGES);
    expect(ranges[ranges.length - 1]).toEqual([2n * BigInt(MAX_RECEIPT_RANGES + 9), 2n * BigInt(MAX_RECEIPT_RANGES + 9)]); // the newest kept
    expect(pub.counters.rangesDropped).toBe(MAX_RECEIPT_RANGES + 10 - ranges.length);
    pub.close();
  });
});
