export { startHttpServer, mapCsp, type HttpServerOptions, type VigilHttpServer, type ReadinessChecks, type MapPageOptions, type MapZone } from './http-server';
export { TapEndpoint, TAP_PATH, type TapEndpointOptions, type TapEndpointStats } from './tap-endpoint';
export { BoundedSender, type BoundedSenderOptions, type BoundedSenderStats, type TextSocket } from './bounded-sender';
export { mapAssets, type MapAsset } from './map-assets';
export { DEVICE_SYMBOLS, GENERIC_SYMBOL, deviceSymbol, symbolCode, type DeviceSymbol, type MapDeviceClass, type Affiliation } from './map-symbols';
