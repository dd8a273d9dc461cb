import { Observable } from 'rxjs';
import { VigilError } from '../errors';
import { StandaloneState, type KeyedStateful, type KeyedStateSnapshot } from './state';
import type { JsonValue, StatefulOperator } from './types';

/** The synchronous state machine behind a stateful operator; the rxjs plumbing is shared. */
export interface OperatorCore<I, O, S extends JsonValue> {
  /** Called once per subscription before any input, with the sink for outputs. */
  open(emit: (out: O) => void): void;
  next(input: I): void;
  /** The source completed: emit whatever completion means for this operator. */
  complete(): void;
  /** The subscription ended (completion, error or unsubscribe): release timers. */
  close(): void;
  snapshot(): S;
  restore(state: S): void;
}

/**
 * Wraps a core into a pipeable operator with `snapshot()`/`restore()`. The state lives in
 * the core, not in the subscription, so a checkpoint taken between two events can be
 * restored into a fresh instance before it is subscribed.
 */
export function statefulOperator<I, O, S extends JsonValue, X extends object = object>(
  name: string,
  core: OperatorCore<I, O, S>,
  extra?: X,
): StatefulOperator<I, O, S> & X {
  let active = false;
  const operator = (source: Observable<I>): Observable<O> =>
    new Observable<O>((subscriber) => {
      if (active) {
        subscriber.error(new VigilError('VIGIL_E_STREAM_STATE', `${name}: this operator instance is already subscribed; build one instance per pipeline`));
        return undefined;
      }
      active = true;
      core.open((out) => subscriber.next(out));
      const inner = source.subscribe({
        next: (input) => {
          // A throwing key or value function must end the stream with its error, not
          // escape into the producer.
          try {
            core.next(input);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          try {
            core.complete();
          } catch (err) {
            subscriber.error(err);
            return;
          }
          subscriber.complete();
        },
      });
      return () => {
        active = false;
        inner.unsubscribe();
        core.close();
      };
    });
  return Object.assign(operator, extra ?? ({} as X), {
    snapshot: (): S => core.snapshot(),
    restore: (state: S): void => {
      if (active) throw new VigilError('VIGIL_E_STREAM_STATE', `${name}: restore() while subscribed; restore before subscribing`);
      core.restore(state);
    },
  });
}

/** Checks the header every snapshot carries, so a snapshot cannot land in the wrong operator. */
export function checkSnapshot(name: string, state: unknown, settings: string): void {
  const s = state as { operator?: unknown; version?: unknown; settings?: unknown } | null;
  if (typeof s !== 'object' || s === null || s.operator !== name || s.version !== 1) {
    throw new VigilError('VIGIL_E_STREAM_STATE', `${name}: not a version-1 snapshot of this operator`);
  }
  if (s.settings !== settings) {
    throw new VigilError('VIGIL_E_STREAM_STATE', `${name}: snapshot was taken with settings ${String(s.settings)}, this operator has ${settings}`);
  }
}

/** The state machine of an operator whose state lives in keyed stores. */
export interface KeyedOperatorCore<I, O> extends KeyedStateful {
  open(emit: (out: O) => void): void;
  next(input: I): void;
  complete(): void;
  close(): void;
}

/**
 * Wraps a keyed-state core into a pipeable operator. It starts on in-memory stores, and
 * `snapshot()`/`restore()` save and load them whole (standalone use); the pipeline runtime
 * re-binds it to its own stores (`bindState`) and checkpoints changed keys only.
 */
export function keyedStatefulOperator<I, O, X extends object = object>(
  name: string,
  settings: string,
  core: KeyedOperatorCore<I, O>,
  extra?: X,
  /** What must match between the operator that saved runtime state and the one restoring it. Default `settings`. */
  stateSettings: string = settings,
): StatefulOperator<I, O, KeyedStateSnapshot> & KeyedStateful & X {
  const standalone = new StandaloneState(name, settings, core);
  standalone.reset();
  const snapshotCore: OperatorCore<I, O, KeyedStateSnapshot> = {
    open: (emit) => core.open(emit),
    next: (input) => core.next(input),
    complete: () => core.complete(),
    close: () => core.close(),
    snapshot: () => standalone.snapshot(),
    restore: (state) =>
      standalone.restore(state, (message) => {
        throw new VigilError('VIGIL_E_STREAM_STATE', message);
      }),
  };
  let bound = false;
  const op = statefulOperator(name, snapshotCore, extra);
  return Object.assign(op, {
    bindState: (provider: Parameters<KeyedStateful['bindState']>[0]): void => {
      if (bound) throw new VigilError('VIGIL_E_STREAM_STATE', `${name}: bindState() called twice; build one operator instance per pipeline partition`);
      bound = true;
      standalone.detach();
      core.bindState(provider);
    },
    // The settings travel with the operator-wide state: a store restored into an operator
    // built with other settings (another window size, another threshold) is refused.
    saveMeta: (): JsonValue => ({ settings: stateSettings, meta: core.saveMeta() }),
    restoreMeta: (saved: JsonValue): void => {
      if (saved === null) {
        core.restoreMeta(null);
        return;
      }
      const s = saved as { settings?: unknown; meta?: JsonValue };
      if (typeof s !== 'object' || typeof s.settings !== 'string') throw new VigilError('VIGIL_E_STREAM_STATE', `${name}: the saved state is not of this operator`);
      if (s.settings !== stateSettings) throw new VigilError('VIGIL_E_STREAM_STATE', `${name}: the state was saved with settings ${s.settings}, this operator has ${stateSettings}`);
      core.restoreMeta(s.meta ?? null);
    },
  });
}
