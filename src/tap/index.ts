/**
 * tap: analyst access to sealed streams (docs/architecture.md §1, §3). A tap reads one stream in a
 * private consumer group and opens each record with the analyst's keys; records under keys
 * the analyst lacks are never shown. The `vigil tap` CLI, the WebSocket tap and the live map
 * (src/serve) are built on it. Tap tokens let a key holder grant remote read access to one
 * stream without handing over the key.
 */
export { StreamTap, type StreamTapOptions, type StreamTapStats, type TapUnreadable } from './stream-tap';
export { TapCatalog, type TapCatalogOptions, type CatalogTapOptions } from './tap-catalog';
export { tapRecordJson, type TapRecord, type TapRecordJson, type Jsonified } from './tap-record';
export { TapTable, type TapTableOptions } from './tap-table';
export { alertState, emphasise, feedValue, fitColumns, utcClock, visibleValues } from './feed-format';
export { tapToken, verifyTapToken, TAP_TOKEN_CONTEXT } from './tap-token';
