import { combineLabels, validateLabel, type ClassificationLabel } from '../codec';
import type { Aggregate, JsonValue } from '../stream';

/**
 * An aggregate giving a window's result the label of its inputs: the highest
 * classification and the intersection of releasability (docs/architecture.md §3). Put it in the
 * window's `aggregate({...})` and pass the result as the output's `label`. Exact and
 * independent of arrival order; `undefined` for an empty window.
 *
 * @example
 * keyedWindow({ key: (r) => r.deviceId, window: tumbling(10_000), aggregate: aggregate({ n: count(), label: combinedLabel() }) });
 */
export function combinedLabel<T extends { readonly label: ClassificationLabel }>(): Aggregate<T, ClassificationLabel | null, ClassificationLabel | undefined> {
  return {
    create: () => null,
    // Records of one device mostly carry the same label: keep the object when nothing changes.
    add: (acc, r) => (acc === null ? r.label : sameLabel(acc, r.label) ? acc : combineLabels(acc, r.label)),
    merge: (a, b) => (a === null ? b : b === null ? a : combineLabels(a, b)),
    result: (acc) => acc ?? undefined,
    save: (acc): JsonValue => (acc === null ? null : [acc.level, [...acc.releasability]]),
    load: (json) => (json === null ? null : validateLabel({ level: (json as JsonValue[])[0], releasability: (json as JsonValue[])[1] })),
  };
}

/** Equal labels (level and releasability), without allocating: the common case per record. */
export function sameLabel(a: ClassificationLabel, b: ClassificationLabel): boolean {
  if (a === b) return true;
  if (a.level !== b.level || a.releasability.length !== b.releasability.length) return false;
  for (let i = 0; i < a.releasability.length; i++) if (a.releasability[i] !== b.releasability[i]) return false;
  return true;
}
