#!/bin/bash
# runsc driven by containerd's runc shim (Debian ships no containerd-shim-runsc-v1).
# gen-conf.sh installs this as $BIN/runsc with @RUNSC@ and @FLAGS@ filled in.
# runsc's command line is runc's, but for a pod's app container (a subcontainer
# of the pod's sandbox) three things differ, and this bridges them:
#  - its stdio are those of `runsc start`, not of `runsc create` as with runc:
#    create's stdio (the shim's pipes to the container log) are held by a
#    placeholder process until start, which is given them;
#  - `runsc start` leaves the container's gofer holding start's stdout, so a
#    shim reading start's output to EOF would wait forever: start's own output
#    goes through a file;
#  - the pid create reports is the sandbox's, which outlives the container, so
#    the shim would never see it exit: the pid file names a waiter instead,
#    which exits with the container's status (`runsc wait`).
runsc=(@RUNSC@ @FLAGS@)
state=/run/containerd/runsc-wrap
args=("$@")
cmd="" id="${args[-1]}" globals=() pidfile="" bundle="" console=0
for ((i = 0; i < ${#args[@]}; i++)); do
  a=${args[i]}
  if [ -z "$cmd" ]; then
    case $a in
    create | start) cmd=$a ;;
    --root | --log | --log-format) globals+=("$a" "${args[i + 1]}"); i=$((i + 1)) ;;
    esac
  else
    case $a in
    --pid-file) pidfile=${args[i + 1]} ;;
    --bundle) bundle=${args[i + 1]} ;;
    --console-socket) console=1 ;;
    esac
  fi
done
sub=0
[ -n "$bundle" ] && grep -q '"io.kubernetes.cri.container-type":"container"' "$bundle/config.json" && sub=1
case $cmd in
create)
  "${runsc[@]}" "$@" || exit
  if ((sub)) && ((!console)); then
    mkdir -p "$state"
    # the container's stdio, held until start hands them to the sandbox
    sleep 600 &
    echo $! >"$state/$id.stdio"
  fi
  if ((sub)) && [ -n "$pidfile" ]; then
    # the shim watches this pid for the container's exit: make it a process that
    # exits when the container does, with its status
    (
      exec </dev/null >/dev/null 2>&1
      while "${runsc[@]}" "${globals[@]}" state "$id" 2>/dev/null | grep -q '"status": *"created"'; do sleep 0.1; done
      st=$("${runsc[@]}" "${globals[@]}" wait "$id" 2>/dev/null | grep -o '"exitStatus": *[0-9]*' | grep -o '[0-9]*$')
      exit "${st:-255}"
    ) &
    echo -n $! >"$pidfile"
  fi
  exit 0
  ;;
start)
  h=$(cat "$state/$id.stdio" 2>/dev/null)
  if [ -n "$h" ]; then
    "${runsc[@]}" "$@" </proc/$h/fd/0 >/proc/$h/fd/1 2>/proc/$h/fd/2
    rc=$?
    kill "$h"
    rm -f "$state/$id.stdio"
    exit $rc
  fi
  out=$(mktemp)
  "${runsc[@]}" "$@" >"$out" 2>&1
  rc=$?
  cat "$out"
  rm -f "$out"
  exit $rc
  ;;
esac
exec "${runsc[@]}" "$@"
