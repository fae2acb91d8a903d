/** @capi-remote/shared: models, schemas and pure helpers used by the controller and the extension. */
export * from "./bounds.js";
export * from "./capi.js";
export * from "./compat.js";
export * from "./conditions.js";
export * from "./crd.js";
export * from "./kinds.js";
export * from "./models/remote.js";
export * from "./policy.js";
export * from "./pools.js";
export * from "./providerid.js";
export * from "./schema/k8s.js";
