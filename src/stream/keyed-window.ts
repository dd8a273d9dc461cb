import type { Aggregate } from './aggregates';
import { invalid, optionalNumber, requireFunction, requireObject } from './options';
import { keyedStatefulOperator } from './stateful-operator';
import { storeKey, type KeyedState, type KeyedStateSnapshot, type KeyedStateful, type StateProvider } from './state';
import { TimerIndex } from './timer-index';
import type { JsonValue, RecordEvent, StatefulOperator, StreamEvent, StreamKey, WindowBounds } from './types';
import { alignedStart, describeWindow, type WindowSpec } from './windows';

/**
 * One result of one key's window.
 *
 * - `early`: a provisional result while the window is open (only with `earlyEvery`).
 * - `final`: the first complete result, once the watermark passed `window.end`
 *   (revision 0), or at once for a window first seen by a late record within lateness.
 * - `revision`: a corrected result after a late record (within `allowedLateness`)
 *   changed a window already emitted; `revision` counts up from 1. A session merge that
 *   replaces windows already emitted lists them in `supersedes`.
 *
 * `(key, window.start, window.end, revision)` identifies a result, so derived records can
 * get deterministic ids.
 */
export interface WindowResult<K, R> {
  readonly type: 'early' | 'final' | 'revision';
  readonly key: K;
  readonly window: WindowBounds;
  readonly value: R;
  readonly revision: number;
  readonly supersedes?: readonly WindowBounds[];
}

export interface KeyedWindowOptions<T, K extends StreamKey, A, R> {
  /** Key of a record: device id, unit, or anything else (string or number). */
  readonly key: (record: T) => K;
  /** `tumbling(size)`, `hopping(size, slide)`, `sliding(size)` or `session(gap)`. */
  readonly window: WindowSpec;
  /** What to compute per window: one aggregate or a composite `aggregate({...})`. */
  readonly aggregate: Aggregate<T, A, R>;
  /**
   * Event-time ms a window is kept after its end so that late records revise it.
   * Default 0: a record whose windows have all ended is late.
   */
  readonly allowedLateness?: number;
  /**
   * Emit `early` results every this many ms of event time (watermark progress) while a
   * window is open and has changed. Not for sliding windows. Default: no early results.
   */
  readonly earlyEvery?: number;
  /** Side output for records later than the allowed lateness; they are also counted. */
  readonly onLate?: (record: RecordEvent<T>) => void;
  /** On completion of the source, fire every open window as if the watermark were +∞. Default true. */
  readonly flushOnComplete?: boolean;
}

/** Counters of a window operator since it was built (kept across snapshot/restore). */
export interface KeyedWindowStats {
  readonly watermark: number;
  readonly keys: number;
  readonly openWindows: number;
  readonly finals: number;
  readonly revisions: number;
  readonly early: number;
  /** Records later than the allowed lateness, handed to `onLate`. */
  readonly late: number;
}

/** The JSON state of a window operator used standalone (`snapshot()`). */
export type KeyedWindowSnapshot = KeyedStateSnapshot;

export type KeyedWindowOperator<T, K, R> = StatefulOperator<StreamEvent<T>, WindowResult<K, R>, KeyedWindowSnapshot> &
  KeyedStateful & {
    stats(): KeyedWindowStats;
  };

// One window (tumbling, hopping, session) or one sliding bucket (start = the bucket's
// record time; its window is [start − size + 1, start + 1)).
interface Win<K, A> {
  readonly key: K;
  start: number;
  end: number;
  acc: A;
  /** Revision of the last final/revision emitted; −1 before the first. */
  revision: number;
  fired: boolean;
  /** Changed since the last early result. */
  dirty: boolean;
  nextEarly: number;
  /** Windows emitted earlier that this session replaces and has not yet announced. */
  supersedes: WindowBounds[] | null;
  /** Creation order: a restored operator re-registers timers in it, so results due together keep their order. */
  seq: number;
  /** Store key (aligned windows: one entry per window). */
  skey: string;
}

const NAME = 'keyedWindow';

