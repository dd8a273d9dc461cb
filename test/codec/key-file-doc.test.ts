import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKeyFile } from '../../src/crypto';

/** docs/wire-format.md §13 documents the key-file format; its example must be one the product reads. */
describe('docs/wire-format.md §13 key files', () => {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'wire-format.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## 13. Key files'));
  const example = /```json\n([\s\S]*?)\n```/.exec(section)?.[1] ?? '';

  it('has an example device key file that the reader accepts, public halves matching', () => {
    const file = parseKeyFile(example, 'wire-format.md §13');
    expect(file.type).toBe('device');
    if (file.type !== 'device') return;
    expect(file.keys.deviceId).toBe('uav-7');
    expect(file.keys.epoch).toBe(1);
    expect(Buffer.from(file.keys.box.publicKey).toString('base64')).toBe('xXfeBvftuPIgU/+aRhr+oWEMEY3m5ftB22gfJJlBcEY=');
  });

  it('says what the reader refuses: a mismatched public key names its field', () => {
    const tampered = example.replace('"publicKey": "xXfe', '"publicKey": "yXfe');
    expect(() => parseKeyFile(tampered, 'x')).toThrow(/box\.publicKey/);
  });
});
