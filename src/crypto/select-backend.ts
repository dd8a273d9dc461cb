import { VigilError } from '../errors';
import type { CryptoBackend, CryptoBackendOption } from './backend';
import { createSodiumBackend, loadSodium } from './sodium-backend';
import { createTweetnaclBackend } from './tweetnacl-backend';

const cache = new Map<CryptoBackendOption, CryptoBackend>();

/** True when the accelerated backend (sodium-native) loads in this installation. */
export function isSodiumAvailable(): boolean {
  return loadSodium() !== null;
}

/**
 * Returns the crypto backend for `option` (default `auto`: sodium-native when it loads,
 * otherwise tweetnacl). Instances are shared: backends hold no per-caller state.
 *
 * @throws VigilError `VIGIL_E_CRYPTO_BACKEND` for `sodium` when sodium-native is missing,
 *   `VIGIL_E_CONFIG_INVALID` for an unknown option.
 * @example
 * const backend = getCryptoBackend('auto');
 */
export function getCryptoBackend(option: CryptoBackendOption = 'auto'): CryptoBackend {
  const hit = cache.get(option);
  if (hit !== undefined) return hit;
  let backend: CryptoBackend;
  switch (option) {
    case 'auto':
      backend = isSodiumAvailable() ? getCryptoBackend('sodium') : getCryptoBackend('tweetnacl');
      break;
    case 'sodium':
      backend = createSodiumBackend();
      break;
    case 'tweetnacl':
      backend = createTweetnaclBackend();
      break;
    default:
      throw new VigilError('VIGIL_E_CONFIG_INVALID', `unknown crypto backend ${JSON.stringify(option)}; allowed: auto, tweetnacl, sodium`, {
        details: { key: 'crypto.backend', allowed: ['auto', 'tweetnacl', 'sodium'] },
      });
  }
  cache.set(option, backend);
  return backend;
}

/** Accepts a backend instance or an option and returns the instance. */
export function resolveCryptoBackend(backend: CryptoBackend | CryptoBackendOption | undefined): CryptoBackend {
  return typeof backend === 'object' ? backend : getCryptoBackend(backend ?? 'auto');
}
