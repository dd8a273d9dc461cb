export { startHttpServer, type HttpServerOptions, type VigilHttpServer, type ReadinessChecks } from './http-server';
