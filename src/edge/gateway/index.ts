export { Gateway, type GatewayOptions, type GatewayStats, type GatewayLogger, type DurableListener } from './gateway';
