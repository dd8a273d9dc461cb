export { loadConfig, configOptions, readConfigFile, CONFIG_FILE_ENV, type LoadConfigOptions, type ConfigIssue } from './load';
export { configSchema, type VigilConfig, type VigilConfigInput } from './schema';
export type { ConfigLeaf } from './introspect';
