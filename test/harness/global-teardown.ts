import type { RunningServices } from '../../scripts/services';

/** Stops what global-setup started; runs whether the tests passed or failed. */
export default async function globalTeardown(): Promise<void> {
  const g = globalThis as { __vigilServices?: RunningServices };
  const services = g.__vigilServices;
  g.__vigilServices = undefined;
  if (services) await services.stop();
}
