/**
 * capi-remote controller: parses its flags and runs the manager with the four controllers
 * (setup.ts wires them; runtime/manager.ts serves health and metrics, elects a leader and shuts
 * down cleanly on SIGTERM).
 */
import { type Config, parseConfig, usage } from "./config.js";
import { setUp } from "./setup.js";

let cfg: Config | "help";
try {
  cfg = parseConfig(process.argv.slice(2), process.env);
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n\n${usage()}`);
  process.exit(2);
}
if (cfg === "help") {
  process.stdout.write(usage());
} else {
  const c = cfg;
  // Errors while wiring (an unreadable kubeconfig) end the process the same way as later ones.
  Promise.resolve()
    .then(() => setUp(c).run())
    .catch((e: unknown) => {
      process.stderr.write(
        `${JSON.stringify({ level: "error", msg: "controller failed", err: e instanceof Error ? e.message : String(e) })}\n`,
      );
      process.exit(1);
    });
}
