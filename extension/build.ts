/**
 * Builds the extension bundle with esbuild: one CommonJS file whose default export is the
 * extension class, with the modules the host provides mapped to its globals (Lens and Freelens
 * inject `LensExtensions`, `React`, `ReactDOM`, `Mobx`, `MobxReact`), and capi-remote's install
 * manifests (deploy/install.yaml) as data. `--pack` instead writes a
 * clean package (no dependencies, no "type": "module") and runs `npm pack` on it; the tarball goes to
 * `dist/`, or to the folder after `--out`. Each pack stages in a private temporary folder, so packs
 * running side by side (test suites, a bench) never share a file.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8")) as { version: string; description: string };

/** Host-provided modules and the globals they live in. */
export const HOST_GLOBALS: Record<string, string> = {
  "@k8slens/extensions": "LensExtensions",
  react: "React",
  "react-dom": "ReactDOM",
  mobx: "Mobx",
  "mobx-react": "MobxReact",
};

const hostGlobals: Plugin = {
  name: "host-globals",
  setup(b) {
    const filter = new RegExp(
      `^(${Object.keys(HOST_GLOBALS)
        .map((k) => k.replace(/[/.]/g, "\\$&"))
        .join("|")})$`,
    );
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: "host-global" }));
    b.onLoad({ filter: /.*/, namespace: "host-global" }, (args) => ({
      contents: `module.exports = globalThis.${HOST_GLOBALS[args.path]};`,
      loader: "js",
    }));
  },
};

/**
 * `capi-remote:install-manifests`: deploy/install.yaml, parsed here at build time, so the bundle
 * carries the objects as JSON and needs no YAML parser (the extension offers to install
 * capi-remote where it is missing).
 */
export const INSTALL_YAML = join(here, "..", "deploy", "install.yaml");
const installManifests: Plugin = {
  name: "install-manifests",
  setup(b) {
    b.onResolve({ filter: /^capi-remote:install-manifests$/ }, (args) => ({ path: args.path, namespace: "manifests" }));
    b.onLoad({ filter: /.*/, namespace: "manifests" }, () => {
      const docs = parseAllDocuments(readFileSync(INSTALL_YAML, "utf8"))
        .map((d) => d.toJSON() as unknown)
        .filter((d) => d !== null && typeof d === "object");
      return { contents: JSON.stringify(docs), loader: "json", watchFiles: [INSTALL_YAML] };
    });
  },
};

export async function bundle(outdir = join(here, "dist"), minify = true): Promise<string> {
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, "renderer.js");
  await build({
    entryPoints: [join(here, "src", "renderer.tsx")],
    bundle: true,
    format: "cjs",
    platform: "browser",
    target: ["chrome100"],
    outfile,
    jsx: "transform",
    jsxFactory: "React.createElement",
    jsxFragment: "React.Fragment",
    minify,
    sourcemap: false,
    legalComments: "none",
    plugins: [hostGlobals, installManifests],
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "warning",
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv.includes("--pack")) {
    console.log(`built ${await bundle()}`);
  } else {
    const at = process.argv.indexOf("--out");
    const dest = at > 0 && process.argv[at + 1] ? process.argv[at + 1] : join(here, "dist");
    const stage = mkdtempSync(join(tmpdir(), "capi-remote-pack-"));
    try {
      await bundle(join(stage, "dist"));
      writeFileSync(
        join(stage, "package.json"),
        `${JSON.stringify(
          {
            name: "capi-remote-lens-extension",
            version: pkg.version,
            description: pkg.description,
            license: "Apache-2.0",
            renderer: "dist/renderer.js",
            engines: { lens: "^6.5.0", freelens: "^1.3.0" },
            keywords: ["lens", "freelens", "extension", "cluster-api"],
            files: ["dist"],
          },
          null,
          2,
        )}\n`,
      );
      writeFileSync(
        join(stage, "README.md"),
        "# capi-remote Lens/Freelens extension\n\nCluster API views, machine pools and cordon/release of pooled remote machines. Install this tarball from the Extensions page.\n",
      );
      mkdirSync(dest, { recursive: true });
      const tgz = execFileSync("npm", ["pack", "--pack-destination", dest], { cwd: stage, encoding: "utf8" }).trim();
      console.log(`packed ${join(dest, tgz.split("\n").pop() ?? "")}`);
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }
}
