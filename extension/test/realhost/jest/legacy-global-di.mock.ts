// @ts-nocheck
/**
 * The extension API reaches the renderer's DI through a process-wide registry. Freelens's harness
 * runs main and renderer DI in one process, so the registry holds two containers and refuses to
 * pick; the extension API belongs to the renderer, so this stand-in registry prefers it.
 */
const dis = new Map();
const pick = () =>
  dis.get("renderer") ??
  dis.get("main") ??
  (() => {
    throw new Error("no DI container registered");
  })();
export const setLegacyGlobalDiForExtensionApi = (di, env) => void dis.set(env, di);
export const getLegacyGlobalDiForExtensionApi = () => pick();
export const getEnvironmentSpecificLegacyGlobalDiForExtensionApi = (env) => {
  const di = dis.get(env);
  if (!di) throw new Error(`no DI container for ${env}`);
  return di;
};
export const asLegacyGlobalFunctionForExtensionApi =
  (token, param) =>
  (...args) =>
    pick().inject(token, param)(...args);
export const asLegacyGlobalForExtensionApi = (token, param) =>
  new Proxy(
    {},
    {
      apply: (_t, _this, args) => pick().inject(token, param)(...args),
      get(target, prop) {
        if (prop === "$$typeof") return undefined;
        const instance = pick().inject(token, param);
        const value = instance[prop] ?? target[prop];
        return typeof value === "function" ? (...args) => value.apply(instance, args) : value;
      },
    },
  );
