import { readFileSync } from 'node:fs';

/**
 * patches/kafkajs+2.2.4.patch (applied by `npm ci`'s postinstall, patch-package) makes
 * kafkajs group a send's messages per partition in linear time. Unpatched, a send of n
 * messages to one partition costs O(n²) copies: a state commit of 1,700 changelog records
 * per request spent ~7% of the worker's CPU there, plus the garbage.
 */
describe('kafkajs, as patched', () => {
  const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const group = require(path) as (o: { topic: string; partitionMetadata: unknown[]; messages: Array<{ i: number; p: number }>; partitioner: (o: { message: { p: number } }) => number }) => Record<string, Array<{ i: number }>>;

  it('has the linear groupMessagesPerPartition (the postinstall ran)', () => {
    expect(readFileSync(path, 'utf8')).toContain('Patched by Vigil');
  });

  it('groups messages per partition, each in send order, as the original did', () => {
    const messages = Array.from({ length: 20_000 }, (_, i) => ({ i, p: (i * 7) % 5 }));
    const out = group({ topic: 't', partitionMetadata: [{}, {}, {}, {}, {}], messages, partitioner: ({ message }) => message.p });
    expect(Object.keys(out).sort()).toEqual(['0', '1', '2', '3', '4']);
    for (const [p, list] of Object.entries(out)) {
      expect(list).toEqual(messages.filter((m) => m.p === Number(p)));
    }
    expect(group({ topic: 't', partitionMetadata: [], messages, partitioner: () => 0 })).toEqual({});
  });
});
