export { Gateway, REFUSED_FOR_GOOD, type GatewayOptions, type GatewayStats, type GatewayLogger, type DurableListener } from './gateway';
