import fc from 'fast-check';
import { Subject } from 'rxjs';
import {
  aggregate,
  count,
  first,
  hopping,
  keyedWindow,
  last,
  max,
  mean,
  min,
  percentiles,
  session,
  sliding,
  sum,
  tumbling,
  variance,
  type RecordEvent,
  type StreamEvent,
  type WindowResult,
  type WindowSpec,
} from '../../src/stream';

/**
 * Random out-of-order streams (keys, event times, watermarks, lateness) through the
 * window operator, checked against a brute-force reference that recomputes every result
 * from the raw input: which records are late, which results exist, when each is emitted,
 * and every value.
 */
interface Rec {
  k: string;
  v: number;
}
interface Arrived {
  rec: Rec;
  time: number;
  idx: number;
}
type Out = WindowResult<string, ReturnType<typeof AGG.result>>;

const QS = [0.5, 0.95];
const AGG = aggregate({
  n: count<Rec>(),
  sum: sum((r: Rec) => r.v),
  mean: mean((r: Rec) => r.v),
  min: min((r: Rec) => r.v),
  max: max((r: Rec) => r.v),
  first: first((r: Rec) => r.v),
  last: last((r: Rec) => r.v),
  variance: variance((r: Rec) => r.v),
  p: percentiles((r: Rec) => r.v, QS),
});

function expectValue(actual: Out['value'], recs: readonly Arrived[], where: string): void {
  const vs = recs.map((a) => a.rec.v);
  const n = vs.length;
  expect({ where, n: actual.n }).toEqual({ where, n });
  const total = vs.reduce((a, b) => a + b, 0);
  const firstRec = [...recs].sort((a, b) => a.time - b.time || a.idx - b.idx)[0] as Arrived;
  const lastRec = [...recs].sort((a, b) => b.time - a.time || b.idx - a.idx)[0] as Arrived;
  expect({ where, sum: actual.sum, mean: actual.mean, min: actual.min, max: actual.max, first: actual.first, last: actual.last }).toEqual({
    where,
    sum: total,
    mean: total / n,
    min: Math.min(...vs),
    max: Math.max(...vs),
    first: firstRec.rec.v,
    last: lastRec.rec.v,
  });
  const m = total / n;
  const exactVar = vs.reduce((a, v) => a + (v - m) * (v - m), 0) / n;
  expect(Math.abs(actual.variance - exactVar)).toBeLessThanOrEqual(1e-9 * Math.max(1, exactVar));
  const sorted = [...vs].sort((a, b) => a - b);
  QS.forEach((q, i) => {
    const exact = sorted[Math.floor(q * (n - 1))] as number;
    const got = actual.p[i] as number;
    expect({ where, q, ok: Math.abs(got - exact) <= 0.01 * Math.abs(exact) + 1e-9 }).toEqual({ where, q, ok: true });
  });
}

const eventArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('record' as const), time: fc.integer({ min: 0, max: 60 }), k: fc.constantFrom('a', 'b', 'c'), v: fc.integer({ min: -50, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('watermark' as const), time: fc.integer({ min: 0, max: 80 }) }) },
);
const streamArb = fc.array(eventArb, { minLength: 1, maxLength: 70 }).map((raw) =>
  raw.map((e): StreamEvent<Rec> => (e.kind === 'record' ? { kind: 'record', time: e.time, value: { k: e.k, v: e.v } } : { kind: 'watermark', time: e.time })),
);

function run(spec: WindowSpec, lateness: number, events: readonly StreamEvent<Rec>[]) {
  const outs: Array<{ out: Out; pos: number }> = [];
  const late: RecordEvent<Rec>[] = [];
  const src = new Subject<StreamEvent<Rec>>();
  let pos = 0;
  src.pipe(keyedWindow({ key: (r: Rec) => r.k, window: spec, aggregate: AGG, allowedLateness: lateness, onLate: (e) => late.push(e) })).subscribe((out) => outs.push({ out, pos }));
  events.forEach((e, i) => {
    pos = i;
    src.next(e);
  });
  pos = events.length;
  src.complete();
  return { outs, late };
}

