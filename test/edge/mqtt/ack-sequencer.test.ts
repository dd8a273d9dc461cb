import fc from 'fast-check';
import { AckSequencer } from '../../../src/edge/mqtt';

function drain(seq: AckSequencer): number[] {
  const out = new Uint16Array(seq.capacity);
  const n = seq.takeReady(out);
  return Array.from(out.subarray(0, n));
}

describe('AckSequencer (in-order PUBACK buffer)', () => {
  it('releases in receive order when acks arrive in order', () => {
    const s = new AckSequencer(4);
    const a = s.push(10);
    const b = s.push(11);
    expect(s.ack(a)).toBe(true);
    expect(drain(s)).toEqual([10]);
    expect(s.ack(b)).toBe(true);
    expect(drain(s)).toEqual([11]);
    expect(s.pending).toBe(0);
  });

  it('holds an ack that overtakes an earlier message until the earlier one is acked', () => {
    const s = new AckSequencer(8);
    const seqs = [1, 2, 3, 4].map((id) => s.push(id));
    expect(s.ack(seqs[2] as number)).toBe(false);
    expect(s.ack(seqs[1] as number)).toBe(false);
    expect(drain(s)).toEqual([]);
    expect(s.pending).toBe(4);
    expect(s.ack(seqs[0] as number)).toBe(true);
    expect(drain(s)).toEqual([1, 2, 3]);
    expect(s.pending).toBe(1);
    expect(s.ack(seqs[3] as number)).toBe(true);
    expect(drain(s)).toEqual([4]);
  });

  it('refuses more than capacity pending messages (Receive Maximum)', () => {
    const s = new AckSequencer(3);
    expect([s.push(1), s.push(2), s.push(3)]).toEqual([0, 1, 2]);
    expect(s.push(4)).toBe(-1);
    s.ack(0);
    expect(s.push(4)).toBe(-1); // acked but not yet released still occupies a slot
    drain(s);
    expect(s.push(4)).toBe(3);
  });

  it('ignores duplicate, released, future and cleared sequence numbers', () => {
    const s = new AckSequencer(4);
    const a = s.push(1);
    const b = s.push(2);
    expect(s.ack(a)).toBe(true);
    expect(s.ack(a)).toBe(false); // duplicate
    expect(drain(s)).toEqual([1]);
    expect(s.ack(a)).toBe(false); // already released
    expect(s.ack(99)).toBe(false); // never issued
    expect(s.isUnacked(b)).toBe(true);
    expect(s.clear()).toBe(1);
    expect(s.isUnacked(b)).toBe(false);
    expect(s.ack(b)).toBe(false); // the connection that owned it is gone
    const c = s.push(2); // packet ids restart per connection; sequence numbers do not
    expect(c).not.toBe(b);
    expect(drain(s)).toEqual([]);
    expect(s.ack(c)).toBe(true);
    expect(drain(s)).toEqual([2]);
  });

  it('wraps around the ring many times', () => {
    const s = new AckSequencer(5);
    const released: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const seq = s.push((i % 65535) + 1);
      s.ack(seq);
      released.push(...drain(s));
    }
    expect(released).toEqual(Array.from({ length: 1000 }, (_, i) => (i % 65535) + 1));
  });

  it('rejects a capacity outside 1..65535', () => {
    expect(() => new AckSequencer(0)).toThrow(RangeError);
    expect(() => new AckSequencer(65536)).toThrow(RangeError);
  });

  it('property: any ack order, interleaved with arrivals, releases exactly the receive order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 300 }),
        (capacity, choices) => {
          const s = new AckSequencer(capacity);
          const received: number[] = [];
          const released: number[] = [];
          const unacked: number[] = [];
          let nextId = 1;
          for (const c of choices) {
            // Even choices receive a message (when there is room), odd ones ack a random pending one.
            if (c % 2 === 0 && s.pending < capacity) {
              const id = nextId;
              nextId = (nextId % 65535) + 1;
              unacked.push(s.push(id));
              received.push(id);
            } else if (unacked.length > 0) {
              const [seq] = unacked.splice(c % unacked.length, 1);
              s.ack(seq as number);
              released.push(...drain(s));
            }
          }
          while (unacked.length > 0) {
            s.ack(unacked.pop() as number);
            released.push(...drain(s));
          }
          expect(released).toEqual(received);
          expect(s.pending).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
