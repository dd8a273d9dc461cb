export { Gateway, type GatewayOptions, type GatewayStats, type GatewayLogger } from './gateway';
