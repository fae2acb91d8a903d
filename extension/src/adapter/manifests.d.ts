/**
 * deploy/install.yaml as parsed objects, made at build time by build.ts (the extension offers to
 * install capi-remote where it is missing).
 */
declare module "capi-remote:install-manifests" {
  const manifests: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }[];
  export default manifests;
}
