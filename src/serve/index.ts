export { startHttpServer, type HttpServerOptions, type VigilHttpServer, type ReadinessChecks } from './http-server';
export { TapEndpoint, TAP_PATH, type TapEndpointOptions, type TapEndpointStats } from './tap-endpoint';
export { BoundedSender, type BoundedSenderOptions, type BoundedSenderStats, type TextSocket } from './bounded-sender';
export { MAP_PAGE_HTML } from './map-page';
