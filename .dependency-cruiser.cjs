// Import rules of docs/architecture.md §2, checked by `npm run lint` (lint:deps).
// Each module may import only the modules listed beside it (and itself). `errors` and
// `instrument` are leaves every module may import: the one VigilError type with its closed
// list of codes, and the diagnostics_channel definitions that metrics subscribe to.
// A test (test/architecture/boundaries.test.ts) proves a forbidden import fails this check.
const MAY_IMPORT = {
  errors: [],
  instrument: [],
  config: [],
  crypto: [],
  replay: [],
  codec: ['crypto'],
  registry: ['codec', 'crypto'],
  device: ['codec', 'crypto'],
  bus: ['codec'],
  edge: ['codec', 'crypto', 'registry', 'replay', 'bus'],
  stream: [],
  // Keyed state stores: local disk cache + changelog records (issue 11; docs/architecture.md §2 amended).
  state: ['stream', 'bus', 'crypto'],
  runtime: ['stream', 'state', 'bus', 'codec', 'crypto'],
  metrics: [],
  serve: ['runtime', 'metrics', 'tap'],
  sim: ['device', 'codec', 'crypto', 'registry'],
  tap: ['bus', 'codec', 'crypto'],
  audit: ['bus', 'codec', 'crypto'],
  // Cursor-on-Target to TAK (issue 13): reads streams like a tap, checks labels against the link's ceiling.
  cot: ['tap', 'bus', 'codec', 'crypto', 'runtime', 'serve'],
  // Federation (issue 15): re-uses the gateway's spool (edge) and the pipelines' ceiling rule (runtime).
  relay: ['bus', 'codec', 'crypto', 'edge', 'runtime'],
};

// Third-party packages a module may use, where the design restricts them.
const NPM_ONLY = {
  crypto: ['tweetnacl', 'sodium-native'],
  stream: ['rxjs', '@datadog/sketches-js', 'point-in-polygon'],
  state: ['lmdb'],
};

const moduleRules = Object.entries(MAY_IMPORT).map(([mod, allowed]) => ({
  name: `boundary-${mod}`,
  comment: `src/${mod}/ may import only ${allowed.length ? allowed.join(', ') + ', ' : ''}errors, instrument and itself (docs/architecture.md §2)`,
  severity: 'error',
  from: { path: `^src/${mod}/` },
  to: { path: '^src/', pathNot: [`^src/(${[mod, 'errors', 'instrument', ...allowed].join('|')})/`] },
}));

const npmRules = Object.entries(NPM_ONLY).map(([mod, pkgs]) => ({
  name: `packages-${mod}`,
  comment: `src/${mod}/ may use only these packages: ${pkgs.join(', ')} (docs/architecture.md §2)`,
  severity: 'error',
  from: { path: `^src/${mod}/` },
  to: {
    dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
    pathNot: pkgs.map((p) => `node_modules/${p.replace('/', '\\/')}/`),
  },
}));

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'cycles make modules inseparable', from: {}, to: { circular: true } },
    { name: 'not-to-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
    {
      name: 'pipelines-public-api-only',
      comment: 'pipelines/ import Vigil only through src/index.ts (docs/architecture.md §2)',
      severity: 'error',
      from: { path: '^pipelines/' },
      to: { path: '^src/', pathNot: '^src/index\\.ts$' },
    },
    {
      name: 'prom-client-in-metrics-only',
      comment: 'domain code emits diagnostics_channel events; only src/metrics/ imports prom-client (docs/architecture.md §8.7)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/metrics/' },
      to: { path: 'node_modules/prom-client/' },
    },
    {
      name: 'src-not-to-tests',
      severity: 'error',
      from: { path: '^(src|pipelines)/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    ...moduleRules,
    ...npmRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '(^|/)(dist|node_modules)/' },
  },
};
