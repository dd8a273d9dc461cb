export { COT_TYPES, cotXml, deviceClass, toCotEvents, type CotContext, type CotEvent } from './cot-event';
export { CotLink, type CotLinkOptions, type CotLinkStats } from './cot-link';
export { startCot, type CotOptions, type CotStats, type RunningCot } from './cot-stream';
