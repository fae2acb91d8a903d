/**
 * SSH test hosts: each is a network namespace with its own address on a bridge, a private mount
 * namespace (tmpfs over /run and /tmp, overlays over /etc, /home, /root, /var, /opt, /usr/local,
 * /srv) and its own UTS name, running Debian's real OpenSSH server. Whatever a bootstrap writes
 * stays inside its host. Needs root (CI runs as root).
 *
 * Accounts on every host (key login only):
 *   root     - direct login
 *   capi     - passwordless sudo
 *   nosudo   - no sudo at all
 *   pwsudo   - sudo that asks for a password (which it never gets)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BRIDGE_GATEWAY } from "./controlplane.js";
import { alive, execFileAsync, Fatal, stopPid, waitFor } from "./util.js";

export const BRIDGE = "crbr0";
const STATE_ROOT = join(tmpdir(), "capi-remote-testbed");
/** Slots are claimed by mkdir under here, which is atomic across test processes. */
const SLOT_DIR = join(STATE_ROOT, "slots");
const OVERLAID = ["/etc", "/home", "/root", "/var", "/opt", "/usr/local", "/srv"];
export const HOST_USERS = ["capi", "nosudo", "pwsudo"] as const;

export interface TestHost {
  name: string;
  /** The host's own address, on the bridge. */
  address: string;
  port: number;
  /** known_hosts line for the host's ed25519 key. */
  knownHostsLine: string;
  /** The host's public key, `ssh-ed25519 AAAA...`. */
  hostPublicKey: string;
  dir: string;
  slot: number;
  holderPid: number;
  sshdPid?: number;
  veth: string;
}

function slotAddress(slot: number): string {
  return `198.18.${1 + Math.floor(slot / 250)}.${(slot % 250) + 2}`;
}

async function sh(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(cmd, args, { maxBuffer: 16 << 20 });
  return stdout;
}

let bridgeReady: Promise<void> | undefined;

/** Creates the bridge the hosts hang off, once per machine; idempotent and safe to race. */
export function ensureBridge(): Promise<void> {
  bridgeReady ??= makeBridge().catch((e) => {
    bridgeReady = undefined;
    throw e;
  });
  return bridgeReady;
}

const alreadyThere = (e: unknown) => /File exists|already assigned/.test(String(e));

async function makeBridge(): Promise<void> {
  try {
    await sh("ip", ["link", "show", BRIDGE]);
  } catch {
    try {
      await sh("ip", ["link", "add", BRIDGE, "type", "bridge"]);
    } catch (e) {
      // Another process created it between our check and our add.
      if (!alreadyThere(e)) throw e;
    }
  }
  const addrs = await sh("ip", ["-o", "addr", "show", "dev", BRIDGE]);
  if (!addrs.includes(`${BRIDGE_GATEWAY}/16`)) {
    await sh("ip", ["addr", "add", `${BRIDGE_GATEWAY}/16`, "dev", BRIDGE]).catch((e) => {
      if (!alreadyThere(e)) throw e;
    });
  }
  await sh("ip", ["link", "set", BRIDGE, "up"]);
}

/**
 * Slots (and so addresses) are handed out round-robin, not lowest-first: a host made after
 * another was destroyed must not get its address, because the Node the old host registered (in
 * a test bed shared by all suites) still carries that address's provider ID, and Cluster API
 * refuses a provider ID that matches two Nodes.
 */
async function claimSlot(): Promise<number> {
  await mkdir(SLOT_DIR, { recursive: true });
  const counter = join(SLOT_DIR, "next");
  const start = Number((await readFile(counter, "utf8").catch(() => "0")).trim()) || 0;
  for (let i = 0; i < 2000; i++) {
    const slot = (start + i) % 2000;
    try {
      await mkdir(join(SLOT_DIR, String(slot)));
      await writeFile(join(SLOT_DIR, String(slot), "owner"), String(process.pid));
      await writeFile(counter, String((slot + 1) % 2000));
      return slot;
    } catch {
      // Taken. A slot left by a dead process is reclaimed by reapStaleHosts().
    }
  }
  throw new Error("no free test-host slot");
}

/** Runs a command inside the host (its mount, network and UTS namespaces) as root. */
export async function hostExec(host: TestHost, command: string, input?: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("nsenter", ["-t", String(host.holderPid), "-m", "-n", "-u", "--", "sh", "-c", command], {
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    // A command that does not read its input may exit before we write it: not an error.
    child.stdin?.on("error", () => {});
    let out = "";
    let err = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", reject);
    // "close", not "exit": a process may exit before its output has been read.
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`on ${host.name}: \`${command}\` exited ${code}: ${err.trim()}`)),
    );
    child.stdin?.end(input);
  });
}