/**
 * Keyed event-time windows with allowed lateness, revisions, early results and a late
 * side output. Input: records and watermarks (see `withWatermarks`). Keyed state lives in
 * one Map inside the operator and timers in one event-time index: no Observable or timer
 * per key or per window.
 *
 * @example
 * events$.pipe(
 *   keyedWindow({
 *     key: (r) => r.deviceId,
 *     window: tumbling(60_000),
 *     aggregate: aggregate({ n: count(), avg: mean((r) => r.temp), p95: percentile((r) => r.temp, 0.95) }),
 *     allowedLateness: 3_600_000,
 *     onLate: (e) => late$.next(e),
 *   }),
 * );
 */
export function keyedWindow<T, K extends StreamKey, A, R>(options: KeyedWindowOptions<T, K, A, R>): KeyedWindowOperator<T, K, R> {
  requireObject(NAME, options);
  requireFunction(NAME, 'key', options.key);
  const spec = options.window;
  if (typeof spec !== 'object' || spec === null || !['tumbling', 'hopping', 'sliding', 'session'].includes((spec as { kind?: string }).kind ?? '')) {
    invalid(NAME, 'window', spec, 'expected tumbling(), hopping(), sliding() or session()');
  }
  const agg = options.aggregate;
  if (typeof agg !== 'object' || agg === null || typeof agg.add !== 'function') invalid(NAME, 'aggregate', agg, 'expected an aggregate such as count() or aggregate({...})');
  const lateness = optionalNumber(NAME, 'allowedLateness', options.allowedLateness, 0, 0);
  const early = options.earlyEvery === undefined ? 0 : optionalNumber(NAME, 'earlyEvery', options.earlyEvery, 0, 1);
  if (early > 0 && spec.kind === 'sliding') invalid(NAME, 'earlyEvery', early, 'early results apply to tumbling, hopping and session windows');
  if (options.onLate !== undefined) requireFunction(NAME, 'onLate', options.onLate);
  const core = new KeyedWindowCore<T, K, A, R>(
    options.key,
    spec,
    agg,
    lateness,
    early,
    options.onLate,
    options.flushOnComplete ?? true,
  );
  return keyedStatefulOperator(NAME, core.settings, core, { stats: () => core.stats() });
}

/** Store key of an aligned window: the key's type, the window start and the key. */
function windowKey(key: StreamKey, start: number): string {
  return `${typeof key === 'number' ? 'n' : 's'}${start}:${key}`;
}

/** The window start in an aligned window's store key (NaN if it is not one). */
function windowKeyStart(skey: string): number {
  const colon = skey.indexOf(':');
  return colon < 2 ? NaN : Number(skey.slice(1, colon));
}


type SavedWin = [StreamKey, number, number, number, boolean, boolean, number | null, number[][] | null, number, JsonValue];

/**
 * State layout. Aligned windows (tumbling, hopping) are one store entry each (`windows`),
 * found by their store key (the key and the window start, computed from a record's time),
 * in memory or on disk like any entry. The operator's own heap holds only store keys: of
 * open windows in an event-time timer index (due at their end, or their next early
 * result), of fired ones in an expiry index (due when their lateness has passed). So open
 * and fired windows alike are bounded by the store's cache, a long lateness costs disk,
 * not heap, and a restore rebuilds both indexes from the store's keys, decoding nothing:
 * a window is open exactly when its end is past the watermark. Results due at the same
 * time come out in window creation order (`seq`), restored or not.
 *
 * Session and sliding windows keep each key's windows as one entry (`keys`), all in
 * memory: merging sessions and sliding buckets needs every window of the key at hand.
 */
