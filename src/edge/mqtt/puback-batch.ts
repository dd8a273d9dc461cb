/**
 * Encodes `count` MQTT 5 PUBACKs (reason code 0, no properties) for the packet ids in
 * `ids[0..count)` into one buffer, so that a batch of acknowledgements costs one socket
 * write. MQTT 5 §3.4.2.1 lets the reason code and property length be omitted when the
 * reason is Success and there are no properties, which makes each PUBACK 4 bytes:
 * `0x40 0x02 <id hi> <id lo>`, byte-identical to what `mqtt-packet` generates.
 *
 * @example
 * encodePubacks(Uint16Array.of(1, 258), 2); // <40 02 00 01 40 02 01 02>
 */
export function encodePubacks(ids: Uint16Array, count: number): Buffer {
  const buf = Buffer.allocUnsafe(count * 4);
  for (let i = 0, o = 0; i < count; i++, o += 4) {
    const id = ids[i] as number;
    buf[o] = 0x40;
    buf[o + 1] = 0x02;
    buf[o + 2] = id >> 8;
    buf[o + 3] = id & 0xff;
  }
  return buf;
}
