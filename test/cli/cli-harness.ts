import { main } from '../../src/cli/main';
import { out } from '../../src/cli/output';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `vigil …` in-process and captures what it writes (through `out` and to the real
 * stdout/stderr) and its exit code. Call `installCliCapture()` in a `describe` to set up and
 * restore the capture around each test.
 */
export function installCliCapture(): (...args: string[]) => Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const write = out.write;
  beforeEach(() => {
    out.write = (t: string) => {
      stdout += t;
    };
    jest.spyOn(process.stderr, 'write').mockImplementation((t: string | Uint8Array) => {
      stderr += String(t);
      return true;
    });
    jest.spyOn(process.stdout, 'write').mockImplementation((t: string | Uint8Array) => {
      stdout += String(t);
      return true;
    });
    process.exitCode = undefined;
  });
  afterEach(() => {
    out.write = write;
    jest.restoreAllMocks();
    process.exitCode = undefined;
  });
  return async (...args: string[]) => {
    stdout = '';
    stderr = '';
    process.exitCode = undefined;
    await main(['node', 'vigil', ...args]);
    const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    process.exitCode = undefined;
    return { code, stdout, stderr };
  };
}
