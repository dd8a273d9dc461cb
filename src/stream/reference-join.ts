import { isObservable, Observable } from 'rxjs';
import { invalid, requireFunction, requireObject } from './options';

/** A reference snapshot: key → data (per-device thresholds, unit roster, …). */
export type ReferenceSnapshot<V> = ReadonlyMap<string, V> | Readonly<Record<string, V>>;

function toMap<V>(snapshot: ReferenceSnapshot<V>): ReadonlyMap<string, V> {
  if (snapshot instanceof Map) return snapshot;
  if (typeof snapshot !== 'object' || snapshot === null) invalid('ReferenceTable', 'snapshot', snapshot, 'expected a Map or a plain object');
  return new Map(Object.entries(snapshot as Readonly<Record<string, V>>));
}

/**
 * Reference data that a running stream joins against and that can be replaced at run
 * time without restarting the stream. `replace()` swaps the whole snapshot atomically
 * between two records, so a record never sees half of an update.
 *
 * @example
 * const thresholds = new ReferenceTable<{ maxTempC: number }>({ 'dev-1': { maxTempC: 80 } });
 * records$.pipe(joinReference(thresholds, { key: (r) => r.deviceId, join: (r, t) => ({ ...r, maxTempC: t?.maxTempC ?? 90 }) }));
 * thresholds.replace(newSnapshot); // from the registry, at any time
 */
export class ReferenceTable<V> {
  private data: ReadonlyMap<string, V>;
  private generation = 0;

  constructor(initial: ReferenceSnapshot<V> = new Map()) {
    this.data = toMap(initial);
  }

  /** Replaces every entry; records from now on see the new data. */
  replace(snapshot: ReferenceSnapshot<V>): void {
    this.data = toMap(snapshot);
    this.generation++;
  }

  get(key: string): V | undefined {
    return this.data.get(key);
  }

  get size(): number {
    return this.data.size;
  }

  /** How many times the data was replaced: lets a sink tag results with the reference version. */
  get version(): number {
    return this.generation;
  }
}

export interface JoinReferenceOptions<T, V, U> {
  /** Key of the record in the reference data. */
  readonly key: (record: T) => string;
  /** Builds the output from the record and its reference entry (`undefined` when there is none). */
  readonly join: (record: T, reference: V | undefined) => U;
}

/**
 * Joins each record with the current entry of reference data: a `ReferenceTable` (replace
 * it at any time) or an Observable of snapshots (each one replaces the last; records
 * before the first see `undefined`). Stateless for checkpoints: the reference data is
 * reloaded from its source, not from the pipeline's state.
 *
 * @example
 * records$.pipe(joinReference(roster$, { key: (r) => r.deviceId, join: (r, unit) => ({ ...r, unit: unit?.name ?? 'unassigned' }) }));
 */
export function joinReference<T, V, U>(
  reference: ReferenceTable<V> | Observable<ReferenceSnapshot<V>>,
  options: JoinReferenceOptions<T, V, U>,
): (source: Observable<T>) => Observable<U> {
  if (!(reference instanceof ReferenceTable) && !isObservable(reference)) invalid('joinReference', 'reference', reference, 'expected a ReferenceTable or an Observable of snapshots');
  requireObject('joinReference', options);
  requireFunction('joinReference', 'key', options.key);
  requireFunction('joinReference', 'join', options.join);
  const { key, join } = options;
  return (source) =>
    new Observable<U>((subscriber) => {
      let table: ReferenceTable<V>;
      if (reference instanceof ReferenceTable) {
        table = reference;
      } else {
        const own = new ReferenceTable<V>();
        table = own;
        subscriber.add(
          reference.subscribe({
            next: (snapshot) => {
              try {
                own.replace(snapshot);
              } catch (err) {
                subscriber.error(err);
              }
            },
            error: (err: unknown) => subscriber.error(err),
          }),
        );
      }
      subscriber.add(
        source.subscribe({
          next: (record) => {
            let out: U;
            try {
              out = join(record, table.get(key(record)));
            } catch (err) {
              subscriber.error(err);
              return;
            }
            subscriber.next(out);
          },
          error: (err: unknown) => subscriber.error(err),
          complete: () => subscriber.complete(),
        }),
      );
    });
}
