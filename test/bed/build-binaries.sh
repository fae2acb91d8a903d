#!/usr/bin/env bash
# Builds the test bed's Go binaries (etcd, kube-apiserver, the Cluster API manager, clusterctl)
# from Go modules at the versions in versions.env, into a cache outside the repository:
#   ${CAPI_REMOTE_CACHE:-$HOME/.cache/capi-remote}/bin/<name>-<version>
# A binary already in the cache is not rebuilt, so a second run takes a second.
# Usage: build-binaries.sh [etcd] [kube-apiserver] [capi-manager] [clusterctl]   (default: these four)
#        build-binaries.sh kubeadm-bed   (real nodes: kubelet, kubeadm, kube-controller-manager,
#                                         the kubeadm bootstrap provider, crictl, a local pause image)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${CAPI_REMOTE_CACHE:-$HOME/.cache/capi-remote}
bin=$cache/bin
work=$cache/build
mkdir -p "$bin" "$work"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

# One build at a time on this machine: concurrent test runs wait here instead of racing.
exec 9>"$cache/build.lock"
flock 9

log() { printf '[build-binaries] %s\n' "$*" >&2; }

# wrapper <dir> <module lines...>: a throwaway main-less module that requires what we build.
wrapper() {
  local dir=$1; shift
  rm -rf "$dir" && mkdir -p "$dir"
  printf 'module capi-remote.local/testbed-build\n\ngo 1.26\n' >"$dir/go.mod"
  printf '%s\n' "$@" >>"$dir/go.mod"
}

build_etcd() {
  local out=$bin/etcd-$ETCD_VERSION
  [ -x "$out" ] && return 0
  log "building etcd $ETCD_VERSION (first time only, about 2 minutes)"
  local d=$work/etcd
  wrapper "$d" "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  (cd "$d"
   go get go.etcd.io/etcd/server/v3@"$ETCD_VERSION" && go build -o "$out.tmp" go.etcd.io/etcd/server/v3)
  mv "$out.tmp" "$out"
}

# The API server reports its version from these variables (set by Kubernetes' own build scripts);
# without them it says v0.0.0-master and clients such as the Cluster API manager refuse it.
k8s_version_ldflags() {
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean -X %s.buildDate=1970-01-01T00:00:00Z ' \
      "$pkg" "$KUBERNETES_VERSION" "$pkg" "$pkg" "$minor" "$pkg" "$pkg"
  done
}