/** Windows [start, end) of an aligned spec that contain t. */
function alignedWindows(spec: WindowSpec, t: number): Array<[number, number]> {
  const size = spec.kind === 'tumbling' || spec.kind === 'hopping' ? spec.size : 0;
  const slide = spec.kind === 'hopping' ? spec.slide : size;
  const out: Array<[number, number]> = [];
  for (let s = -size; s <= t; s++) if (s % slide === 0 && s <= t && t < s + size) out.push([s, s + size]);
  return out;
}

interface Expected {
  key: string;
  start: number;
  end: number;
  type: string;
  revision: number;
  pos: number;
  members: Arrived[];
}

/** Reference for tumbling, hopping and sliding: every output, when, and over which records. */
function referenceFixed(spec: WindowSpec, L: number, events: readonly StreamEvent<Rec>[]): { expected: Expected[]; late: number[] } {
  let W = -Infinity;
  const wmAt: number[] = [];
  // Per window id: its records with arrival index; creation index.
  const windows = new Map<string, { key: string; start: number; end: number; created: number; members: Arrived[] }>();
  const late: number[] = [];
  events.forEach((e, idx) => {
    if (e.kind === 'watermark') {
      W = Math.max(W, e.time);
      wmAt[idx] = W;
      return;
    }
    wmAt[idx] = W;
    const a: Arrived = { rec: e.value, time: e.time, idx };
    if (spec.kind === 'sliding') {
      if (W >= e.time + 1 + L) {
        late.push(idx);
        return;
      }
      const id = `${e.value.k}|${e.time}`;
      if (!windows.has(id)) windows.set(id, { key: e.value.k, start: e.time - spec.size + 1, end: e.time + 1, created: idx, members: [] });
      // Members of sliding windows are resolved below from all accepted records.
      (windows.get(id) as { members: Arrived[] }).members.push(a);
      return;
    }
    const wins = alignedWindows(spec, e.time).filter(([, end]) => W < end + L);
    if (wins.length === 0) {
      late.push(idx);
      return;
    }
    for (const [start, end] of wins) {
      const id = `${e.value.k}|${start}`;
      if (!windows.has(id)) windows.set(id, { key: e.value.k, start, end, created: idx, members: [] });
      (windows.get(id) as { members: Arrived[] }).members.push(a);
    }
  });
  const accepted: Arrived[] = [];
  if (spec.kind === 'sliding') for (const w of windows.values()) accepted.push(...w.members);
  const expected: Expected[] = [];
  for (const w of windows.values()) {
    const members =
      spec.kind === 'sliding' ? accepted.filter((a) => a.rec.k === w.key && a.time >= w.start && a.time < w.end) : w.members;
    let finalPos = events.length;
    if ((wmAt[w.created] as number) >= w.end) finalPos = w.created;
    else for (let j = w.created + 1; j < events.length; j++) if (events[j]?.kind === 'watermark' && (wmAt[j] as number) >= w.end) {
      finalPos = j;
      break;
    }
    const upTo = (p: number): Arrived[] => members.filter((a) => a.idx <= p);
    expected.push({ key: w.key, start: w.start, end: w.end, type: 'final', revision: 0, pos: finalPos, members: upTo(finalPos) });
    let rev = 0;
    for (const a of [...members].sort((x, y) => x.idx - y.idx)) {
      if (a.idx <= finalPos || a.idx >= events.length) continue;
      // Sliding: a record revises only windows whose bucket existed when it arrived.
      rev++;
      expected.push({ key: w.key, start: w.start, end: w.end, type: 'revision', revision: rev, pos: a.idx, members: upTo(a.idx) });
    }
  }
  return { expected, late };
}

const specArb = fc.oneof(
  fc.integer({ min: 1, max: 20 }).map((s) => tumbling(s) as WindowSpec),
  fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 })).map(([slide, k]) => hopping(slide * k, slide) as WindowSpec),
  fc.integer({ min: 1, max: 15 }).map((s) => sliding(s) as WindowSpec),
);

