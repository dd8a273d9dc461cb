import { FileSpool } from '../../../src/edge/spool';
import { tempDir } from './helpers';
import { spoolContract } from './spool-contract';

// 'never' keeps the contract fast; the fsync policies have their own tests in file-spool.test.ts.
spoolContract('FileSpool', async (options) => {
  const { dir, cleanup } = await tempDir();
  const spool = await FileSpool.open({ ...options, dir, fsync: 'never', segmentBytes: 8192 });
  return {
    spool,
    dispose: async () => {
      await spool.close();
      await cleanup();
    },
  };
});
