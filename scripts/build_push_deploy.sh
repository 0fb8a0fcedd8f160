#!/usr/bin/env bash
# Build the two images of the platform, optionally push them and deploy a Kubernetes overlay
# (SPEC §13). Run from anywhere; paths are taken relative to the repository.
#
#   scripts/build_push_deploy.sh --tag T [--registry R] [--push] [--deploy] [--namespace N]
#                                [--overlay single-node|scale-out] [--dry-run] [--render]
#
# See --help for what each flag does.
set -euo pipefail

me=${0##*/}
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    cat <<EOF
usage: $me --tag T [--registry R] [--push] [--deploy] [--namespace N]
                   [--overlay single-node|scale-out] [--dry-run] [--render]

Builds rps-app (deploy/docker/app.Dockerfile) and rps-trainer (deploy/docker/trainer.Dockerfile)
as [R/]rps-app:T and [R/]rps-trainer:T, stamping the git revision into both.

  --tag T         image tag, e.g. 0.1.0 or the short git revision (required)
  --registry R    registry and path prefix, e.g. ghcr.io/acme (default: none, local images)
  --push          push both images after building them
  --deploy        apply the overlay with these images (kubectl apply -k) and wait for rps-app
  --namespace N   namespace to deploy into (default: mlops-poc)
  --overlay O     single-node (default: SQLite, one replica) or scale-out (PostgreSQL, HPA)
  --dry-run       print the commands instead of running them
  --render        print the manifests --deploy would apply, then stop (builds nothing)
  -h, --help      show this help

Before the first --deploy, create the Secrets rps-admin, rps-minio, rps-postgres,
rps-app-credentials, rps-pipeline-credentials and rps-mlflow-credentials in the namespace:
deploy/k8s/base/secrets.example.yaml shows the kubectl commands.
EOF
}

die() {
    echo "$me: $*" >&2
    exit 2
}

tag=""
registry=""
push=false
deploy=false
namespace=mlops-poc
overlay=single-node
dry_run=false
render=false

while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help)
            usage
            exit 0
            ;;
        --tag | --registry | --namespace | --overlay)
            [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || die "$1 needs a value (see --help)"
            case "$1" in
                --tag) tag=$2 ;;
                --registry) registry=${2%/} ;;
                --namespace) namespace=$2 ;;
                --overlay) overlay=$2 ;;
            esac
            shift 2
            ;;
        --tag=* | --registry=* | --namespace=* | --overlay=*)
            value=${1#*=}
            [[ -n "$value" ]] || die "${1%%=*} needs a value (see --help)"
            case "$1" in
                --tag=*) tag=$value ;;
                --registry=*) registry=${value%/} ;;
                --namespace=*) namespace=$value ;;
                --overlay=*) overlay=$value ;;
            esac
            shift
            ;;
        --push) push=true; shift ;;
        --deploy) deploy=true; shift ;;
        --dry-run) dry_run=true; shift ;;
        --render) render=true; shift ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

# Validate everything before doing anything.
[[ -n "$tag" ]] || die "--tag is required (see --help)"
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
    die "--tag '$tag' is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)"
if [[ -n "$registry" && ! "$registry" =~ ^[a-z0-9]([a-z0-9._:-]*[a-z0-9])?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$ ]]; then
    die "--registry '$registry' is not a registry name like registry.example.com/team"
fi
[[ "$namespace" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] ||
    die "--namespace '$namespace' is not a valid namespace (lowercase letters, digits, '-')"
overlays=()
for dir in "$repo_root"/deploy/k8s/overlays/*/; do
    dir=${dir%/}
    overlays+=("${dir##*/}")
done
[[ "$overlay" =~ ^[a-z0-9-]+$ && " ${overlays[*]} " == *" $overlay "* ]] ||
    die "--overlay '$overlay' is not one of: ${overlays[*]}"
[[ $push == false || -n "$registry" ]] ||
    die "--push needs --registry (where to push; local names would go to Docker Hub's library)"

prefix=${registry:+$registry/}
app_image="${prefix}rps-app:$tag"
trainer_image="${prefix}rps-trainer:$tag"
revision=${GIT_REVISION:-$(git -C "$repo_root" rev-parse HEAD 2>/dev/null || echo unknown)}

# Print a command (shell-quoted, so it can be copied) and run it unless this is a dry run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [[ $dry_run == false ]]; then
        "$@"
    fi
}

need() {
    [[ $dry_run == true ]] || command -v "$1" >/dev/null 2>&1 ||
        { echo "$me: '$1' is needed for this step but is not installed" >&2; exit 1; }
}

# A kustomization on top of the overlay that pins this release's images and the namespace, in a
# copy of deploy/k8s (kustomize accepts only relative paths to bases); the repository's files
# stay untouched.
write_release_kustomization() {
    cp -R "$repo_root/deploy/k8s/." "$1/"
    mkdir "$1/release"
    cat >"$1/release/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $namespace
resources:
  - ../overlays/$overlay
images:
  - name: rps-app
    newName: ${prefix}rps-app
    newTag: "$tag"
  - name: rps-trainer
    newName: ${prefix}rps-trainer
    newTag: "$tag"
EOF
}

workdir=""
cleanup() {
    if [[ -n "$workdir" ]]; then
        rm -rf -- "$workdir"
    fi
}
trap cleanup EXIT

if [[ $deploy == true || $render == true ]]; then
    workdir=$(mktemp -d "${TMPDIR:-/tmp}/rps-release.XXXXXX")
    write_release_kustomization "$workdir"
fi

if [[ $render == true ]]; then
    command -v kubectl >/dev/null 2>&1 || { echo "$me: 'kubectl' is needed for --render" >&2; exit 1; }
    kubectl kustomize "$workdir/release"
    exit 0
fi

cd "$repo_root"

need docker
run docker build --file deploy/docker/app.Dockerfile --build-arg "GIT_REVISION=$revision" \
    --tag "$app_image" .
run docker build --file deploy/docker/trainer.Dockerfile --build-arg "GIT_REVISION=$revision" \
    --tag "$trainer_image" .

if [[ $push == true ]]; then
    run docker push "$app_image"
    run docker push "$trainer_image"
fi

if [[ $deploy == true ]]; then
    need kubectl
    if [[ $push == false && -n "$registry" ]]; then
        echo "$me: note: deploying images that were not pushed; the cluster must already have them" >&2
    fi
    if [[ $dry_run == true ]]; then
        echo "# $workdir/release/kustomization.yaml:"
        sed 's/^/#   /' "$workdir/release/kustomization.yaml"
    fi
    for secret in rps-admin rps-minio rps-postgres rps-app-credentials \
        rps-pipeline-credentials rps-mlflow-credentials; do
        if ! run kubectl --namespace "$namespace" get secret "$secret" --output name; then
            echo "$me: Secret $secret is missing in namespace $namespace;" \
                "create it as deploy/k8s/base/secrets.example.yaml shows" >&2
            exit 1
        fi
    done
    # A Job's pod template is immutable: remove the finished setup Jobs so apply can recreate
    # them (both are idempotent: re-running them changes nothing that is already right).
    run kubectl --namespace "$namespace" delete job minio-setup postgres-grants --ignore-not-found
    run kubectl apply -k "$workdir/release"
    run kubectl --namespace "$namespace" rollout status deployment/rps-app --timeout=600s
fi
