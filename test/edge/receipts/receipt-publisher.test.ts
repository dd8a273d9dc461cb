import fc from 'fast-check';
import { openReceipt } from '../../../src/codec';
import { boxSharedKey, generateDeviceKeys, generateIngestKeys, getCryptoBackend } from '../../../src/crypto';
import { ReceiptPublisher } from '../../../src/edge/receipts';
import { insert } from '../../../src/edge/receipts/receipt-publisher';

const backend = getCryptoBackend('auto');

function expand(flat: bigint[]): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < flat.length; i += 2) for (let s = flat[i] as bigint; s <= (flat[i + 1] as bigint); s++) out.push(s);
  return out;
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
});
