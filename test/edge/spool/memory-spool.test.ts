import { MemorySpool } from '../../../src/edge/spool';
import { spoolContract } from './spool-contract';

spoolContract('MemorySpool', async (options) => {
  const spool = new MemorySpool(options);
  return { spool, dispose: () => spool.close() };
});

describe('MemorySpool options', () => {
  it('rejects bad options naming the option', () => {
    expect(() => new MemorySpool({ budgetBytes: 0 })).toThrow(expect.objectContaining({ code: 'VIGIL_E_SPOOL_OPTIONS', details: { option: 'budgetBytes' } }));
    expect(() => new MemorySpool({ now: 5 as unknown as () => number })).toThrow(expect.objectContaining({ code: 'VIGIL_E_SPOOL_OPTIONS', details: { option: 'now' } }));
  });
});
