import { CompressionCodecs, CompressionTypes } from 'kafkajs';

/** The part of lz4-napi this codec uses (LZ4 frames, as Kafka's LZ4 record batches carry). */
interface Lz4Napi {
  compressFrame(data: Buffer): Promise<Buffer>;
  decompressFrame(data: Buffer): Promise<Buffer>;
  compressFrameSync(data: Buffer): Buffer;
}

let lz4: Lz4Napi | null | undefined;

/** lz4-napi (prebuilt, Rust lz4_flex), loaded once; null when it does not load on this platform. */
export function loadLz4(): Lz4Napi | null {
  if (lz4 === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      lz4 = require('lz4-napi') as Lz4Napi;
    } catch {
      lz4 = null;
    }
  }
  return lz4;
}

/**
 * Registers an LZ4 codec with kafkajs (which has only gzip built in), so that every Vigil
 * client writes and reads LZ4 record batches: the LZ4 frame format Kafka's own clients use
 * (independent blocks; the broker decompresses a batch to validate it). Off the event loop
 * (lz4-napi runs on the thread pool). True when LZ4 is available.
 */
export function registerLz4Codec(): boolean {
  const l = loadLz4();
  if (l === null) return false;
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: (encoder: { buffer: Buffer }) => l.compressFrame(encoder.buffer),
    decompress: (buffer: Buffer) => l.decompressFrame(buffer),
  });
  return true;
}

/** LZ4 frame size of `data`, synchronously (the relay's budget estimates a batch before sending it). */
export function lz4FrameSize(data: Buffer): number {
  const l = loadLz4();
  if (l === null) return data.length;
  return l.compressFrameSync(data).length;
}
