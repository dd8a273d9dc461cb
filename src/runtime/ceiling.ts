import { classificationRank, type ClassificationLabel } from '../codec';

/**
 * Whether a result labelled `label` may be published on a stream whose ceiling is
 * `ceiling`: its level is at most the ceiling's, and it is releasable to every nation or
 * community the stream is released to (its releasability includes the ceiling's).
 *
 * @example
 * withinCeiling(makeLabel('SECRET', ['GBR', 'USA']), makeLabel('SECRET', ['GBR'])); // true
 * withinCeiling(makeLabel('SECRET', ['USA']), makeLabel('SECRET', ['GBR']));        // false: not releasable to GBR
 */
export function withinCeiling(label: ClassificationLabel, ceiling: ClassificationLabel): boolean {
  if (classificationRank(label.level) > classificationRank(ceiling.level)) return false;
  // Both lists are sorted and unique (validateLabel), so one merge pass decides inclusion.
  const have = label.releasability;
  let i = 0;
  for (const need of ceiling.releasability) {
    while (i < have.length && (have[i] as string) < need) i++;
    if (have[i] !== need) return false;
    i++;
  }
  return true;
}