class KeyedWindowCore<T, K extends StreamKey, A, R> {
  private emit: (out: WindowResult<K, R>) => void = () => undefined;
  /** Aligned: windows by store key. */
  private windows!: KeyedState<Win<K, A>>;
  /** Session/sliding: every window of a key, by list key. */
  private lists!: KeyedState<Win<K, A>[]>;
  /** Session/sliding: every window per key. */
  private readonly keys = new Map<K, Win<K, A>[]>();
  /** Session/sliding: keys due. */
  private readonly timers = new TimerIndex<K>();
  /** Aligned: store keys of open windows, due at their end or next early result. */
  private readonly due = new TimerIndex<string>();
  /**
   * Aligned: the starts of fired windows, due when their lateness has passed; then every
   * window with that start goes at once (a key prefix of the store). A few thousand starts
   * at most (lateness / slide), however many keys: the heap does not grow with the keys
   * whose windows wait out their lateness on disk.
   */
  private readonly expiry = new TimerIndex<number>();
  private readonly expiring = new Set<number>();
  private opened = 0;
  private closed = 0;
  private watermark = -Infinity;
  private flushing = false;
  private finals = 0;
  private revisions = 0;
  private earlies = 0;
  private late = 0;
  private seq = 0;
  readonly settings: string;
  // Window geometry, unpacked once so the hot path reads plain fields.
  private readonly size: number;
  private readonly slide: number;
  private readonly offset: number;
  private readonly aligned: boolean;

  constructor(
    private readonly keyOf: (record: T) => K,
    private readonly spec: WindowSpec,
    private readonly agg: Aggregate<T, A, R>,
    private readonly lateness: number,
    private readonly early: number,
    private readonly onLate: ((record: RecordEvent<T>) => void) | undefined,
    private readonly flushOnComplete: boolean,
  ) {
    this.settings = `${describeWindow(spec)};lateness=${lateness};early=${early}`;
    this.size = spec.kind === 'session' ? 0 : spec.size;
    this.slide = spec.kind === 'hopping' ? spec.slide : spec.kind === 'tumbling' ? spec.size : 1;
    this.offset = spec.kind === 'hopping' || spec.kind === 'tumbling' ? spec.offset : 0;
    this.aligned = spec.kind === 'tumbling' || spec.kind === 'hopping';
  }

  // ---- state -------------------------------------------------------------------

  bindState(provider: StateProvider): void {
    const agg = this.agg;
    const save = (w: Win<K, A>): SavedWin => [
      w.key,
      w.start,
      w.end,
      w.revision,
      w.fired,
      w.dirty,
      Number.isFinite(w.nextEarly) ? w.nextEarly : null,
      w.supersedes === null ? null : w.supersedes.map((b) => [b.start, b.end]),
      w.seq,
      agg.save(w.acc),
    ];
    const load = (j: JsonValue, skey: string | null): Win<K, A> => {
      const [key, start, end, revision, fired, dirty, nextEarly, sup, seq, acc] = j as SavedWin;
      return {
        key: key as K,
        start,
        end,
        revision,
        fired,
        dirty,
        nextEarly: nextEarly === null ? Infinity : nextEarly,
        supersedes: sup === null ? null : sup.map(([a, b]) => ({ start: a as number, end: b as number })),
        seq,
        skey: skey ?? windowKey(key, start),
        acc: agg.load(acc),
      };
    };
    this.keys.clear();
    this.timers.clear();
    this.due.clear();
    this.expiry.clear();
    this.expiring.clear();
    this.opened = 0;
    this.closed = 0;
    if (this.aligned) this.windows = provider.store<Win<K, A>>('windows', { save, load: (j) => load(j, null) });
    else this.lists = provider.store<Win<K, A>[]>('keys', { save: (ws) => ws.map(save), load: (j) => (j as JsonValue[]).map((w) => load(w, '')) });
  }

  saveMeta(): JsonValue {
    return [Number.isFinite(this.watermark) ? this.watermark : null, this.finals, this.revisions, this.earlies, this.late, this.seq];
  }