const MISSING = "<capi-remote-test: no such file>";

/** Reads a file on the host; undefined when it does not exist. */
export async function readHostFile(host: TestHost, path: string): Promise<string | undefined> {
  const q = path.replace(/'/g, "'\\''");
  const out = await hostExec(host, `if [ -e '${q}' ]; then cat -- '${q}'; else echo '${MISSING}'; fi`);
  return out === `${MISSING}\n` ? undefined : out;
}

/** Writes a file on the host as root. */
export async function writeHostFile(host: TestHost, path: string, content: string, mode = "0644"): Promise<void> {
  const q = path.replace(/'/g, "'\\''");
  await hostExec(host, `mkdir -p "$(dirname '${q}')" && cat > '${q}' && chmod ${mode} '${q}'`, content);
}

/**
 * How many lines of a file on the host contain `needle` (0 when the file is missing). Tests make
 * commands append a line to a file each time they run, and count runs with this.
 */
export async function countLines(host: TestHost, path: string, needle = ""): Promise<number> {
  const text = await readHostFile(host, path);
  if (!text) return 0;
  return text.split("\n").filter((l) => l.length > 0 && l.includes(needle)).length;
}

const SSHD_CONFIG = (address: string) => `# capi-remote test host
ListenAddress ${address}
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_rsa_key
PidFile /run/sshd.pid
AuthorizedKeysFile /etc/ssh/authorized_keys/%u
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
MaxStartups 200:30:400
MaxSessions 64
LogLevel VERBOSE
Subsystem sftp internal-sftp
`;

/** Creates a test host named `name` whose accounts accept the given public keys. */
export async function createHost(name: string, authorizedKeys: string[]): Promise<TestHost> {
  await ensureBridge();
  const slot = await claimSlot();
  const address = slotAddress(slot);
  const dir = join(STATE_ROOT, "hosts", `${slot}-${name}`);
  const netns = `crh-${slot}`;
  const veth = `crv${slot}`;
  await rm(dir, { recursive: true, force: true });
  for (const tree of OVERLAID) {
    const t = tree.replace(/\//g, "_");
    await mkdir(join(dir, t, "up"), { recursive: true });
    await mkdir(join(dir, t, "work"), { recursive: true });
  }
  await writeFile(join(SLOT_DIR, String(slot), "state"), JSON.stringify({ name, dir, netns, veth, address }));

  await sh("ip", ["netns", "add", netns]);
  await sh("ip", ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns]);
  await sh("ip", ["link", "set", veth, "master", BRIDGE]);
  await sh("ip", ["link", "set", veth, "up"]);
  // The address may have belonged to a host destroyed moments ago: forget its old MAC, or
  // packets go to a dead link until the neighbour entry expires.
  await sh("ip", ["neigh", "flush", "to", address, "dev", BRIDGE]).catch(() => "");
  await sh("ip", [
    "netns",
    "exec",
    netns,
    "sh",
    "-c",
    `ip addr add ${address}/16 dev eth0 && ip link set eth0 up && ip link set lo up && ip route add default via ${BRIDGE_GATEWAY}`,
  ]);

  const mounts = OVERLAID.map((tree) => {
    const t = join(dir, tree.replace(/\//g, "_"));
    return `mount -t overlay overlay -o lowerdir=${tree},upperdir=${t}/up,workdir=${t}/work ${tree}`;
  }).join(" && ");
  const pidFile = join(dir, "holder.pid");
  const script = [
    `echo $$ > ${pidFile}`,
    "mount --make-rprivate /",
    mounts,
    "mount -t tmpfs -o mode=0755 tmpfs /run",
    "mount -t tmpfs -o mode=1777 tmpfs /tmp",
    `hostname ${name}`,
    "exec sleep infinity",
  ].join(" && ");
  const holder: ChildProcess = spawn(
    "ip",
    ["netns", "exec", netns, "unshare", "--mount", "--uts", "--fork", "sh", "-c", script],
    {
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    },
  );
  let holderErr = "";
  holder.stderr?.on("data", (d: Buffer) => {
    holderErr += d.toString();
  });
  holder.unref();
  const holderPid = await waitFor(
    `${name}: namespace holder`,
    async () => {
      if (holder.exitCode !== null) throw new Fatal(`holder exited: ${holderErr}`);
      const pid = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
      if (!pid) return undefined;
      // Ready once the holder exec'd into sleep (all mounts done).
      const comm = (await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "")).trim();
      return comm === "sleep" ? pid : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
  await writeFile(
    join(SLOT_DIR, String(slot), "state"),
    JSON.stringify({ name, dir, netns, veth, holderPid, address }),
  );

  const host: TestHost = { name, address, port: 22, knownHostsLine: "", hostPublicKey: "", dir, slot, holderPid, veth };
  const keys = `${authorizedKeys.join("\n")}\n`;
  const setup = [
    "set -e",
    "rm -f /etc/ssh/ssh_host_*",
    "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key",
    "ssh-keygen -q -t rsa -b 2048 -N '' -f /etc/ssh/ssh_host_rsa_key",
    "mkdir -p /etc/ssh/authorized_keys /run/sshd /var/log && chmod 0755 /etc/ssh/authorized_keys",
    `echo '127.0.1.1 ${name}' >> /etc/hosts`,
    // A fresh server's root account: this machine's own dotfiles (which may start pyenv and the
    // like on every non-interactive bash that sshd runs) would make each SSH command cost a
    // second of CPU and slow every host down.
    "for f in .bashrc .profile; do if [ -f /etc/skel/$f ]; then cp /etc/skel/$f /root/$f; else : > /root/$f; fi; done",
    "rm -f /root/.bash_profile /root/.bash_login",
    ...HOST_USERS.map((u) => `id ${u} >/dev/null 2>&1 || useradd -m -s /bin/sh ${u}`),
    // '*' = no password, but not locked: sshd without PAM refuses locked accounts.
    ...["root", ...HOST_USERS].map((u) => `usermod -p '*' ${u}`),
    ...["root", ...HOST_USERS].map((u) => `cp /tmp/authorized_keys /etc/ssh/authorized_keys/${u}`),
    "chmod 0644 /etc/ssh/authorized_keys/*",
    "mkdir -p /etc/sudoers.d",
    "echo 'capi ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/capi",
    "echo 'pwsudo ALL=(ALL) ALL' > /etc/sudoers.d/pwsudo",
    "chmod 0440 /etc/sudoers.d/capi /etc/sudoers.d/pwsudo",
    "cat /etc/ssh/ssh_host_ed25519_key.pub",
  ].join("\n");
  await writeHostFile(host, "/tmp/authorized_keys", keys, "0644");
  await writeHostFile(host, "/etc/ssh/sshd_config", SSHD_CONFIG(address));
  const pub = (await hostExec(host, setup)).trim().split(/\s+/).slice(0, 2).join(" ");
  host.hostPublicKey = pub;
  host.knownHostsLine = `${address} ${pub}`;
  await startSshd(host);
  return host;
}

/** Starts (or restarts) the host's sshd and waits until it accepts connections. */
export async function startSshd(host: TestHost): Promise<void> {
  if (host.sshdPid && alive(host.sshdPid)) return;
  const child = spawn(
    "nsenter",
    [
      "-t",
      String(host.holderPid),
      "-m",
      "-n",
      "-u",
      "--",
      "/usr/sbin/sshd",
      "-D",
      "-f",
      "/etc/ssh/sshd_config",
      "-E",
      "/var/log/sshd.log",
    ],
    { stdio: "ignore", detached: true },
  );
  child.unref();
  host.sshdPid = child.pid;
  await waitFor(
    `${host.name}: sshd listening`,
    async () => {
      if (child.exitCode !== null)
        throw new Fatal(`sshd exited ${child.exitCode}: ${await readHostFile(host, "/var/log/sshd.log")}`);
      const out = await hostExec(host, "ss -Hltn 'sport = :22'");
      return out.includes(":22");
    },
    { timeoutMs: 10_000, intervalMs: 50 },
  );
}

/** Stops the host's sshd (the host and its files stay). */
export async function stopSshd(host: TestHost): Promise<void> {
  await stopPid(host.sshdPid, 3000);
  host.sshdPid = undefined;
}

/** Takes the host's link down (packets are dropped, as with a pulled cable) or back up. */
export async function setLink(host: TestHost, up: boolean): Promise<void> {
  await sh("ip", ["link", "set", host.veth, up ? "up" : "down"]);
}

/** Replaces the host's SSH host keys (as when a VM is recreated at the same address). */
export async function regenerateHostKeys(host: TestHost): Promise<void> {
  const pub = (
    await hostExec(
      host,
      "rm -f /etc/ssh/ssh_host_* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && ssh-keygen -q -t rsa -b 2048 -N '' -f /etc/ssh/ssh_host_rsa_key && cat /etc/ssh/ssh_host_ed25519_key.pub",
    )
  )
    .trim()
    .split(/\s+/)
    .slice(0, 2)
    .join(" ");
  host.hostPublicKey = pub;
  host.knownHostsLine = `${host.address} ${pub}`;
  await stopSshd(host);
  await startSshd(host);
}

/**
 * A host made into a kubeadm worker (kubeadm.ts) has a cgroup root `crk-<slot>` in each of the
 * machine's cgroup v1 hierarchies (there is no cgroup namespace). Its pods' processes live in their
 * own network namespaces, so the netns sweep misses them: they are ended through these cgroups,
 * which are then removed depth-first.
 */
async function removeHostCgroups(slot: number): Promise<void> {
  const { readdir } = await import("node:fs/promises");
  const base = "/sys/fs/cgroup";
  const hierarchies = await readdir(base, { withFileTypes: true }).catch(() => []);
  const roots: string[] = [];
  for (const h of hierarchies) {
    if (!h.isDirectory()) continue;
    const root = join(base, h.name, `crk-${slot}`);
    if ((await readdir(root).catch(() => undefined)) !== undefined) roots.push(root);
  }
  if (roots.length === 0) return;
  for (let round = 0; round < 20; round++) {
    const tasks = await sh("sh", ["-c", `cat $(find ${roots.join(" ")} -name tasks) 2>/dev/null | sort -u`]).catch(
      () => "",
    );
    const pids = tasks.split(/\s+/).filter(Boolean).map(Number);
    if (pids.length === 0) break;
    for (const p of pids) {
      try {
        process.kill(p, "SIGKILL");
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const root of roots) {
    await sh("sh", ["-c", `find '${root}' -depth -type d -exec rmdir {} \\; 2>/dev/null; true`]).catch(() => "");
  }
}

async function teardown(
  state: { dir?: string; netns?: string; veth?: string; holderPid?: number; address?: string },
  slot: number,
  sshdPid?: number,
) {
  await stopPid(sshdPid, 2000);
  if (state.holderPid) {
    // sshd children (sessions) live in the host's namespaces: end everything there.
    // Twice: a supervisor loop (kubeadm hosts) may start a process between the list and its kill.
    for (let pass = 0; pass < 2; pass++) {
      const pids = await sh("ip", ["netns", "pids", state.netns ?? ""]).catch(() => "");
      for (const p of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(p), "SIGKILL");
        } catch {}
      }
    }
    await stopPid(state.holderPid, 1000);
  }
  await removeHostCgroups(slot);
  if (state.veth) await sh("ip", ["link", "del", state.veth]).catch(() => "");
  if (state.address) await sh("ip", ["neigh", "flush", "to", state.address, "dev", BRIDGE]).catch(() => "");
  if (state.netns) await sh("ip", ["netns", "del", state.netns]).catch(() => "");
  if (state.dir) await rm(state.dir, { recursive: true, force: true });
  await rm(join(SLOT_DIR, String(slot)), { recursive: true, force: true });
}

/**
 * Called for every host destroyHost tears down, before its address goes back to the free slots:
 * the test bed registers one that deletes the host's Nodes (see index.ts), so a later host at the
 * same address never meets a stale Node carrying the same provider ID.
 */
const destroyHooks = new Set<(host: TestHost) => Promise<void>>();

/** Registers a hook run by destroyHost; returns its removal. */
export function onHostDestroyed(hook: (host: TestHost) => Promise<void>): () => void {
  destroyHooks.add(hook);
  return () => destroyHooks.delete(hook);
}

/** Destroys the host: its Nodes (through the hooks), processes, namespaces, link and files. */
export async function destroyHost(host: TestHost): Promise<void> {
  await Promise.all([...destroyHooks].map((h) => h(host)));
  await teardown(
    { dir: host.dir, netns: `crh-${host.slot}`, veth: host.veth, holderPid: host.holderPid, address: host.address },
    host.slot,
    host.sshdPid,
  );
}

/** Destroys hosts left behind by test processes that died (their owner PID is gone). */
export async function reapStaleHosts(): Promise<number> {
  let reaped = 0;
  const { readdir } = await import("node:fs/promises");
  const slots = await readdir(SLOT_DIR).catch(() => [] as string[]);
  for (const s of slots.filter((x) => /^\d+$/.test(x))) {
    const owner = Number((await readFile(join(SLOT_DIR, s, "owner"), "utf8").catch(() => "0")).trim());
    if (owner && alive(owner)) continue;
    const state = JSON.parse(await readFile(join(SLOT_DIR, s, "state"), "utf8").catch(() => "{}")) as {
      dir?: string;
      netns?: string;
      veth?: string;
      holderPid?: number;
    };
    await teardown(state, Number(s));
    reaped++;
  }
  return reaped;
}
