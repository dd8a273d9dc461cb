import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaSecurity, loadKafkaSasl } from '../../src/cli/tls-files';
import { isVigilError, type VigilError } from '../../src/errors';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-sasl-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const at = (p: string): string => join(dir, p);

function failure(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (e) {
    if (isVigilError(e)) return e;
    throw e;
  }
  throw new Error('expected a VigilError');
}

describe('kafka.sasl and kafka.ssl files', () => {
  it('reads the password from a 0600 file (one line) or a variable, and never says it', () => {
    writeFileSync(at('kafka.pass'), 's3cret-pass\n', { mode: 0o600 });
    expect(loadKafkaSasl({ mechanism: 'scram-sha-512', username: 'gw-1', passwordFile: 'kafka.pass' }, at)).toEqual({ mechanism: 'scram-sha-512', username: 'gw-1', password: 's3cret-pass' });
    expect(loadKafkaSasl({ mechanism: 'scram-sha-256', username: 'gw-1', passwordEnv: 'KAFKA_PW' }, at, { KAFKA_PW: 'from-env' }).password).toBe('from-env');
    const unset = failure(() => loadKafkaSasl({ mechanism: 'scram-sha-512', username: 'gw-1', passwordEnv: 'KAFKA_PW' }, at, {}));
    expect(unset.message).toContain('KAFKA_PW is not set');
    chmodSync(at('kafka.pass'), 0o640);
    const open = failure(() => loadKafkaSasl({ mechanism: 'scram-sha-512', username: 'gw-1', passwordFile: 'kafka.pass' }, at));
    expect(open.code).toBe('VIGIL_E_KEY_FILE_PERMISSIONS');
    expect(open.message).toContain('kafka.sasl.passwordFile');
    expect(open.message).not.toContain('s3cret-pass');
    writeFileSync(at('two.pass'), 'line1\nline2\n', { mode: 0o600 });
    const two = failure(() => loadKafkaSasl({ mechanism: 'scram-sha-512', username: 'gw-1', passwordFile: 'two.pass' }, at));
    expect(two.code).toBe('VIGIL_E_KEY_FILE_INVALID');
    expect(two.message).not.toContain('line1');
    expect(failure(() => loadKafkaSasl({ mechanism: 'scram-sha-512', username: 'gw-1', passwordFile: 'missing.pass' }, at)).code).toBe('VIGIL_E_KEY_FILE_READ');
  });

  it('names the kafka.ssl key of a file that is missing or not PEM', () => {
    writeFileSync(at('ca.crt'), 'not pem');
    const notPem = failure(() => kafkaSecurity({ ssl: { caFile: 'ca.crt' } }, at));
    expect(notPem.message).toContain('config key "kafka.ssl.caFile"');
    const missing = failure(() => kafkaSecurity({ ssl: { caFile: 'nope.crt' } }, at));
    expect(missing.code).toBe('VIGIL_E_KEY_FILE_READ');
    expect(kafkaSecurity({}, at)).toEqual({});
  });
});
