import type { BusHeaders } from './message';

const EMPTY: BusHeaders = Object.freeze({});

/** Strings become UTF-8 bytes; `undefined` becomes `null`. */
export function toBuffer(v: Buffer | string | null | undefined): Buffer | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

/** Headers as read back: every value as bytes. Shares one frozen empty object when there are none. */
export function toHeaders(h: Readonly<Record<string, Buffer | string | undefined | (Buffer | string)[]>> | undefined): BusHeaders {
  if (h === undefined) return EMPTY;
  let out: Record<string, Buffer> | undefined;
  for (const name of Object.keys(h)) {
    let v = h[name];
    // Kafka allows repeated header names; Vigil uses each name once, so the last one wins.
    if (Array.isArray(v)) v = v[v.length - 1];
    if (v === undefined) continue;
    (out ??= {})[name] = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  }
  return out ?? EMPTY;
}
