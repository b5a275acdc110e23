#!/usr/bin/env bash
# Run a parallax experiment on a Cloud TPU VM (every worker of a slice), from creation to deletion.
#
#   scripts/tpu_vm.sh [launch] --name NAME --zone ZONE --type v5litepod-16 --bucket BUCKET \
#       [--spot | --queued] [--retry N] [--delete] [--detach] [--dry-run] -- --steps 4000
#   scripts/tpu_vm.sh logs|status|stop|delete --name NAME --zone ZONE [--run-name RUN]
#
# launch: 1. create the VM unless it is READY (on-demand, --spot, or --queued through a queued
# resource), recreating a preempted one; 2. copy this checkout to every worker and install it
# into a Python >= 3.11 venv (uv) with parallax[tpu,gcs] (jax[tpu] pinned in pyproject.toml);
# 3. start experiments/NAME.py detached on every worker (a dropped ssh connection does not end
# it; jax.distributed starts from the TPU metadata); 4. wait for it, printing the run's state.
# The run directory is gs://BUCKET/parallax/NAME/RUN (RUN defaults to the experiment's name), so
# re-running the same command resumes from the latest checkpoint; with --retry N a Spot VM that
# is preempted is recreated and the run resumed, up to N times. --delete deletes the VM when the
# script ends, whatever the outcome (also on failure or Ctrl-C). --dry-run prints the commands.
set -euo pipefail

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --name NAME          TPU VM name (required)
  --zone ZONE          zone (required), e.g. us-central2-b
  --project PROJECT    GCP project (default: gcloud's configured one)
  --type TYPE          accelerator type (default v4-8): v4-*, v5litepod-* (v5e), v5p-*, v6e-*
  --version VERSION    TPU runtime image (default: chosen from --type)
  --spot               a Spot VM (cheaper, preemptible; parallax saves on SIGTERM)
  --queued             create through a queued resource (waits for capacity; with --spot too)
  --experiment NAME    experiments/NAME.py, or a .py path in this checkout (default ks_emulator)
  --bucket BUCKET      run directory gs://BUCKET/parallax/NAME/RUN (needed by multi-worker slices)
  --workdir DIR        run directory given in full (gs://..., or a path on every worker)
  --shared-fs          DIR is one filesystem shared by all workers (NFS/Filestore)
  --run-name RUN       the run's name (default: the experiment's name; same name = resume)
  --python VERSION     Python of the workers' venv (default 3.11)
  --retry N            recreate a preempted VM and resume, up to N times (default 0)
  --delete             delete the VM when this script ends, whatever the outcome
  --detach             start the run and return (then: logs, status, stop, delete)
  --poll SECONDS       how often launch checks the run (default 60)
  --no-install         skip copying and installing (the same checkout is installed already)
  --worker N           logs: the worker to read (default 0)
  --follow             logs: keep following
  --dry-run            print the commands instead of running them
  -- ARGS...           overrides for the experiment (e.g. -- --steps 4000 --mesh data=-1)
EOF
}

die() { echo "tpu_vm.sh: $*" >&2; exit 2; }
say() { echo "tpu_vm.sh: $*" >&2; }

