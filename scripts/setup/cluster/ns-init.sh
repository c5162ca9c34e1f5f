#!/usr/bin/env bash
# The holder: runs in the cluster's netns and a private mount namespace, prepares
# that mount namespace, then keeps both alive. Every component joins them.
#  - tmpfs over /run and /var/log: shim sockets, runc/runsc state, CNI netns files
#    and pod logs never reach the host;
#  - kubelet would set vm.overcommit_memory=1, kernel.panic=10 and
#    kernel.panic_on_oops=1, which are host-wide: it gets files holding those
#    values bind-mounted over them instead;
#  - resolv.conf names a resolver nobody answers, so no DNS query leaves.
set -euo pipefail
. "$(dirname "$0")/common.sh"
fake=$RUN/fake-sysctl
mkdir -p "$fake"
echo 1 >"$fake/overcommit_memory"
echo 10 >"$fake/panic"
echo 1 >"$fake/panic_on_oops"
mount --bind "$fake/overcommit_memory" /proc/sys/vm/overcommit_memory
mount --bind "$fake/panic" /proc/sys/kernel/panic
mount --bind "$fake/panic_on_oops" /proc/sys/kernel/panic_on_oops
mount -t tmpfs -o mode=755 cb-k8s-run /run
mount -t tmpfs -o mode=755 cb-k8s-varlog /var/log
mkdir -p /run/netns
mount --bind "$CONF/resolv.conf" /etc/resolv.conf
echo ready
exec sleep infinity
