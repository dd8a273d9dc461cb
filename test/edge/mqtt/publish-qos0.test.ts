import { generate } from 'mqtt-packet';
import { encodePublishQos0 } from '../../../src/edge/mqtt';

describe('encodePublishQos0', () => {
  it('is byte-identical to mqtt-packet QoS 0 PUBLISHes, MQTT 5 and 3.1.1, at every remaining-length size edge', () => {
    for (const protocolVersion of [4, 5]) {
      for (const topic of ['', 'vigil/v1/north/u1/uav-7/receipt', 'é€𝄞/x'.repeat(10)]) {
        for (const n of [0, 1, 90, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152]) {
          const payload = Buffer.alloc(n, 7);
          const want = generate({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, { protocolVersion });
          expect(encodePublishQos0(topic, payload, protocolVersion).equals(want)).toBe(true);
        }
      }
    }
  });

  it('takes a Uint8Array view at an offset', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const want = generate({ cmd: 'publish', topic: 't', payload: Buffer.from([1, 2, 3]), qos: 0, retain: false, dup: false }, { protocolVersion: 5 });
    expect(encodePublishQos0('t', backing.subarray(2, 5), 5).equals(want)).toBe(true);
  });
});
