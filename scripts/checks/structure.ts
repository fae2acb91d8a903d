/**
 * The structure rules of docs/architecture.md, checked in `npm test` (before any test file):
 *
 * - `shared/` imports nothing of ours outside itself and does no I/O (no `node:` module).
 * - What runs on or talks to machines (`host/`, `ssh/`, `tasks/`, `cloudinit/`, `provisionjob/`
 *   in the controller) never imports the controllers, the runtime, the API
 *   layer, the pool claims or the workload clusters' Node watcher.
 * - The workload clusters' Node watcher (`workload/`) never imports the controllers, the pool
 *   claims or the task manager: it is a cache the controllers read, as Cluster API's ClusterCache.
 * - Only the composition root (`setup.ts`, `main.ts`) imports the controllers' floor.
 * - The task manager (`tasks/`) is generic: it imports nothing of ours outside `tasks/` (no SSH,
 *   no host protocol, no API).
 * - A controller's `status.ts` imports only `shared` and its own `scope.ts` (it stays pure), and a
 *   controller never imports another controller's folder.
 * - Extension: views import only the model, other views, UI libraries and `shared`'s pure
 *   subpaths; only the adapter imports the host API (`@k8slens/extensions`).
 * - No source file over 400 lines, no function over 80 lines.
 *
 * A rule broken on purpose goes into EXEMPT below with its reason; an exemption no longer needed
 * is reported so it can be dropped (the list only shrinks). Uses the TypeScript compiler's
 * parser (already a dependency) rather than regular expressions, so imports and function
 * bodies are found exactly.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;

/** Deliberate exceptions: `path` or `path#function` -> why. */
const EXEMPT: Record<string, string> = {
  // One file per kind's schema is the CRD generator's unit; splitting the RemoteMachine,
  // pool and cluster schemas apart would scatter the shared definitions they reuse.
  "shared/src/models/remote.ts": "the schemas of all remote kinds share field definitions; split per kind later",
  // The kubeconfig gate is one ordered list of refusals, each with its message; cut in two it
  // would hide which check comes first (security review C1).
  "controller/src/kube/kubeconfig.ts#checkWorkloadKubeconfig": "one ordered list of refusals (C1)",
  "controller/src/host/runner.ts#stepLines": "the step switch, one case per cloud-init feature",
};

type Violation = { key: string; message: string };

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.tsx?$/.test(name) && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

const isTest = (f: string) => /\.test\.tsx?$/.test(f);

