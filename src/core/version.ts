/** This package's version, for `--version`, OpenAPI documents and logs. */
import { createRequire } from 'node:module';

// Compiled to dist/src/core/version.js: the package root is three levels up.
export const { version: PACKAGE_VERSION } = createRequire(import.meta.url)('../../../package.json') as {
  version: string;
};
