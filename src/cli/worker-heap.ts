import { setFlagsFromString } from 'node:v8';

/**
 * Caps how far V8 grows the heap past what survived its last full GC (config
 * `worker.heapGrowingPercent`; 0 leaves V8's own sizing). V8 sizes the old generation from
 * its GC and allocation speeds, up to 4× the live heap with the heap limit Node picks on a
 * machine with plenty of memory (2 GB or more): a pipeline worker promotes a steady stream
 * of short-lived batches and commit buffers, so its heap settled at 2–2.5× the live state,
 * most of its RSS at 100,000 devices. V8 reads the flag at every full GC, so setting it once the
 * process runs takes effect from the next one.
 */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
