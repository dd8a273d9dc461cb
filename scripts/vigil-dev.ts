/**
 * Runs the `vigil` CLI from source (`node --import tsx scripts/vigil-dev.ts <args>`): what
 * tests spawn as a separate process, so a SIGKILL hits a real process without a build step.
 */
import { main } from '../src/cli/main';

void main(process.argv);