describe('keyedWindow against a brute-force reference (property)', () => {
  it('tumbling, hopping and sliding: every final and revision, its timing and value agree', () => {
    fc.assert(
      fc.property(specArb, fc.integer({ min: 0, max: 15 }), streamArb, (spec, L, events) => {
        const { outs, late } = run(spec, L, events);
        const ref = referenceFixed(spec, L, events);
        expect(late.map((e) => events.indexOf(e))).toEqual(ref.late);
        const got = outs.map(({ out, pos }) => `${out.key}|${out.window.start}|${out.window.end}|${out.type}|${out.revision}|${pos}`).sort();
        const want = ref.expected.map((x) => `${x.key}|${x.start}|${x.end}|${x.type}|${x.revision}|${x.pos}`).sort();
        expect(got).toEqual(want);
        for (const { out, pos } of outs) {
          const x = ref.expected.find((e) => e.key === out.key && e.start === out.window.start && e.revision === out.revision && e.pos === pos) as Expected;
          expectValue(out.value, x.members, `${out.key} [${out.window.start},${out.window.end}) rev ${out.revision}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('session: late records, every value, and the final set of sessions agree', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 15 }), streamArb, (gap, L, events) => {
        const { outs, late } = run(session(gap), L, events);
        type Sess = { key: string; start: number; end: number; members: Arrived[] };
        const sessionsOf = (key: string, recs: readonly Arrived[]): Sess[] => {
          const out: Sess[] = [];
          for (const a of [...recs].sort((x, y) => x.time - y.time)) {
            const cur = out[out.length - 1];
            if (cur !== undefined && a.time < cur.end) {
              cur.members.push(a);
              cur.end = Math.max(cur.end, a.time + gap);
            } else out.push({ key, start: a.time, end: a.time + gap, members: [a] });
          }
          return out;
        };
        // Reference state: accepted records of sessions still open (within lateness), and
        // sessions closed for good once the watermark passed end + lateness. A record in
        // the range of a closed session starts a new one, as the operator documents.
        let W = -Infinity;
        const open = new Map<string, Arrived[]>([['a', []], ['b', []], ['c', []]]);
        const closed: Sess[] = [];
        const refLate: number[] = [];
        const check = (pos: number, closedNow: readonly Sess[]): void => {
          const candidates = [...closedNow];
          for (const [k, recs] of open) candidates.push(...sessionsOf(k, recs));
          for (const { out } of outs.filter((o) => o.pos === pos)) {
            const s = candidates.find((c) => c.key === out.key && c.start === out.window.start && c.end === out.window.end);
            expect({ pos, window: out.window, found: s !== undefined }).toEqual({ pos, window: out.window, found: true });
            expectValue(out.value, (s as Sess).members, `${out.key} [${out.window.start},${out.window.end}) rev ${out.revision}`);
            expect(out.type === 'final').toBe(out.revision === 0);
          }
        };
        events.forEach((e, idx) => {
          if (e.kind === 'watermark') {
            W = Math.max(W, e.time);
            const closedNow: Sess[] = [];
            for (const [k, recs] of open) {
              for (const s of sessionsOf(k, recs)) {
                if (s.end + L > W) continue;
                closedNow.push(s);
                open.set(k, (open.get(k) as Arrived[]).filter((a) => !s.members.includes(a)));
              }
            }
            closed.push(...closedNow);
            check(idx, closedNow);
            return;
          }
          const a: Arrived = { rec: e.value, time: e.time, idx };
          const recs = open.get(e.value.k) as Arrived[];
          const mine = sessionsOf(e.value.k, [...recs, a]).find((x) => x.members.includes(a)) as Sess;
          if (W >= mine.end + L) refLate.push(idx);
          else recs.push(a);
          check(idx, []);
        });
        const rest: Sess[] = [];
        for (const [k, recs] of open) rest.push(...sessionsOf(k, recs));
        open.clear();
        check(events.length, rest);
        closed.push(...rest);
        expect(late.map((e) => events.indexOf(e))).toEqual(refLate);
        // Apply the outputs in order (supersedes removes replaced sessions); what is left
        // must be exactly the reference sessions, with their complete values.
        const live = new Map<string, Out>();
        for (const { out } of outs) {
          for (const x of out.supersedes ?? []) live.delete(`${out.key}|${x.start}|${x.end}`);
          live.set(`${out.key}|${out.window.start}|${out.window.end}`, out);
        }
        const want = closed.map((x) => `${x.key}|${x.start}|${x.end}`);
        expect([...live.keys()].sort()).toEqual([...new Set(want)].sort());
        for (const x of closed) {
          const later = closed.filter((y) => y.key === x.key && y.start === x.start && y.end === x.end);
          if (later[later.length - 1] === x) expectValue((live.get(`${x.key}|${x.start}|${x.end}`) as Out).value, x.members, `final ${x.key}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});
