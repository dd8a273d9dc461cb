import { boxSharedKey, generateDeviceKeys, generateIngestKeys, getCryptoBackend } from '../../src/crypto';
import { MAX_RECEIPT_RANGES, openReceipt, peekReceipt, receiptTopicOf, sealReceipt, type Receipt } from '../../src/codec';
import { isVigilError } from '../../src/errors';

const backend = getCryptoBackend('auto');
const ingest = generateIngestKeys('ingest-r');
const device = generateDeviceKeys('uav-7', 3);
const deviceSide = boxSharedKey(ingest.box.publicKey, device.box.secretKey, backend);
const gatewaySide = boxSharedKey(device.box.publicKey, ingest.box.secretKey, backend);
const receipt: Receipt = { deviceId: 'uav-7', epoch: 3, gatewayId: 'gw-1', ranges: [[5n, 9n], [12n, 12n], [0xffff_ffff_ffff_fff0n, 0xffff_ffff_ffff_ffffn]], refused: [[10n, 11n]] };

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isVigilError(err)) return err.code;
    throw err;
  }
  throw new Error('accepted');
}

describe('durable receipts (docs/wire-format.md §12)', () => {
  it('a receipt sealed by the gateway opens on the device with the same shared key, ranges intact', () => {
    const bytes = sealReceipt(receipt, gatewaySide, { backend });
    expect(peekReceipt(bytes)).toEqual({ deviceId: 'uav-7', epoch: 3 });
    expect(openReceipt(bytes, 'uav-7', (e) => (e === 3 ? deviceSide : undefined), backend)).toEqual(receipt);
  });

  it('refuses a changed byte anywhere, another device, another epoch or key, and malformed input', () => {
    const bytes = sealReceipt(receipt, gatewaySide, { backend });
    const key = (e: number): Uint8Array | undefined => (e === 3 ? deviceSide : undefined);
    for (let i = 0; i < bytes.length; i++) {
      const changed = Uint8Array.from(bytes);
      changed[i] = (changed[i] as number) ^ 0x01;
      expect(refusal(() => openReceipt(changed, 'uav-7', key, backend))).toBe('VIGIL_E_RECEIPT_INVALID');
    }
    expect(refusal(() => openReceipt(bytes, 'uav-8', key, backend))).toBe('VIGIL_E_RECEIPT_INVALID');
    expect(refusal(() => openReceipt(bytes, 'uav-7', () => undefined, backend))).toBe('VIGIL_E_RECEIPT_INVALID');
    const other = boxSharedKey(generateIngestKeys('x').box.publicKey, device.box.secretKey, backend);
    expect(refusal(() => openReceipt(bytes, 'uav-7', () => other, backend))).toBe('VIGIL_E_RECEIPT_INVALID');
    for (const junk of [new Uint8Array(0), Uint8Array.of(0x95), Uint8Array.of(0xc1), bytes.subarray(0, bytes.length - 1)]) {
      expect(refusal(() => openReceipt(junk, 'uav-7', key, backend))).toBe('VIGIL_E_RECEIPT_INVALID');
    }
  });

  it('seals only ascending, disjoint, bounded ranges', () => {
    const bad: Array<Receipt['ranges']> = [[], [[5n, 4n]], [[1n, 5n], [5n, 6n]], [[6n, 7n], [1n, 2n]], Array.from({ length: MAX_RECEIPT_RANGES + 1 }, (_, i) => [BigInt(i * 3), BigInt(i * 3)] as const)];
    for (const ranges of bad) expect(refusal(() => sealReceipt({ ...receipt, ranges, refused: [] }, gatewaySide, { backend }))).toBe('VIGIL_E_RECEIPT_INVALID');
    for (const refused of bad.slice(1)) expect(refusal(() => sealReceipt({ ...receipt, refused }, gatewaySide, { backend }))).toBe('VIGIL_E_RECEIPT_INVALID');
    // Refusals alone are a valid receipt.
    const onlyRefused = { ...receipt, ranges: [], refused: [[3n, 4n]] as const };
    expect(openReceipt(sealReceipt(onlyRefused, gatewaySide, { backend }), 'uav-7', () => deviceSide, backend)).toEqual({ ...onlyRefused, refused: [[3n, 4n]] });
  });

  it('is published beside the telemetry topic', () => {
    expect(receiptTopicOf('vigil/v1/north/recon-3/uav-7/telemetry')).toBe('vigil/v1/north/recon-3/uav-7/receipt');
  });
});
