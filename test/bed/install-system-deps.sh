#!/usr/bin/env bash
# Installs the Debian packages the test bed needs, only those missing:
#   openssh-server (sshd on the test hosts), sudo (the sudo accounts), iproute2 (network namespaces),
#   openssl (certificates), util-linux (unshare/nsenter), shellcheck (the host scripts' check),
#   chromium (browser tests; pass --browser),
#   containerd, runc and CNI plugins (real kubeadm workers on the test hosts; pass --kubeadm).
# Installing openssh-server must not start an sshd on the real machine: a policy-rc.d forbids it.
set -euo pipefail
pkgs=(openssh-server openssh-client sudo iproute2 openssl util-linux curl shellcheck)
for a in "$@"; do
  case $a in
    --browser) pkgs+=(chromium) ;;
    --kubeadm) pkgs+=(containerd runc containernetworking-plugins) ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-system-deps: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "[install-system-deps] installing ${missing[*]}" >&2
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && made_policy=1; fi
trap '[ -n "$made_policy" ] && rm -f $policy' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