  restoreMeta(meta: JsonValue): void {
    const m = (meta ?? [null, 0, 0, 0, 0, 0]) as [number | null, number, number, number, number, number];
    this.watermark = m[0] === null ? -Infinity : m[0];
    [, this.finals, this.revisions, this.earlies, this.late, this.seq] = m;
    this.keys.clear();
    this.timers.clear();
    this.due.clear();
    this.expiry.clear();
    this.expiring.clear();
    this.opened = 0;
    this.closed = 0;
    const pending: Win<K, A>[] = [];
    if (this.aligned) {
      // From the keys alone: a window is open exactly when its end is past the watermark
      // (every window that ended by it has fired). Only open windows with early results
      // due are read, for their next early time.
      for (const skey of this.windows.keys()) {
        let end = windowKeyStart(skey) + this.size;
        if (!Number.isFinite(end)) end = (this.windows.get(skey) as Win<K, A>).end;
        if (end <= this.watermark) {
          this.expireLater(end - this.size);
          this.closed++;
          continue;
        }
        this.due.add(end, skey);
        this.opened++;
        if (this.early > 0) {
          const w = this.windows.get(skey) as Win<K, A>;
          if (w.nextEarly < w.end) this.due.add(w.nextEarly, skey);
        }
      }
      return;
    }
    const lkeys: string[] = [];
    for (const [lkey, ws] of this.lists.entries()) if (ws.length > 0) lkeys.push(lkey);
    const lists: Win<K, A>[][] = [];
    for (const lkey of lkeys) {
      this.lists.pin(lkey);
      const ws = this.lists.get(lkey) as Win<K, A>[];
      const key = (ws[0] as Win<K, A>).key;
      this.keys.set(key, ws);
      lists.push(ws);
    }
    for (const ws of lists) for (const w of ws) pending.push(w);
    pending.sort((a, b) => a.seq - b.seq);
    for (const w of pending) {
      if (this.spec.kind === 'sliding') this.registerSliding(w.key, w.start);
      else this.registerWin(w.key, w);
    }
  }

  /** A session/sliding key's list changed. */
  private touch(key: K): void {
    const lkey = storeKey(key);
    const ws = this.keys.get(key);
    if (ws === undefined || ws.length === 0) {
      this.keys.delete(key);
      this.lists.unpin(lkey);
      this.lists.delete(lkey);
    } else {
      this.lists.changed(lkey);
    }
  }

  // ---- subscription ------------------------------------------------------------

  open(emit: (out: WindowResult<K, R>) => void): void {
    this.emit = emit;
    this.flushing = false;
  }

  close(): void {
    this.emit = () => undefined;
  }

  next(event: StreamEvent<T>): void {
    if (event.kind === 'watermark') {
      this.advance(event.time);
      return;
    }
    const key = this.keyOf(event.value);
    switch (this.spec.kind) {
      case 'tumbling':
      case 'hopping':
        this.addAligned(key, event);
        return;
      case 'session':
        this.addSession(key, event, this.spec.gap);
        this.touch(key);
        return;
      case 'sliding':
        this.addSliding(key, event);
        this.touch(key);
        return;
    }
  }

  complete(): void {
    if (!this.flushOnComplete) return;
    this.flushing = true;
    if (this.aligned) {
      while (this.due.size > 0) {
        const t = this.due.peek();
        this.watermark = t;
        this.fireAligned(this.due.pop(), t);
      }
    }
    while (this.timers.size > 0) {
      const t = this.timers.peek();
      this.watermark = t;
      this.fireTimers(this.timers.pop(), t);
    }
    this.flushing = false;
  }

  stats(): KeyedWindowStats {
    let open = 0;
    let keys = this.keys.size;
    if (this.aligned) {
      // Keys with an open window, from the timer index (aligned windows keep no per-key map).
      const seen = new Set<string>();
      this.due.forEach((skey) => seen.add(skey.slice(0, 1) + skey.slice(skey.indexOf(':') + 1)));
      keys = seen.size;
      open = this.opened;
    } else {
      for (const wins of this.keys.values()) open += wins.length;
    }
    return {
      watermark: this.watermark,
      keys,
      openWindows: open + this.closed,
      finals: this.finals,
      revisions: this.revisions,
      early: this.earlies,
      late: this.late,
    };
  }

  // ---- records -------------------------------------------------------------------

  private winsOf(key: K): Win<K, A>[] {
    let wins = this.keys.get(key);
    if (wins === undefined) {
      wins = [];
      this.keys.set(key, wins);
      this.lists.set(storeKey(key), wins);
      this.lists.pin(storeKey(key));
    }
    return wins;
  }

