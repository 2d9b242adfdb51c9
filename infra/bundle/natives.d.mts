export declare const TARGET_PLATFORM: 'linux';
export declare const TARGET_ARCH: 'arm64';
export declare const PROJECT_ROOT: string;
export declare const NATIVES_DIR: string;
export declare function defaultSearchPaths(projectRoot?: string): string[];
export declare function directorySize(dir: string): number;
export declare function copyNativeModules(options: {
  outputDir: string;
  modules?: string[];
  searchPaths?: string[];
  /** Default linux / arm64 (Lambda on Graviton); tests build for the host to run the bundle. */
  platform?: string;
  arch?: string;
}): { copied: string[]; missing: string[] };
