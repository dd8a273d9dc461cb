/**
 * Map symbology: which MIL-STD-2525C / APP-6 symbol the live map draws for a device (one
 * table, served to the page in `/map/config.json`, documented in the README's analyst
 * section).
 *
 * Telemetry records name the device (`deviceId`) but not its class: the class is in the
 * device registry (`class:`), which the console does not hold. The map therefore reads the
 * class from the device id's prefix, the convention `vigil sim provision` and the simulator
 * use (`veh-001`, `sol-012`, `ugs-003`, `uav-001`); a device id with another prefix is drawn
 * with the generic symbol. Every device Vigil ingests is one of our own (it holds a
 * registered key), so the affiliation is friendly (`F`) unless the table says otherwise.
 */

/** A device class as the registry names it (`class:` in registry.yaml). */
export type MapDeviceClass = 'vehicle' | 'soldier' | 'ugs' | 'uav' | 'generic';

/** MIL-STD-2525C standard identity (affiliation), position 2 of the SIDC. */
export type Affiliation = 'F' | 'H' | 'N' | 'U';

/** One row of the symbol table. */
export interface DeviceSymbol {
  /** Device id prefix (before the first `-`, `_` or `.`) that selects this row. */
  readonly prefix: string;
  readonly deviceClass: MapDeviceClass;
  /** What the symbol means, for the legend. */
  readonly label: string;
  /** 15-character MIL-STD-2525C SIDC with `*` at position 2 (the affiliation goes there). */
  readonly sidc: string;
}

/**
 * The table. SIDCs (MIL-STD-2525C, "warfighting" scheme S, status P = present):
 *
 * | prefix | class | symbol | SIDC |
 * |---|---|---|---|
 * | `veh` | vehicle | ground equipment, ground vehicle | `S*GPEV---------` |
 * | `sol` | soldier | ground unit, infantry | `S*GPUCI--------` |
 * | `ugs` | ugs | ground equipment, sensor | `S*GPES---------` |
 * | `uav` | uav | air, military fixed wing, UAV | `S*APMFQ--------` |
 * | other | generic | ground track, no function | `S*GP-----------` |
 */
export const DEVICE_SYMBOLS: readonly DeviceSymbol[] = Object.freeze([
  { prefix: 'veh', deviceClass: 'vehicle', label: 'vehicle', sidc: 'S*GPEV---------' },
  { prefix: 'sol', deviceClass: 'soldier', label: 'soldier (infantry)', sidc: 'S*GPUCI--------' },
  { prefix: 'ugs', deviceClass: 'ugs', label: 'unattended ground sensor', sidc: 'S*GPES---------' },
  { prefix: 'uav', deviceClass: 'uav', label: 'UAV', sidc: 'S*APMFQ--------' },
]);

/** The row used for a device id no prefix matches. */
export const GENERIC_SYMBOL: DeviceSymbol = Object.freeze({ prefix: '', deviceClass: 'generic', label: 'other device', sidc: 'S*GP-----------' });

/** The symbol row of a device id (by its prefix). */
export function deviceSymbol(deviceId: string): DeviceSymbol {
  const prefix = deviceId.split(/[-_.]/)[0];
  return DEVICE_SYMBOLS.find((s) => s.prefix === prefix) ?? GENERIC_SYMBOL;
}

/**
 * The SIDC the map draws for a device id: its row's code with the affiliation filled in.
 *
 * @example
 * symbolCode('veh-001'); // 'SFGPEV---------'
 */
export function symbolCode(deviceId: string, affiliation: Affiliation = 'F'): string {
  const { sidc } = deviceSymbol(deviceId);
  return sidc[0] + affiliation + sidc.slice(2);
}
