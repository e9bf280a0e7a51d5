#!/usr/bin/env bash
# Builds the upstream programs the end-to-end tests run — kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3), kwok
# (sigs.k8s.io/kwok) and helm (helm.sh/helm/v3, to render the chart) — from the Go modules pinned
# in the folders beside this script — and collects the third-party CRDs listed in
# `third-party-crds` (cert-manager, Prometheus Operator) from their modules into crds/.
#
#   e2e/controlplane/build.sh          build, or reuse target/controlplane/<version>/ when current
#   e2e/controlplane/build.sh --path   print the binaries' folder (building first if needed)
#
# Idempotent: a stamp of the pinned go.mod/go.sum files and of this script marks a finished
# build; the Go module and build caches make a rebuild after a pin change incremental.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="$(cat "$here/VERSION")"
out="$root/target/controlplane/$version"
programs=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm)

stamp="$(cat "$here/build.sh" "$here"/*/go.mod "$here"/*/go.sum | sha256sum | cut -d' ' -f1)"
current() {
  [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp" ]] || return 1
  for p in "${programs[@]}"; do [[ -x "$out/$p" ]] || return 1; done
}

# Copies the files of each pinned module in third-party-crds into $out/crds/, refusing a module
# whose go.sum hash differs from the pin. Stamped on its own: a new pin does not rebuild programs.
collect_crds() {
  local crds="$out/crds" crd_stamp
  crd_stamp="$(sha256sum < "$here/third-party-crds" | cut -d' ' -f1)"
  [[ -f "$crds/.stamp" && "$(cat "$crds/.stamp")" == "$crd_stamp" ]] && return 0
  rm -rf "$crds.partial" && mkdir -p "$crds.partial"
  grep -v '^#' "$here/third-party-crds" | while read -r module pinned sum files; do
    [[ -n "$module" ]] || continue
    info="$(cd / && GOTOOLCHAIN=local GOFLAGS= go mod download -json "$module@$pinned")"
    got="$(sed -n 's/^\t"Sum": "\(.*\)",$/\1/p' <<<"$info")"
    dir="$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$info")"
    if [[ "$got" != "$sum" ]]; then
      echo "error: e2e/controlplane/third-party-crds: $module@$pinned has hash '$got', pinned '$sum'" >&2
      exit 1
    fi
    for f in $files; do cp "$dir/$f" "$crds.partial/"; done
  done
  echo "$crd_stamp" > "$crds.partial/.stamp"
  rm -rf "$crds" && mv "$crds.partial" "$crds"
}

if ! current; then
  command -v go >/dev/null || { echo "error: go is not installed; the control plane is built from Go modules" >&2; exit 1; }
  # Never download a toolchain: build with the machine's Go (the pins need go >= 1.24).
  export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
  staging="$out.partial"
  rm -rf "$staging" && mkdir -p "$staging"
  echo "== building the control plane $version into $out (cold: ~10 min on 2 cores)"
  start=$SECONDS
  major="${version#v}"; major="${major%%.*}"
  minor="${version#v*.}"; minor="${minor%%.*}"
  # Kubernetes binaries report their version through component-base's ldflags, as release builds do.
  vpkg=k8s.io/component-base/version
  ldflags="-s -w -X $vpkg.gitVersion=$version -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor"
  ldflags="$ldflags -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
  (cd "$here/kubernetes" && go build -trimpath -ldflags "$ldflags" -o "$staging/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$staging/etcd" go.etcd.io/etcd/server/v3)
  (cd "$here/kwok" && go build -trimpath -ldflags "-s -w" -o "$staging/kwok" sigs.k8s.io/kwok/cmd/kwok)
  (cd "$here/helm" && go build -trimpath -ldflags "-s -w" -o "$staging/helm" helm.sh/helm/v3/cmd/helm)
  echo "$stamp" > "$staging/.stamp"
  rm -rf "$out" && mv "$staging" "$out"
  echo "== control plane built in $((SECONDS - start)) s"
  # The Go build cache (4 GB after this build) only speeds up a rebuild after a pin change; a CI
  # machine is better off with the disk.
  if [[ "${CI:-}" == "true" ]]; then go clean -cache; fi
fi

collect_crds

if [[ "${1:-}" == "--path" ]]; then
  echo "$out"
else
  echo "control plane $version: $out"
fi
