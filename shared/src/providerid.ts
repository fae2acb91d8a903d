/**
 * Provider IDs in k0smotron's format, `remote-machine://<address>:<port>`, with IPv6 addresses in
 * brackets so the port stays unambiguous (k0smotron leaves them bare). Cluster API matches Nodes by
 * the exact string, and the cluster autoscaler by the part after the last `/`, which here is
 * `<address>:<port>`: unique per machine.
 */
export const PROVIDER_ID_SCHEME = "remote-machine";
const PREFIX = `${PROVIDER_ID_SCHEME}://`;

/** The provider ID of the machine at `address:port`. */
export function formatProviderID(address: string, port: number): string {
  const host = address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
  return `${PREFIX}${host}:${port}`;
}

export interface ParsedProviderID {
  address: string;
  port: number;
}

/**
 * Parses a provider ID; undefined when it is not ours. Accepts k0smotron's unbracketed IPv6 form
 * too (`remote-machine://fd00::1:22`: the last colon separates the port).
 */
export function parseProviderID(id: string): ParsedProviderID | undefined {
  if (!id.startsWith(PREFIX)) return undefined;
  const rest = id.slice(PREFIX.length);
  let address: string;
  let portText: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0 || rest[close + 1] !== ":") return undefined;
    address = rest.slice(1, close);
    portText = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon <= 0) return undefined;
    address = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText) || address === "" || /[\s/[\]]/.test(address)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return { address, port };
}

/** True when two provider IDs name the same machine (bracketed or not). */
export function sameProviderID(a: string, b: string): boolean {
  const pa = parseProviderID(a);
  const pb = parseProviderID(b);
  if (!pa || !pb) return a === b;
  return pa.port === pb.port && pa.address.toLowerCase() === pb.address.toLowerCase();
}
