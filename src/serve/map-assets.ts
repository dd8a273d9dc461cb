import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VigilError } from '../errors';

/** One file the map page loads from this server. */
export interface MapAsset {
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * The page's own files (src/serve/map/: map.html, map.css, map-client.js). Compiled code runs
 * from dist/src/serve/, whose tree has no such folder (tsc copies no assets), so it falls back
 * to the source tree beside dist/, which a clone and the image both have.
 */
function pageDir(): string {
  const candidates = [join(__dirname, 'map'), join(__dirname, '..', '..', '..', 'src', 'serve', 'map')];
  const found = candidates.find((d) => existsSync(join(d, 'map.html')));
  if (found === undefined) {
    throw new VigilError('VIGIL_E_SERVICE_START', `the live map's page files are missing (looked in ${candidates.join(', ')})`, { details: { candidates } });
  }
  return found;
}

const TYPES: Readonly<Record<string, string>> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml' };

function asset(file: string): MapAsset {
  const ext = file.slice(file.lastIndexOf('.'));
  return { contentType: TYPES[ext] ?? 'application/octet-stream', body: readFileSync(file) };
}

let cached: ReadonlyMap<string, MapAsset> | undefined;

/**
 * Everything the map page loads, by URL path under `/map/`: the page's script and style and
 * the libraries, read from node_modules (resolved as Node resolves them, so it works from a
 * clone after `npm ci`, from `dist/` and in the image) — never from a CDN. Read once.
 *
 * @throws VigilError `VIGIL_E_SERVICE_START` when a file is missing
 */
export function mapAssets(): ReadonlyMap<string, MapAsset> {
  if (cached !== undefined) return cached;
  const own = pageDir();
  const leaflet = dirname(require.resolve('leaflet/dist/leaflet.js'));
  const files: Record<string, string> = {
    'map.html': join(own, 'map.html'),
    'map.css': join(own, 'map.css'),
    'map-client.js': join(own, 'map-client.js'),
    'leaflet.js': join(leaflet, 'leaflet.js'),
    'leaflet.css': join(leaflet, 'leaflet.css'),
    'images/layers.png': join(leaflet, 'images', 'layers.png'),
    'images/layers-2x.png': join(leaflet, 'images', 'layers-2x.png'),
    // milsymbol's `require` export is its UMD bundle (a `ms` global in a browser); mgrs's main is too (`mgrs`).
    'milsymbol.js': require.resolve('milsymbol'),
    'mgrs.js': require.resolve('mgrs'),
  };
  const out = new Map<string, MapAsset>();
  for (const [path, file] of Object.entries(files)) {
    try {
      out.set(path, asset(file));
    } catch (err) {
      throw new VigilError('VIGIL_E_SERVICE_START', `the live map cannot read ${file}: ${(err as Error).message}`, { cause: err, details: { file } });
    }
  }
  cached = out;
  return out;
}
