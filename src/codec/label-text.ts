import { CLASSIFICATION_LEVELS, classificationRank, makeLabel, type ClassificationLabel, type ClassificationLevel } from './label';
import { VigilError } from '../errors';

const REL_TO = /^REL(?:EASABLE)?\s+TO\s+(.+)$/;

/**
 * Parses a label as people write it: a level, optionally `//REL TO` and the nations or
 * communities it is releasable to, e.g. `SECRET//REL TO FRA, GBR` or `UNCLASSIFIED`.
 * `TOP SECRET` is taken for `TOP_SECRET`. The result is a `makeLabel` label, so it compares
 * with record labels exactly as the pipelines' ceilings do.
 *
 * @example
 * parseLabelText('SECRET//REL TO GBR, FRA'); // { level: 'SECRET', releasability: ['FRA', 'GBR'] }
 * @throws VigilError `VIGIL_E_LABEL_INVALID`
 */
export function parseLabelText(text: string): ClassificationLabel {
  if (typeof text !== 'string') throw labelTextError(String(text), 'expected a string such as "SECRET//REL TO FRA, GBR"');
  const parts = text.split('//').map((p) => p.trim());
  const level = (parts[0] ?? '').replace(/\s+/g, '_').toUpperCase();
  if (classificationRank(level) < 0) throw labelTextError(text, `the level must be one of ${CLASSIFICATION_LEVELS.join(', ')}`);
  if (parts.length > 2) throw labelTextError(text, 'expected at most one "//" (LEVEL//REL TO A, B)');
  let codes: string[] = [];
  if (parts.length === 2) {
    const m = REL_TO.exec(parts[1] as string);
    if (m === null) throw labelTextError(text, 'after "//" expected "REL TO" and a comma-separated list, e.g. "REL TO FRA, GBR"');
    codes = (m[1] as string).split(',').map((c) => c.trim());
    if (codes.some((c) => c.length === 0)) throw labelTextError(text, 'an empty releasability code (two commas, or a comma at the end)');
  }
  try {
    return makeLabel(level as ClassificationLevel, codes);
  } catch (err) {
    throw labelTextError(text, (err as Error).message);
  }
}

/** The text form of a label: `SECRET//REL TO FRA, GBR`, or the level alone when releasable to nobody in particular. */
export function formatLabel(label: ClassificationLabel): string {
  return label.releasability.length === 0 ? label.level : `${label.level}//REL TO ${label.releasability.join(', ')}`;
}

function labelTextError(text: string, problem: string): VigilError {
  return new VigilError('VIGIL_E_LABEL_INVALID', `label ${JSON.stringify(text)}: ${problem}`, { details: { field: 'label' } });
}
