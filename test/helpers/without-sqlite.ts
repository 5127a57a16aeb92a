/**
 * Preloaded with `node --import` to play a machine without SQLite: no built-in node:sqlite and no
 * better-sqlite3, whether asked for by `require` or by `import`.
 */
import Module, { register } from 'node:module';

const getBuiltinModule = process.getBuiltinModule;
process.getBuiltinModule = ((id: string) =>
  id === 'node:sqlite' || id === 'sqlite' ? undefined : getBuiltinModule?.(id)) as typeof process.getBuiltinModule;

const missing = () => Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: 'MODULE_NOT_FOUND' });

type ResolveFilename = (this: unknown, request: string, ...rest: unknown[]) => string;
const internals = Module as unknown as { _resolveFilename: ResolveFilename };
const resolveFilename = internals._resolveFilename;
internals._resolveFilename = function (request, ...rest) {
  if (request === 'better-sqlite3') throw missing();
  return resolveFilename.call(this, request, ...rest);
};

register(
  `data:text/javascript,${encodeURIComponent(`
    export async function resolve(specifier, context, next) {
      if (specifier === 'better-sqlite3' || specifier === 'node:sqlite') {
        throw Object.assign(new Error('Cannot find module ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' });
      }
      return next(specifier, context);
    }`)}`,
);
