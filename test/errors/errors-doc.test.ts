import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, VigilError, isVigilError, isVigilErrorCode } from '../../src/errors';

const DOC = join(__dirname, '..', '..', 'docs', 'errors.md');

function documentedCodes(): Map<string, boolean> {
  const rows = new Map<string, boolean>();
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const m = /^\|\s*`(VIGIL_E_[A-Z0-9_]+)`\s*\|\s*(yes|no)\s*\|/.exec(line);
    if (m) {
      expect(rows.has(m[1] as string)).toBe(false);
      rows.set(m[1] as string, m[2] === 'yes');
    }
  }
  return rows;
}

describe('docs/errors.md', () => {
  it('lists exactly the codes of src/errors/codes.ts, with the same retriable flag', () => {
    const doc = documentedCodes();
    const code = new Map(Object.entries(ERROR_CODES).map(([k, v]) => [k, v.retriable]));
    expect([...doc.keys()].sort()).toEqual([...code.keys()].sort());
    for (const [k, retriable] of code) expect({ k, retriable: doc.get(k) }).toEqual({ k, retriable });
  });

  it('uses the VIGIL_E_ prefix for every code', () => {
    for (const k of Object.keys(ERROR_CODES)) expect(k).toMatch(/^VIGIL_E_[A-Z0-9_]+$/);
  });
});

describe('VigilError', () => {
  it('takes retriable from the code list unless overridden, and keeps the cause', () => {
    const cause = new Error('econnrefused');
    const e = new VigilError('VIGIL_E_SERVICE_START', 'kafka did not start', { cause, details: { service: 'kafka' } });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('VigilError');
    expect(e.retriable).toBe(true);
    expect(e.cause).toBe(cause);
    expect(e.details).toEqual({ service: 'kafka' });
    expect(new VigilError('VIGIL_E_SERVICE_START', 'x', { retriable: false }).retriable).toBe(false);
    expect(new VigilError('VIGIL_E_CONFIG_INVALID', 'x').retriable).toBe(false);
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      name: 'VigilError', code: 'VIGIL_E_SERVICE_START', message: 'kafka did not start', retriable: true, details: { service: 'kafka' },
    });
  });

  it('is recognised by isVigilError, optionally by code', () => {
    const e = new VigilError('VIGIL_E_PORT_IN_USE', 'port 1883 is taken');
    expect(isVigilError(e)).toBe(true);
    expect(isVigilError(e, 'VIGIL_E_PORT_IN_USE')).toBe(true);
    expect(isVigilError(e, 'VIGIL_E_CONFIG_READ')).toBe(false);
    expect(isVigilError(new Error('x'))).toBe(false);
    expect(isVigilErrorCode('VIGIL_E_PORT_IN_USE')).toBe(true);
    expect(isVigilErrorCode('VIGIL_E_NOPE')).toBe(false);
  });
});
