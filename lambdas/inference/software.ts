/** The software version stamped on every batch summary, from package.json (bundled by esbuild). */
import packageJson from '../../package.json' with { type: 'json' };

export const SOFTWARE = { name: packageJson.name, version: packageJson.version } as const;