  private newWin(key: K, start: number, end: number, skey: string): Win<K, A> {
    return {
      key,
      start,
      end,
      acc: this.agg.create(),
      revision: -1,
      fired: false,
      dirty: true,
      nextEarly: this.early > 0 ? start + this.early : Infinity,
      supersedes: null,
      seq: this.seq++,
      skey,
    };
  }

  private addAligned(key: K, event: RecordEvent<T>): void {
    const t = event.time;
    const W = this.watermark;
    const size = this.size;
    const last = alignedStart(t, this.slide, this.offset);
    let accepted = false;
    // Windows containing t start at last, last − slide, … down to > t − size.
    for (let start = last; start > t - size; start -= this.slide) {
      const end = start + size;
      if (W >= end + this.lateness) continue;
      accepted = true;
      const skey = windowKey(key, start);
      let win = this.windows.get(skey);
      if (W < end) {
        // Open: in the store, its key in the timer index.
        if (win === undefined) {
          win = this.newWin(key, start, end, skey);
          this.windows.set(skey, win);
          this.due.add(end, skey);
          if (win.nextEarly < end) this.due.add(win.nextEarly, skey);
          this.opened++;
        } else {
          this.windows.changed(skey);
        }
        win.acc = this.agg.add(win.acc, event.value, t);
        win.dirty = true;
        continue;
      }
      // Fired and within the allowed lateness: in the store.
      if (win === undefined) {
        win = this.newWin(key, start, end, skey);
        this.windows.set(skey, win);
        this.expireLater(start);
        this.closed++;
      }
      win.acc = this.agg.add(win.acc, event.value, t);
      this.fire(key, win);
      this.windows.changed(skey);
      this.windows.settle(skey);
    }
    if (!accepted) this.rejectLate(event);
  }

  private addSession(key: K, event: RecordEvent<T>, gap: number): void {
    const t = event.time;
    const W = this.watermark;
    const wins = this.keys.get(key);
    let first = -1;
    let lastIdx = -1;
    let start = t;
    let end = t + gap;
    if (wins !== undefined) {
      for (let i = 0; i < wins.length; i++) {
        const w = wins[i] as Win<K, A>;
        if (w.start < t + gap && t < w.end) {
          if (first < 0) first = i;
          lastIdx = i;
          if (w.start < start) start = w.start;
          if (w.end > end) end = w.end;
        }
      }
    }
    if (W >= end + this.lateness) {
      this.rejectLate(event);
      return;
    }
    if (first < 0) {
      const list = this.winsOf(key);
      const win = this.newWin(key, start, end, '');
      let i = list.length;
      while (i > 0 && (list[i - 1] as Win<K, A>).start > start) i--;
      list.splice(i, 0, win);
      this.registerWin(key, win);
      win.acc = this.agg.add(win.acc, event.value, t);
      if (W >= end) this.fire(key, win);
      return;
    }
    const list = wins as Win<K, A>[];
    const target = list[first] as Win<K, A>;
    let supersedes: WindowBounds[] | null = target.supersedes;
    let revision = target.revision;
    const changed = target.start !== start || target.end !== end;
    if (changed && target.revision >= 0) (supersedes ??= []).push({ start: target.start, end: target.end });
    for (let i = first + 1; i <= lastIdx; i++) {
      const other = list[i] as Win<K, A>;
      target.acc = this.agg.merge(target.acc, other.acc);
      if (other.revision >= 0) (supersedes ??= []).push({ start: other.start, end: other.end });
      if (other.supersedes !== null) (supersedes ??= []).push(...other.supersedes);
      if (other.revision > revision) revision = other.revision;
      if (other.nextEarly < target.nextEarly) target.nextEarly = other.nextEarly;
    }
    if (lastIdx > first) list.splice(first + 1, lastIdx - first);
    target.acc = this.agg.add(target.acc, event.value, t);
    target.supersedes = supersedes;
    target.revision = revision;
    target.dirty = true;
    if (changed) {
      target.start = start;
      target.end = end;
      target.fired = false;
      this.timers.add(end, key);
      if (this.lateness > 0) this.timers.add(end + this.lateness, key);
      if (this.early > 0 && target.nextEarly < end) this.timers.add(target.nextEarly, key);
    }
    if (W >= end) this.fire(key, target);
  }

