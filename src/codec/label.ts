import { VigilError } from '../errors';

/** Classification levels, lowest first. */
export const CLASSIFICATION_LEVELS = ['UNCLASSIFIED', 'RESTRICTED', 'CONFIDENTIAL', 'SECRET', 'TOP_SECRET'] as const;
export type ClassificationLevel = (typeof CLASSIFICATION_LEVELS)[number];

/**
 * A classification and releasability label. `releasability` lists the country codes
 * (ISO 3166 alpha-3, e.g. `GBR`) and caveats/communities (e.g. `NATO`, `FVEY`) the data may
 * be released to, sorted and without duplicates so that equal labels have equal bytes.
 */
export interface ClassificationLabel {
  readonly level: ClassificationLevel;
  readonly releasability: readonly string[];
}

export const MAX_RELEASABILITY_ENTRIES = 32;
const CODE = /^[A-Z0-9][A-Z0-9_-]{1,15}$/;

function labelError(message: string, field: string): VigilError {
  return new VigilError('VIGIL_E_LABEL_INVALID', `classification label: ${message}`, { details: { field } });
}

/** Rank of a level (0 = UNCLASSIFIED); −1 when not a level. */
export function classificationRank(level: string): number {
  return (CLASSIFICATION_LEVELS as readonly string[]).indexOf(level);
}

/**
 * Builds a label, sorting and de-duplicating the releasability codes.
 *
 * @example
 * const label = makeLabel('SECRET', ['USA', 'GBR', 'GBR']); // releasability ['GBR', 'USA']
 * @throws VigilError `VIGIL_E_LABEL_INVALID`
 */
export function makeLabel(level: ClassificationLevel, releasability: Iterable<string> = []): ClassificationLabel {
  const codes = [...new Set(releasability)].sort();
  return validateLabel({ level, releasability: codes });
}

/**
 * Checks a label as it arrives (e.g. decoded from a record): known level, at most 32
 * releasability codes of `[A-Z0-9][A-Z0-9_-]{1,15}`, strictly ascending (sorted, unique).
 * Returns a frozen copy.
 */
export function validateLabel(value: unknown): ClassificationLabel {
  if (typeof value !== 'object' || value === null) throw labelError('must be an object', 'label');
  const { level, releasability } = value as { level?: unknown; releasability?: unknown };
  const known = internedLabel(level, releasability);
  if (known !== undefined) return known;
  if (typeof level !== 'string' || classificationRank(level) < 0) throw labelError(`level must be one of ${CLASSIFICATION_LEVELS.join(', ')}`, 'level');
  if (!Array.isArray(releasability)) throw labelError('releasability must be an array', 'releasability');
  if (releasability.length > MAX_RELEASABILITY_ENTRIES) throw labelError(`at most ${MAX_RELEASABILITY_ENTRIES} releasability codes`, 'releasability');
  for (let i = 0; i < releasability.length; i++) {
    const c = releasability[i] as unknown;
    if (typeof c !== 'string' || !CODE.test(c)) throw labelError(`releasability code ${i} must match ${String(CODE)}`, 'releasability');
    if (i > 0 && !((releasability[i - 1] as string) < c)) throw labelError('releasability must be sorted and without duplicates', 'releasability');
  }
  return intern(Object.freeze({ level: level as ClassificationLevel, releasability: Object.freeze([...(releasability as string[])]) }));
}

/**
 * Labels are few (a deployment has a handful of level/releasability combinations) and
 * arrive with every record: one frozen object per distinct label, shared by every record
 * and window that carries it, instead of a copy per record (a 100,000-device worker held
 * one per open window). Bounded: past `MAX_INTERNED` distinct labels new ones are not kept.
 */
const MAX_INTERNED = 4096;
const interned = new Map<string, ClassificationLabel>();

function internKey(level: string, releasability: readonly unknown[]): string {
  let key = level;
  for (let i = 0; i < releasability.length; i++) key += '|' + String(releasability[i]);
  return key;
}

function internedLabel(level: unknown, releasability: unknown): ClassificationLabel | undefined {
  if (typeof level !== 'string' || !Array.isArray(releasability)) return undefined;
  const hit = interned.get(internKey(level, releasability));
  // The key joins unvalidated values, so a hit counts only if it is the same list (a code containing '|' must not pass).
  if (hit === undefined || hit.level !== level || hit.releasability.length !== releasability.length) return undefined;
  for (let i = 0; i < releasability.length; i++) if (hit.releasability[i] !== releasability[i]) return undefined;
  return hit;
}

function intern(label: ClassificationLabel): ClassificationLabel {
  const key = internKey(label.level, label.releasability);
  const hit = interned.get(key);
  if (hit !== undefined) return hit;
  if (interned.size < MAX_INTERNED) interned.set(key, label);
  return label;
}

/**
 * The label of data combined from `a` and `b`: the higher classification and the
 * intersection of releasability (docs/architecture.md §3: releasable only where both inputs were).
 */
export function combineLabels(a: ClassificationLabel, b: ClassificationLabel): ClassificationLabel {
  const level = classificationRank(a.level) >= classificationRank(b.level) ? a.level : b.level;
  const other = new Set(b.releasability);
  return intern(Object.freeze({ level, releasability: Object.freeze(a.releasability.filter((c) => other.has(c))) }));
}