CMD=launch
case "${1:-}" in launch | logs | status | stop | delete) CMD="$1"; shift ;; esac
NAME="" ZONE="" PROJECT="" TYPE="v4-8" VERSION="" SPOT=0 QUEUED=0 EXPERIMENT="ks_emulator"
BUCKET="" WORKDIR="" SHARED=0 RUN="" PYVER="3.11" RETRY=0 DELETE=0 DETACH=0 POLL=60
INSTALL=1 WORKER=0 FOLLOW=0 DRY_RUN=0
OVERRIDES=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    --zone) ZONE="${2:?--zone needs a value}"; shift 2 ;;
    --project) PROJECT="${2:?--project needs a value}"; shift 2 ;;
    --type) TYPE="${2:?--type needs a value}"; shift 2 ;;
    --version) VERSION="${2:?--version needs a value}"; shift 2 ;;
    --spot) SPOT=1; shift ;;
    --queued) QUEUED=1; shift ;;
    --experiment) EXPERIMENT="${2:?--experiment needs a value}"; shift 2 ;;
    --bucket) BUCKET="${2:?--bucket needs a value}"; shift 2 ;;
    --workdir) WORKDIR="${2:?--workdir needs a value}"; shift 2 ;;
    --shared-fs) SHARED=1; shift ;;
    --run-name) RUN="${2:?--run-name needs a value}"; shift 2 ;;
    --python) PYVER="${2:?--python needs a value}"; shift 2 ;;
    --retry) RETRY="${2:?--retry needs a value}"; shift 2 ;;
    --delete) DELETE=1; shift ;;
    --detach) DETACH=1; shift ;;
    --poll) POLL="${2:?--poll needs a value}"; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --worker) WORKER="${2:?--worker needs a value}"; shift 2 ;;
    --follow) FOLLOW=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; OVERRIDES=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

[[ -n "$NAME" ]] || die "--name is required"
[[ -n "$ZONE" ]] || die "--zone is required"
[[ "$NAME" =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]] || die "--name '$NAME': lowercase letters, digits and '-' only"
[[ "$RETRY" =~ ^[0-9]+$ ]] || die "--retry '$RETRY': expected a number"
[[ "$POLL" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--poll '$POLL': expected seconds"
[[ "$WORKER" =~ ^[0-9]+$ ]] || die "--worker '$WORKER': expected a number"
[[ -n "$BUCKET" && -n "$WORKDIR" ]] && die "give --bucket or --workdir, not both"
[[ "$DETACH" == 1 && "$DELETE" == 1 ]] && die "--delete needs the script to wait for the run (drop --detach)"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "$EXPERIMENT" in
  *.py) SCRIPT="$EXPERIMENT" ;;
  *) SCRIPT="experiments/${EXPERIMENT#experiments/}.py" ;;
esac
[[ -f "$ROOT/$SCRIPT" ]] || die "no experiment $SCRIPT in $ROOT"
STEM="$(basename "$SCRIPT" .py)"
RUN="${RUN:-$STEM}"
[[ "$RUN" =~ ^[-A-Za-z0-9_.]+$ ]] || die "--run-name '$RUN': letters, digits, '-', '_' and '.' only"

# The runtime image for each TPU generation (Google's table of TPU software versions).
if [[ -z "$VERSION" ]]; then
  case "$TYPE" in
    v6e-*) VERSION=v2-alpha-tpuv6e ;;
    v5p-*) VERSION=v2-alpha-tpuv5 ;;
    v5litepod-* | v5e-*) VERSION=v2-alpha-tpuv5-lite ;;
    v2-* | v3-* | v4-*) VERSION=tpu-ubuntu2204-base ;;
    *) die "--type '$TYPE': unknown TPU type; give --version for its runtime image" ;;
  esac
