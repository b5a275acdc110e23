#!/usr/bin/env bash
# Run one parallax experiment on a Cloud TPU VM (every worker of a pod slice) with gcloud.
#
#   scripts/tpu_vm.sh --name my-tpu --zone us-central2-b --type v4-16 \
#       --experiment ks_emulator [--bucket my-bucket] [--spot] [--dry-run] -- --steps 4000
#
# Steps: 1. create the TPU VM (skip with --no-create), 2. copy the project (git archive of HEAD)
# to every worker, 3. install it with jax[tpu] on every worker, 4. run
# experiments/NAME.py on all workers at once (same command everywhere; parallax.run starts
# jax.distributed from the TPU environment and only process 0 writes logs and plots).
# Multi-host runs need a run directory every worker sees: --bucket mounts a GCS bucket with
# gcsfuse at ~/bucket on each worker and puts the run there (runs/NAME/<TAG>); re-running the
# same command resumes from its latest checkpoint. --delete deletes the VM afterwards.
# --dry-run prints the commands (one per line, shell-quoted) instead of running them.
set -euo pipefail

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --name NAME          TPU VM name (required)
  --zone ZONE          zone (required), e.g. us-central2-b
  --type TYPE          accelerator type (default v4-8)
  --version VERSION    TPU software version (default tpu-ubuntu2204-base)
  --project PROJECT    GCP project (default: gcloud's configured one)
  --experiment NAME    experiments/NAME.py to run (default ks_emulator)
  --bucket BUCKET      GCS bucket for the shared run directory (mounted with gcsfuse)
  --tag TAG            run directory name under runs/EXPERIMENT/ (default: a UTC timestamp)
  --spot               create a Spot VM (preemptible: parallax saves on SIGTERM)
  --no-create          reuse an existing VM
  --no-install         skip copying and installing (the project is already there)
  --delete             delete the VM when the run ends
  --dry-run            print the commands instead of running them
  -- ARGS...           overrides passed to the experiment (e.g. -- --steps 4000 --mesh data=-1)
EOF
}

die() { echo "tpu_vm.sh: $*" >&2; exit 2; }

NAME="" ZONE="" TYPE="v4-8" VERSION="tpu-ubuntu2204-base" PROJECT="" EXPERIMENT="ks_emulator"
BUCKET="" TAG="" SPOT=0 CREATE=1 INSTALL=1 DELETE=0 DRY_RUN=0
OVERRIDES=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    --zone) ZONE="${2:?--zone needs a value}"; shift 2 ;;
    --type) TYPE="${2:?--type needs a value}"; shift 2 ;;
    --version) VERSION="${2:?--version needs a value}"; shift 2 ;;
    --project) PROJECT="${2:?--project needs a value}"; shift 2 ;;
    --experiment) EXPERIMENT="${2:?--experiment needs a value}"; shift 2 ;;
    --bucket) BUCKET="${2:?--bucket needs a value}"; shift 2 ;;
    --tag) TAG="${2:?--tag needs a value}"; shift 2 ;;
    --spot) SPOT=1; shift ;;
    --no-create) CREATE=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --delete) DELETE=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; OVERRIDES=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

[[ -n "$NAME" ]] || die "--name is required"
[[ -n "$ZONE" ]] || die "--zone is required"
[[ "$NAME" =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]] || die "--name '$NAME': lowercase letters, digits and '-' only"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXPERIMENT="${EXPERIMENT%.py}"; EXPERIMENT="${EXPERIMENT#experiments/}"
[[ -f "$ROOT/experiments/$EXPERIMENT.py" ]] || die "no experiment experiments/$EXPERIMENT.py"
[[ -n "$TAG" ]] || TAG="$(date -u +%Y%m%d-%H%M%S)"
[[ "$TAG" =~ ^[-A-Za-z0-9_.]+$ ]] || die "--tag '$TAG': letters, digits, '-', '_' and '.' only"

run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    local out="" a
    for a in "$@"; do out+="$(printf '%q' "$a") "; done
    echo "${out% }"
  else
    echo "+ $*" >&2
    "$@"
  fi
}

GCLOUD=(gcloud compute tpus tpu-vm)
COMMON=(--zone "$ZONE")
[[ -n "$PROJECT" ]] && COMMON+=(--project "$PROJECT")

if [[ "$CREATE" == 1 ]]; then
  CREATE_ARGS=("${GCLOUD[@]}" create "$NAME" "${COMMON[@]}" --accelerator-type "$TYPE" --version "$VERSION")
  [[ "$SPOT" == 1 ]] && CREATE_ARGS+=(--spot)
  run "${CREATE_ARGS[@]}"
fi

if [[ "$INSTALL" == 1 ]]; then
  COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo worktree)"
  ARCHIVE="${TMPDIR:-/tmp}/parallax-$COMMIT.tar.gz"
  if git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
    run git -C "$ROOT" archive --format=tar.gz -o "$ARCHIVE" HEAD
  else
    run tar -C "$ROOT" --exclude=.venv --exclude=runs --exclude=.git -czf "$ARCHIVE" .
  fi
  run "${GCLOUD[@]}" scp "$ARCHIVE" "$NAME:parallax.tar.gz" "${COMMON[@]}" --worker=all
  INSTALL_CMD="set -e; rm -rf ~/parallax && mkdir -p ~/parallax && tar -xzf ~/parallax.tar.gz -C ~/parallax"
  INSTALL_CMD+=" && python3 -m pip install -q -U pip && python3 -m pip install -q 'jax[tpu]'"
  INSTALL_CMD+=" && python3 -m pip install -q -e ~/parallax"
  if [[ -n "$BUCKET" ]]; then
    INSTALL_CMD+=" && (command -v gcsfuse >/dev/null || (sudo apt-get update -q && sudo apt-get install -y -q gcsfuse))"
  fi
  run "${GCLOUD[@]}" ssh "$NAME" "${COMMON[@]}" --worker=all --command "$INSTALL_CMD"
fi

# The same command on every worker. Overrides are quoted for the remote shell.
QUOTED=""
for a in ${OVERRIDES[@]+"${OVERRIDES[@]}"}; do QUOTED+=" $(printf '%q' "$a")"; done
if [[ -n "$BUCKET" ]]; then
  MOUNT="mkdir -p ~/bucket && (mountpoint -q ~/bucket || gcsfuse --implicit-dirs $(printf '%q' "$BUCKET") ~/bucket) && "
  WORKDIR="\$HOME/bucket/runs/$EXPERIMENT/$TAG"
else
  MOUNT=""
  WORKDIR="\$HOME/runs/$EXPERIMENT/$TAG"
  echo "tpu_vm.sh: note: without --bucket each worker keeps its own run directory; a multi-host" \
    "slice needs --bucket for its checkpoints" >&2
fi
RUN_CMD="${MOUNT}cd ~/parallax && PARALLAX_DISTRIBUTED=1 python3 experiments/$EXPERIMENT.py --workdir \"$WORKDIR\"$QUOTED"
run "${GCLOUD[@]}" ssh "$NAME" "${COMMON[@]}" --worker=all --command "$RUN_CMD"

if [[ "$DELETE" == 1 ]]; then
  run "${GCLOUD[@]}" delete "$NAME" "${COMMON[@]}" --quiet
fi
