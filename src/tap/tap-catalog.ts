import type { Bus, BusAdmin } from '../bus';
import { StreamKeyring, type StreamDataKey } from '../crypto';
import { VigilError } from '../errors';
import { StreamTap, type StreamTapOptions } from './stream-tap';
import { verifyTapToken } from './tap-token';

/** Options of `TapCatalog`. */
export interface TapCatalogOptions {
  readonly bus: Bus;
  /**
   * The streams this process serves to tap clients, each with the stream keys that open it
   * (more than one during a key rotation). A stream not listed here cannot be tapped.
   */
  readonly streams: Readonly<Record<string, readonly StreamDataKey[]>>;
}

/** What `TapCatalog.open` takes besides the stream: `StreamTapOptions` without bus, stream and keyring. */
export type CatalogTapOptions = Omit<StreamTapOptions, 'bus' | 'stream' | 'keyring'>;

/**
 * The streams a server offers to remote analysts (the WebSocket tap), with the keys it holds
 * for each. It checks tap tokens (`tapToken`) and opens taps; each stream's records are
 * opened only with that stream's own keys, so a token for one stream never reads another.
 *
 * @example
 * const catalog = new TapCatalog({ bus, streams: { 'telemetry.position': [positionKey] } });
 * catalog.authorize('telemetry.position', token); // true for tapToken(positionKey, 'telemetry.position')
 */
export class TapCatalog {
  private readonly keys = new Map<string, readonly StreamDataKey[]>();
  private admin: BusAdmin | undefined;

  constructor(private readonly options: TapCatalogOptions) {
    if (typeof options !== 'object' || options === null || typeof options.streams !== 'object' || options.streams === null) {
      throw new VigilError('VIGIL_E_TAP_OPTIONS', 'tap catalog option streams: must map stream names to their stream keys', { details: { option: 'streams' } });
    }
    for (const [stream, keys] of Object.entries(options.streams)) {
      if (!Array.isArray(keys) || keys.length === 0) {
        throw new VigilError('VIGIL_E_TAP_OPTIONS', `tap catalog option streams.${stream}: give at least one stream key`, { details: { option: `streams.${stream}` } });
      }
      // Through a keyring: it checks every key and copies the bytes.
      const ring = new StreamKeyring(keys);
      this.keys.set(stream, ring.ids().map((id) => ring.get(id)));
    }
  }

  /**
   * Replaces the keys of an offered stream (a rotated key ring): tokens of the new keys are
   * accepted and taps opened from now on read records under any of them.
   */
  setKeys(stream: string, keys: readonly StreamDataKey[]): void {
    if (!this.keys.has(stream)) throw new VigilError('VIGIL_E_TAP_OPTIONS', `stream ${stream} is not offered for tapping`, { details: { stream } });
    if (keys.length === 0) throw new VigilError('VIGIL_E_TAP_OPTIONS', `tap catalog: give at least one key for ${stream}`, { details: { stream } });
    const ring = new StreamKeyring(keys);
    this.keys.set(stream, ring.ids().map((id) => ring.get(id)));
  }

  /** Streams offered, in the order given. */
  streams(): string[] {
    return [...this.keys.keys()];
  }

  /** Whether `stream` is offered (whether or not its topic exists yet). */
  has(stream: string): boolean {
    return this.keys.has(stream);
  }

  /** Whether `token` is the tap token of an offered `stream` under one of its keys. */
  authorize(stream: string, token: string | null | undefined): boolean {
    const keys = this.keys.get(stream);
    return keys !== undefined && verifyTapToken(token, stream, keys);
  }

  /** Whether `stream` is offered and its topic exists on the bus. */
  async exists(stream: string): Promise<boolean> {
    if (!this.keys.has(stream)) return false;
    this.admin ??= this.options.bus.admin();
    return (await this.admin.describeTopic(stream)) !== null;
  }

  /**
   * Opens a tap of an offered stream with that stream's keys.
   *
   * @throws VigilError `VIGIL_E_TAP_OPTIONS` (not offered), and what `StreamTap.open` throws
   */
  open(stream: string, options: CatalogTapOptions): Promise<StreamTap> {
    const keys = this.keys.get(stream);
    if (keys === undefined) {
      return Promise.reject(new VigilError('VIGIL_E_TAP_OPTIONS', `stream ${stream} is not offered for tapping; offered: ${this.streams().join(', ') || 'none'}`, { details: { stream } }));
    }
    return StreamTap.open({ ...options, bus: this.options.bus, stream, keyring: new StreamKeyring(keys) });
  }

  /** Releases the admin client used by `exists`. The bus stays open (it belongs to the caller). */
  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.close();
  }
}