fi
JAX_PIN="$(sed -n 's/.*"jax\[tpu\]==\([^"]*\)".*/\1/p' "$ROOT/pyproject.toml")"
[[ -n "$JAX_PIN" ]] || die "pyproject.toml has no jax[tpu]==VERSION pin (the tpu extra)"

if [[ -n "$BUCKET" ]]; then
  WORKDIR="gs://$BUCKET/parallax/$NAME/$RUN"
elif [[ -z "$WORKDIR" ]]; then
  WORKDIR="\$HOME/parallax/runs/$RUN"
fi

TPU=(gcloud compute tpus tpu-vm)
QR=(gcloud compute tpus queued-resources)
LOC=(--zone "$ZONE")
[[ -n "$PROJECT" ]] && LOC+=(--project "$PROJECT")
R="\$HOME/parallax/runs"   # where each worker keeps the run's pid, log, exit code and status
RETRY_DELAY="${PARALLAX_RETRY_DELAY:-5}"
PREEMPT_WAIT="${PARALLAX_PREEMPT_WAIT:-120}"

exec 3>&1  # --dry-run prints to the real stdout also from inside $(...)
show() { local out="" a; for a in "$@"; do out+="$(printf '%q' "$a") "; done; echo "${out% }"; }
run() { if [[ "$DRY_RUN" == 1 ]]; then show "$@"; else "$@"; fi; }
# ssh and scp fail now and then (a worker still booting, a dropped connection): retry them.
retry() {
  local i
  if [[ "$DRY_RUN" == 1 ]]; then show "$@"; return 0; fi
  for i in 1 2 3 4; do
    "$@" && return 0
    [[ $i == 4 ]] || { say "'${*:4:2}' failed; retrying in $((RETRY_DELAY * i)) s"; sleep $((RETRY_DELAY * i)); }
  done
  return 1
}
# A multi-line remote script as one line (readable in --dry-run output, quotable by printf %q).
oneline() {
  local out="" line
  while IFS= read -r line; do
    line="${line#"${line%%[![:space:]]*}"}"
    [[ -n "$line" ]] || continue
    if [[ -z "$out" || "$out" =~ (then|else|do|&)$ ]]; then out+="${out:+ }$line"; else out+="; $line"; fi
  done <<<"$1"
  echo "$out"
}
ssh_all() { retry "${TPU[@]}" ssh "$NAME" "${LOC[@]}" --worker=all --command "$1"; }
ssh_one() { retry "${TPU[@]}" ssh "$NAME" "${LOC[@]}" "--worker=$1" --command "$2"; }

vm_state() {
  if [[ "$DRY_RUN" == 1 ]]; then show "${TPU[@]}" describe "$NAME" "${LOC[@]}" --format='value(state)' >&3; echo MISSING; return; fi
  "${TPU[@]}" describe "$NAME" "${LOC[@]}" --format='value(state)' 2>/dev/null || echo MISSING
}

create_vm() {
  local spot=()
  [[ "$SPOT" == 1 ]] && spot=(--spot)
  if [[ "$QUEUED" == 1 ]]; then
    run "${QR[@]}" create "$NAME" "${LOC[@]}" --node-id "$NAME" --accelerator-type "$TYPE" \
      --runtime-version "$VERSION" ${spot[@]+"${spot[@]}"}
    [[ "$DRY_RUN" == 1 ]] && { show "${QR[@]}" describe "$NAME" "${LOC[@]}" --format='value(state.state)'; return; }
    local st
    while st="$("${QR[@]}" describe "$NAME" "${LOC[@]}" --format='value(state.state)')"; [[ "$st" != ACTIVE ]]; do
      case "$st" in FAILED | SUSPENDED) die "queued resource $NAME is $st" ;; esac
      say "queued resource $NAME: $st"; sleep "$POLL"
    done
  else
    run "${TPU[@]}" create "$NAME" "${LOC[@]}" --accelerator-type "$TYPE" --version "$VERSION" \
      ${spot[@]+"${spot[@]}"}
  fi
}

delete_vm() {
  if [[ "$QUEUED" == 1 ]]; then
    run "${QR[@]}" delete "$NAME" "${LOC[@]}" --force --quiet
  else
    run "${TPU[@]}" delete "$NAME" "${LOC[@]}" --quiet
  fi
}

ensure_vm() {
  local st
  st="$(vm_state)"
  case "$st" in
    READY) say "$NAME is READY" ;;
    MISSING) say "creating $NAME ($TYPE, $VERSION$([[ $SPOT == 1 ]] && echo ', Spot'))"; create_vm ;;
    CREATING | STARTING | RESTARTING) say "$NAME is $st" ;;
    *) say "$NAME is $st: deleting and recreating it"; delete_vm; create_vm ;;
  esac
  [[ "$DRY_RUN" == 1 ]] && return
  while st="$(vm_state)"; [[ "$st" != READY ]]; do
    case "$st" in CREATING | STARTING | RESTARTING | MISSING) sleep "$POLL" ;; *) die "$NAME is $st" ;; esac
  done
  local workers
  workers="$("${TPU[@]}" describe "$NAME" "${LOC[@]}" --format='value(networkEndpoints[].ipAddress)' | tr ';' '\n' | grep -c .)"
  if [[ "$workers" -gt 1 && "$WORKDIR" != gs://* && "$SHARED" != 1 ]]; then
    die "$NAME has $workers workers, each with its own disk: give --bucket (or --workdir gs://...," \
      "or --shared-fs for a filesystem all workers mount)"
  fi
}

install() {
  local archive="${TMPDIR:-/tmp}/parallax-$NAME.tar.gz"
  # every file of the checkout git knows or would add (uncommitted edits included)
  if [[ "$DRY_RUN" == 1 ]]; then
    echo "git -C $(printf '%q' "$ROOT") ls-files -z --cached --others --exclude-standard | tar --null -T - -czf $(printf '%q' "$archive")"
  else
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar -C "$ROOT" --null -T - -czf "$archive")
  fi
  retry "${TPU[@]}" scp "$archive" "$NAME:parallax.tar.gz" "${LOC[@]}" --worker=all
  # PARALLAX_INSTALL_OFFLINE=1 (an image that already has the dependencies: air-gapped workers,
  # the tests' fake VM): a venv that also sees PARALLAX_PYTHON's packages, and no downloads.
  local cmd
  cmd="set -euo pipefail; mkdir -p ~/parallax $R; rm -rf ~/parallax/src ~/parallax/venv; mkdir ~/parallax/src
tar -xzf ~/parallax.tar.gz -C ~/parallax/src
if [ \"\${PARALLAX_INSTALL_OFFLINE:-0}\" = 1 ]; then
  \"\$PARALLAX_PYTHON\" -m venv --without-pip ~/parallax/venv
  \"\$PARALLAX_PYTHON\" -c 'import site; print(site.getsitepackages()[0])' > \"\$(~/parallax/venv/bin/python -c 'import site; print(site.getsitepackages()[0])')/parallax-offline.pth\"
  ~/parallax/venv/bin/python -m pip install -q --no-deps --no-build-isolation ~/parallax/src
else
  export PATH=\"\$HOME/.local/bin:\$PATH\"
  command -v uv >/dev/null || python3 -m pip install -q --user uv
  uv venv -q --python $PYVER ~/parallax/venv
  uv pip install -q --python ~/parallax/venv/bin/python \"\$HOME/parallax/src[tpu,gcs]\"
fi
~/parallax/venv/bin/python -c 'import sys, jax, parallax; assert sys.version_info >= (3, 11), sys.version; assert jax.__version__ == \"$JAX_PIN\", (jax.__version__, \"$JAX_PIN\"); print(\"parallax installed: Python\", sys.version.split()[0], \"jax\", jax.__version__)'"
  ssh_all "$(oneline "$cmd")"
}

start_run() {
  local args="" a
  for a in ${OVERRIDES[@]+"${OVERRIDES[@]}"}; do args+=" $(printf '%q' "$a")"; done
  local wd="$WORKDIR"
  [[ "$wd" == '$HOME'* ]] || wd="$(printf '%q' "$wd")"
  # One session per run (setsid): a dropped ssh connection does not end it, and stop signals the
  # whole group. The wrapper records the exit code and the summary's status for launch/status.
  local py='import json, sys; from etils import epath; print(json.loads((epath.Path(sys.argv[1]) / "summary.json").read_text())["status"])'
  local body="~/parallax/venv/bin/python $SCRIPT --workdir $wd$args > $R/$RUN.log 2>&1; rc=\$?; echo \$rc > $R/$RUN.rc; ~/parallax/venv/bin/python -c '$py' $wd > $R/$RUN.status 2>/dev/null || echo unknown > $R/$RUN.status"
  local cmd="set -eu; mkdir -p $R; cd ~/parallax/src
if [ -f $R/$RUN.pid ] && kill -0 \"\$(cat $R/$RUN.pid)\" 2>/dev/null; then echo \"run $RUN is running already\"; exit 0; fi
rm -f $R/$RUN.rc $R/$RUN.status
nohup setsid bash -c $(printf '%q' "trap true TERM; $body") >/dev/null 2>&1 </dev/null &
echo \$! > $R/$RUN.pid"
  ssh_all "$(oneline "$cmd")"
}

# One word per worker: running | exited:RC:STATUS | none
WORKER_STATE="if [ -f $R/$RUN.pid ] && kill -0 \"\$(cat $R/$RUN.pid)\" 2>/dev/null; then echo running; elif [ -f $R/$RUN.rc ]; then echo \"exited:\$(cat $R/$RUN.rc):\$(cat $R/$RUN.status 2>/dev/null)\"; else echo none; fi"

# 0 when the run ended on every worker (its state in ENDED), 1 when the VM went away.
wait_run() {
  local st out
  if [[ "$DRY_RUN" == 1 ]]; then ssh_all "$WORKER_STATE"; ENDED=completed; return 0; fi
  while :; do
    sleep "$POLL"
    st="$(vm_state)"
    [[ "$st" == READY ]] || { say "$NAME is $st"; return 1; }
    out="$(ssh_all "$WORKER_STATE")" || continue
    if ! grep -q '^running$' <<<"$out"; then
      ENDED="$(grep -m1 -o '^exited:.*' <<<"$out" | cut -d: -f3)"
      say "run $RUN ended: $(tr '\n' ' ' <<<"$out")"
      return 0
    fi
  done
}

case "$CMD" in
  logs)
    if [[ "$FOLLOW" == 1 ]]; then ssh_one "$WORKER" "tail -n 100 -F $R/$RUN.log"; else ssh_one "$WORKER" "tail -n 100 $R/$RUN.log"; fi
    exit ;;
  status)
    say "$NAME: $(vm_state)"
    ssh_all "echo \"run $RUN on \$(hostname): \$($WORKER_STATE)\""
    exit ;;
  stop)
    ssh_all "if [ -f $R/$RUN.pid ] && kill -0 \"\$(cat $R/$RUN.pid)\" 2>/dev/null; then kill -TERM -- -\"\$(cat $R/$RUN.pid)\"; echo \"stopping run $RUN (it saves a checkpoint)\"; fi"
    exit ;;
  delete)
    delete_vm
    exit ;;
