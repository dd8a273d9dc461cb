// Two projects: `unit` needs no services; `integration` (*.int.test.ts) talks to the
// real Mosquitto and Kafka that its global setup starts (or finds via VIGIL_* env).
/** @type {import('ts-jest').TsJestTransformerOptions} */
const tsJest = { tsconfig: 'tsconfig.json' };
const transform = { '^.+\\.ts$': ['ts-jest', tsJest] };

/** @type {import('jest').Config} */
module.exports = {
  // Integration tests wait on real brokers; unit tests finish far inside this.
  testTimeout: 120000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      roots: ['<rootDir>/test', '<rootDir>/pipelines'],
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['\\.int\\.test\\.ts$', '/node_modules/'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      roots: ['<rootDir>/test', '<rootDir>/pipelines'],
      testMatch: ['**/*.int.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
  ],
};