function importsOf(sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if (
      (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) &&
      n.moduleSpecifier &&
      ts.isStringLiteral(n.moduleSpecifier)
    )
      out.push(n.moduleSpecifier.text);
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = n.arguments[0];
      if (a && ts.isStringLiteral(a)) out.push(a.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Functions (declarations, methods, arrows, expressions) longer than the limit. */
function longFunctions(sf: ts.SourceFile): { name: string; lines: number }[] {
  const out: { name: string; lines: number }[] = [];
  const line = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line;
  const nameOf = (n: ts.Node): string => {
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name) return n.name.getText(sf);
    if (ts.isConstructorDeclaration(n)) return "constructor";
    const p = n.parent;
    if (p && ts.isVariableDeclaration(p)) return p.name.getText(sf);
    if (p && ts.isPropertyAssignment(p)) return p.name.getText(sf);
    if (p && ts.isPropertyDeclaration(p)) return p.name.getText(sf);
    // An anonymous function is named after the function it sits in (stable across edits).
    for (let q = n.parent; q; q = q.parent)
      if (
        ts.isFunctionLike(q) &&
        q !== n &&
        q.kind !== ts.SyntaxKind.ArrowFunction &&
        q.kind !== ts.SyntaxKind.FunctionExpression
      )
        return `${nameOf(q)}>anonymous`;
    return "<top level>>anonymous";
  };
  const visit = (n: ts.Node) => {
    if (
      (ts.isFunctionDeclaration(n) ||
        ts.isMethodDeclaration(n) ||
        ts.isConstructorDeclaration(n) ||
        ts.isArrowFunction(n) ||
        ts.isFunctionExpression(n)) &&
      n.body
    ) {
      const lines = line(n.body.getEnd()) - line(n.body.getStart(sf)) + 1;
      if (lines > MAX_FUNCTION_LINES) out.push({ name: nameOf(n), lines });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

export function checkStructure(root: string): { broken: Violation[]; stale: string[] } {
  const v: Violation[] = [];
  const files = ["shared/src", "controller/src", "extension/src"].flatMap((d) => walk(join(root, d)));
  for (const file of files) {
    const rel = relative(root, file).split("\\").join("/");
    const text = readFileSync(file, "utf8");
    const sf = ts.createSourceFile(
      file,
      text,
      ts.ScriptTarget.Latest,
      true,
      file.endsWith("x") ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
    );
    const target = (spec: string) =>
      relative(root, resolve(dirname(file), spec))
        .split("\\")
        .join("/");
    const imports = importsOf(sf);
    const bad = (why: string) => v.push({ key: `${rel}#imports`, message: `${rel}: ${why}` });

    if (!isTest(file)) {
      const lines = text.split("\n").length;
      if (lines > MAX_FILE_LINES) v.push({ key: rel, message: `${rel}: ${lines} lines (limit ${MAX_FILE_LINES})` });
      for (const f of longFunctions(sf))
        v.push({
          key: `${rel}#${f.name}`,
          message: `${rel}: function ${f.name} is ${f.lines} lines (limit ${MAX_FUNCTION_LINES})`,
        });
    }
    if (isTest(file)) continue;

    for (const spec of imports) {
      const relative_ = spec.startsWith(".");
      const to = relative_ ? target(spec) : spec;
      if (rel.startsWith("shared/src/")) {
        if (relative_ && !to.startsWith("shared/src/")) bad(`shared imports ${spec} (outside shared)`);
        if (spec.startsWith("node:")) bad(`shared does no I/O but imports ${spec}`);
        if (spec.startsWith("@capi-remote/")) bad(`shared imports ${spec}`);
      }
      const hostSide = /^controller\/src\/(host|ssh|tasks|cloudinit|provisionjob)\//.test(rel);
      if (
        hostSide &&
        relative_ &&
        /^controller\/src\/(controllers|runtime|kube|pool|workload)\/|^controller\/src\/(main|setup)/.test(to)
      )
        bad(`host-side code imports ${spec} (controllers, runtime, the API layer, pool or workload)`);
      if (
        rel.startsWith("controller/src/workload/") &&
        relative_ &&
        /^controller\/src\/(controllers|pool|tasks)\/|^controller\/src\/(main|setup)/.test(to)
      )
        bad(`the Node watcher imports ${spec} (controllers, pool claims or tasks)`);
      if (
        relative_ &&
        to.startsWith("controller/src/controllers/") &&
        !rel.startsWith("controller/src/controllers/") &&
        !/^controller\/src\/(main|setup)\.ts$/.test(rel)
      )
        bad(`only setup.ts and main.ts import the controllers, not ${spec}`);
      // The task manager is generic: it knows no SSH, no machine and no API (it is given a slot
      // pool and bodies to run), so it imports nothing of ours outside its own folder.
      if (rel.startsWith("controller/src/tasks/") && relative_ && !to.startsWith("controller/src/tasks/"))
        bad(`the task manager is generic: it imports nothing outside tasks/, not ${spec}`);
      const ctl = rel.match(/^controller\/src\/controllers\/([^/]+)\//);
      if (ctl && relative_) {
        const other = to.match(/^controller\/src\/controllers\/([^/]+)\//);
        if (other && other[1] !== ctl[1]) bad(`controller ${ctl[1]} imports controller ${other[1]} (${spec})`);
        if (rel.endsWith("/status.ts") && !to.endsWith(`controllers/${ctl[1]}/scope.js`))
          bad(`status.ts is pure: it imports only shared and its scope, not ${spec}`);
      }
      if (ctl && rel.endsWith("/status.ts") && !relative_ && !spec.startsWith("@capi-remote/shared"))
        bad(`status.ts is pure: it imports only shared and its scope, not ${spec}`);
      if (rel.startsWith("extension/src/views/")) {
        if (relative_ && !/^extension\/src\/(model|views)\//.test(to)) bad(`views import only the model, not ${spec}`);
        if (!relative_ && !/^(react|react-window|mobx|mobx-react|@capi-remote\/shared\/[a-z]+)$/.test(spec))
          bad(`views import only the model and UI libraries, not ${spec}`);
      }
      if (spec === "@k8slens/extensions" && !rel.startsWith("extension/src/adapter/"))
        bad("only the adapter imports the host API (@k8slens/extensions)");
    }
  }
  const broken = v.filter((x) => !(x.key in EXEMPT));
  const used = new Set(v.map((x) => x.key));
  const stale = Object.keys(EXEMPT).filter((key) => !used.has(key));
  return { broken, stale };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(dirname(new URL(import.meta.url).pathname), "../..");
  const { broken, stale } = checkStructure(root);
  for (const b of broken) console.error(`structure: ${b.message}`);
  // A stale exemption is a reminder, not a failure: whoever splits a file may not own this list.
  for (const k of stale) console.warn(`structure: ${k} is within the rules now; drop its exemption`);
  console.log(
    broken.length ? `structure: ${broken.length} rule(s) broken (see docs/architecture.md)` : "structure: ok",
  );
  process.exit(broken.length ? 1 : 0);
}