build_kube_apiserver() {
  local out=$bin/kube-apiserver-$KUBERNETES_VERSION
  [ -x "$out" ] && return 0
  log "building kube-apiserver $KUBERNETES_VERSION (first time only, 5-10 minutes)"
  local d=$work/kubernetes
  k8s_wrapper "$d"
  (cd "$d"
   go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" && go build -ldflags "$(k8s_version_ldflags)" -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$out.tmp" "$out"
}

k8s_wrapper() {
  local d=$1
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and resolves them with local replaces,
  # which Go ignores in a dependency: replace each with the published v0.X.Y of the same release.
  local modfile
  modfile=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local staging_version=v0.${KUBERNETES_VERSION#v1.}
  local lines=("require k8s.io/kubernetes $KUBERNETES_VERSION")
  local m
  for m in $(awk '$2 == "v0.0.0" && $1 ~ /^k8s.io\// {print $1}' "$modfile"); do
    lines+=("replace $m => $m $staging_version")
  done
  wrapper "$d" "${lines[@]}"
}

# kubelet, kubeadm and kube-controller-manager come from the same kind of wrapper module as kube-apiserver
# (one per command, so each go get only adds its own requirements);
# its go.sum lacks their own dependencies (cadvisor, cri-client, ...), hence the go get.
build_k8s_cmd() {
  local what=$1
  local out=$bin/$what-$KUBERNETES_VERSION
  [ -x "$out" ] && return 0
  log "building $what $KUBERNETES_VERSION (first time only, 1-5 minutes)"
  local d=$work/kubernetes-$what
  k8s_wrapper "$d"
  (cd "$d"
   go get "k8s.io/kubernetes/cmd/$what@$KUBERNETES_VERSION" && go build -ldflags "$(k8s_version_ldflags)" -o "$out.tmp" "k8s.io/kubernetes/cmd/$what")
  mv "$out.tmp" "$out"
}

# crictl: Debian 12 has no cri-tools package; kubeadm's preflight and reset use it when present.
build_crictl() {
  local out=$bin/crictl-$CRICTL_VERSION
  [ -x "$out" ] && return 0
  log "building crictl $CRICTL_VERSION"
  local d=$work/crictl
  wrapper "$d" "require sigs.k8s.io/cri-tools $CRICTL_VERSION"
  (cd "$d" && go get "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" && go build -ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" -o "$out.tmp" sigs.k8s.io/cri-tools/cmd/crictl)
  mv "$out.tmp" "$out"
}

# The pod sandbox image, built here so no host ever pulls from a registry: a static Go program that
# waits for SIGTERM/SIGINT and reaps children (what registry.k8s.io/pause does), wrapped in a
# one-layer OCI image layout that `ctr images import` loads under the name containerd asks for.
build_pause() {
  local out=$bin/pause-oci-$PAUSE_IMAGE_TAG.tar
  [ -f "$out" ] && return 0
  log "building the local pause image $PAUSE_IMAGE_TAG"
  local d=$work/pause
  wrapper "$d"
  mkdir -p "$d/rootfs" "$d/oci/blobs/sha256"
  cp "$here/pause/main.go" "$d/main.go"
  (cd "$d" && go build -ldflags '-s -w' -o rootfs/pause .)
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$d/rootfs" -cf "$d/layer.tar" pause
  local layer_digest layer_size cfg cfg_digest man man_digest
  layer_digest=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
  layer_size=$(stat -c %s "$d/layer.tar")
  cp "$d/layer.tar" "$d/oci/blobs/sha256/$layer_digest"
  cfg='{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:'$layer_digest'"]},"history":[{"created_by":"capi-remote test bed"}]}'
  printf '%s' "$cfg" >"$d/cfg.json"
  cfg_digest=$(sha256sum "$d/cfg.json" | cut -d' ' -f1)
  cp "$d/cfg.json" "$d/oci/blobs/sha256/$cfg_digest"
  man='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'$cfg_digest'","size":'$(stat -c %s "$d/cfg.json")'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'$layer_digest'","size":'$layer_size'}]}'
  printf '%s' "$man" >"$d/man.json"
  man_digest=$(sha256sum "$d/man.json" | cut -d' ' -f1)
  cp "$d/man.json" "$d/oci/blobs/sha256/$man_digest"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$d/oci/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$man_digest" "$(stat -c %s "$d/man.json")" "$PAUSE_IMAGE" "${PAUSE_IMAGE##*:}" >"$d/oci/index.json"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$d/oci" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
}

build_capi() {
  local what=$1 pkg=$2
  local out=$bin/$what-$CAPI_VERSION
  [ -x "$out" ] && return 0
  log "building $what $CAPI_VERSION (first time only, about 5 minutes)"
  local d=$work/$what
  # cluster-api's go.mod replaces its api module with ./api, which Go ignores in a dependency:
  # require both at the same tag.
  wrapper "$d" "require sigs.k8s.io/cluster-api $CAPI_VERSION" "require sigs.k8s.io/cluster-api/api $CAPI_VERSION"
  (cd "$d" && go get "sigs.k8s.io/cluster-api@$CAPI_VERSION" "sigs.k8s.io/cluster-api/api@$CAPI_VERSION" && go get "$pkg" && go build -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(etcd kube-apiserver capi-manager clusterctl)
for t in "${targets[@]}"; do
  case $t in
    etcd) build_etcd ;;
    kube-apiserver) build_kube_apiserver ;;
    capi-manager) build_capi capi-manager sigs.k8s.io/cluster-api/core ;;
    clusterctl) build_capi clusterctl sigs.k8s.io/cluster-api/cmd/clusterctl ;;
    capi-kubeadm-bootstrap) build_capi capi-kubeadm-bootstrap sigs.k8s.io/cluster-api/bootstrap/kubeadm ;;
    kubelet | kubeadm | kube-controller-manager) build_k8s_cmd "$t" ;;
    crictl) build_crictl ;;
    pause) build_pause ;;
    kubeadm-bed)
      build_capi capi-kubeadm-bootstrap sigs.k8s.io/cluster-api/bootstrap/kubeadm
      build_k8s_cmd kube-controller-manager
      build_k8s_cmd kubeadm
      build_k8s_cmd kubelet
      build_crictl
      build_pause ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
done
log "binaries ready in $bin"
