import { generate } from 'mqtt-packet';
import { encodePubacks } from '../../../src/edge/mqtt';

describe('encodePubacks', () => {
  it('is byte-identical to mqtt-packet PUBACKs (MQTT 5, reason Success), concatenated', () => {
    const ids = Uint16Array.of(1, 255, 256, 258, 65535);
    const expected = Buffer.concat([...ids].map((messageId) => generate({ cmd: 'puback', messageId, reasonCode: 0 }, { protocolVersion: 5 })));
    expect(encodePubacks(ids, ids.length)).toEqual(expected);
    expect(encodePubacks(ids, 2)).toEqual(expected.subarray(0, 8));
    expect(encodePubacks(ids, 0)).toHaveLength(0);
  });
});