  private addSliding(key: K, event: RecordEvent<T>): void {
    const t = event.time;
    const W = this.watermark;
    if (W >= t + 1 + this.lateness) {
      this.rejectLate(event);
      return;
    }
    const wins = this.winsOf(key);
    let idx = wins.length;
    while (idx > 0 && (wins[idx - 1] as Win<K, A>).start >= t) idx--;
    let own = wins[idx];
    if (own === undefined || own.start !== t) {
      own = { key, start: t, end: t + 1, acc: this.agg.create(), revision: -1, fired: false, dirty: false, nextEarly: Infinity, supersedes: null, seq: this.seq++, skey: '' };
      wins.splice(idx, 0, own);
      this.registerSliding(key, t);
    }
    own.acc = this.agg.add(own.acc, event.value, t);
    // The windows of buckets t … t + size − 1 contain this record.
    const limit = t + this.size - 1;
    for (let i = idx; i < wins.length; i++) {
      const b = wins[i] as Win<K, A>;
      if (b.start > limit) break;
      if (b.fired) {
        if (W < b.end + this.lateness) this.fireSliding(key, wins, i);
      } else if (W >= b.end) {
        this.fireSliding(key, wins, i);
      }
    }
  }

  private rejectLate(event: RecordEvent<T>): void {
    this.late++;
    if (this.onLate !== undefined) this.onLate(event);
  }

  private registerWin(key: K, win: Win<K, A>): void {
    if (!win.fired) this.timers.add(win.end, key);
    if (this.lateness > 0) this.timers.add(win.end + this.lateness, key);
    if (!win.fired && win.nextEarly < win.end) this.timers.add(win.nextEarly, key);
  }

  private registerSliding(key: K, t: number): void {
    this.timers.add(t + 1, key);
    if (this.lateness > 0) this.timers.add(t + 1 + this.lateness, key);
    if (this.size > 1) this.timers.add(t + this.size + this.lateness, key);
  }

  // ---- emission ------------------------------------------------------------------

  private fire(key: K, win: Win<K, A>): void {
    win.fired = true;
    win.dirty = false;
    const type = win.revision >= 0 ? 'revision' : 'final';
    win.revision++;
    if (type === 'final') this.finals++;
    else this.revisions++;
    const out: WindowResult<K, R> =
      win.supersedes === null
        ? { type, key, window: { start: win.start, end: win.end }, value: this.agg.result(win.acc), revision: win.revision }
        : { type, key, window: { start: win.start, end: win.end }, value: this.agg.result(win.acc), revision: win.revision, supersedes: win.supersedes };
    win.supersedes = null;
    this.emit(out);
  }

  private fireSliding(key: K, wins: Win<K, A>[], i: number): void {
    const b = wins[i] as Win<K, A>;
    const from = b.start - this.size;
    let acc = this.agg.create();
    for (let j = i; j >= 0; j--) {
      const c = wins[j] as Win<K, A>;
      if (c.start <= from) break;
      acc = this.agg.merge(acc, c.acc);
    }
    b.fired = true;
    const type = b.revision >= 0 ? 'revision' : 'final';
    b.revision++;
    if (type === 'final') this.finals++;
    else this.revisions++;
    this.emit({ type, key, window: { start: from + 1, end: b.end }, value: this.agg.result(acc), revision: b.revision });
  }

  private advance(time: number): void {
    if (!(time > this.watermark)) return;
    this.watermark = time;
    if (this.aligned) {
      const due = this.due;
      while (due.peek() <= time) {
        const t = due.peek();
        this.fireAligned(due.pop(), t);
      }
    }
    const timers = this.timers;
    while (timers.peek() <= time) {
      const t = timers.peek();
      this.fireTimers(timers.pop(), t);
    }
    const expiry = this.expiry;
    while (expiry.peek() <= time) for (const start of expiry.pop()) this.expire(start);
  }