esac

# launch
cleanup() {
  local rc=$?
  if [[ "$DELETE" == 1 ]]; then say "deleting $NAME (--delete)"; delete_vm || say "could not delete $NAME: delete it by hand"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "run $RUN of $SCRIPT in $WORKDIR; jax[tpu]==$JAX_PIN"
attempt=0
while :; do
  ensure_vm
  [[ "$INSTALL" == 1 ]] && install
  start_run
  if [[ "$DETACH" == 1 ]]; then
    say "started; follow it with: $0 logs --follow --name $NAME --zone $ZONE --run-name $RUN"
    exit 0
  fi
  ENDED=""
  if wait_run; then
    case "$ENDED" in
      completed) say "run $RUN completed"; exit 0 ;;
      preempted)
        # a Spot VM gets SIGTERM (the run saves) shortly before it is taken away
        t=0
        while st="$(vm_state)"; [[ "$st" == READY && $t -lt $PREEMPT_WAIT ]]; do sleep "$POLL"; t=$((t + ${POLL%.*} + 1)); done
        if [[ "$st" == READY ]]; then say "run $RUN was stopped; re-run this command to resume"; exit 0; fi
        say "$NAME is $st" ;;
      *) say "run $RUN ended with status '$ENDED' (see: $0 logs --name $NAME --zone $ZONE --run-name $RUN)"; exit 1 ;;
    esac
  fi
  attempt=$((attempt + 1))
  if [[ $attempt -gt $RETRY ]]; then
    say "$NAME was preempted; re-run this command to resume (or pass --retry N)"
    exit 3
  fi
  say "retry $attempt/$RETRY: recreating $NAME and resuming run $RUN"
  INSTALL=1
done
