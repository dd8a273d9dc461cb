/**
 * The partition of a key: FNV-1a over the key bytes. Consistent per key (what ordering
 * needs); not Kafka's murmur2, so the same key may land on another partition number than
 * on Kafka, which no Vigil component relies on.
 *
 * @example
 * partitionForKey(Buffer.from('ugv-7'), 12); // always the same partition in 0..11
 */
export function partitionForKey(key: Buffer, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key[i] as number;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