  /** Aligned: every window starting at `start` goes once its lateness has passed. */
  private expireLater(start: number): void {
    if (this.expiring.has(start)) return;
    this.expiring.add(start);
    this.expiry.add(start + this.size + this.lateness, start);
  }

  /** Deletes every window that starts at `start` (all fired: their end is past the watermark). */
  private expire(start: number): void {
    this.expiring.delete(start);
    const windows = this.windows;
    // Collected first: a store's key scan must not see its own deletions.
    const skeys = [...windows.keys(`n${start}:`), ...windows.keys(`s${start}:`)];
    for (let i = 0; i < skeys.length; i++) windows.delete(skeys[i] as string);
    this.closed -= skeys.length;
  }

  private fireTimers(keys: K[], t: number): void {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as K;
      const wins = this.keys.get(key);
      if (wins === undefined) continue;
      if (this.spec.kind === 'sliding') this.onSlidingTimer(key, wins, t);
      else this.onTimer(key, wins, t);
      this.touch(key);
    }
  }

  /**
   * Aligned windows due at `t`: fires those that ended by then (they stay in the store
   * for the allowed lateness) and early results due, in creation order.
   */
  private fireAligned(skeys: string[], t: number): void {
    const wins: Win<K, A>[] = [];
    let sorted = true;
    for (let i = 0; i < skeys.length; i++) {
      const w = this.windows.get(skeys[i] as string);
      if (w === undefined || w.fired) continue;
      if (wins.length > 0 && (wins[wins.length - 1] as Win<K, A>).seq > w.seq) sorted = false;
      wins.push(w);
    }
    if (!sorted) wins.sort((a, b) => a.seq - b.seq);
    for (let i = 0; i < wins.length; i++) {
      const win = wins[i] as Win<K, A>;
      if (win.end <= t) {
        this.fire(win.key, win);
        this.opened--;
        if (this.lateness > 0) {
          this.windows.changed(win.skey);
          this.windows.settle(win.skey);
          this.expireLater(win.start);
          this.closed++;
        } else {
          this.windows.delete(win.skey);
        }
        continue;
      }
      if (win.nextEarly <= t) {
        this.fireEarly(win.key, win, t);
        if (win.nextEarly < win.end) this.due.add(win.nextEarly, win.skey);
        this.windows.changed(win.skey);
      }
    }
  }

  private onTimer(key: K, wins: Win<K, A>[], t: number): void {
    let keep = 0;
    for (let i = 0; i < wins.length; i++) {
      const win = wins[i] as Win<K, A>;
      if (!win.fired) {
        if (win.end <= t) this.fire(key, win);
        else if (win.nextEarly <= t) {
          this.fireEarly(key, win, t);
          if (win.nextEarly < win.end) this.timers.add(win.nextEarly, key);
        }
      }
      if (win.fired && win.end + this.lateness <= t) continue;
      wins[keep++] = win;
    }
    wins.length = keep;
  }

  private fireEarly(key: K, win: Win<K, A>, t: number): void {
    if (win.dirty && !this.flushing) {
      win.dirty = false;
      this.earlies++;
      this.emit({ type: 'early', key, window: { start: win.start, end: win.end }, value: this.agg.result(win.acc), revision: 0 });
    }
    const steps = Math.floor((t - win.nextEarly) / this.early) + 1;
    win.nextEarly += steps * this.early;
  }

  private onSlidingTimer(key: K, wins: Win<K, A>[], t: number): void {
    for (let i = 0; i < wins.length; i++) {
      const b = wins[i] as Win<K, A>;
      if (b.start >= t) break;
      if (!b.fired && b.end <= t) this.fireSliding(key, wins, i);
    }
    const horizon = this.size + this.lateness;
    let drop = 0;
    while (drop < wins.length && (wins[drop] as Win<K, A>).start + horizon <= t) drop++;
    if (drop > 0) wins.splice(0, drop);
  }
}
