#!/bin/sh
# Installs the Debian packages a make goal needs (build | test | bench), only those missing.
set -eu
goal=${1:-build}
build="build-essential cmake pkg-config libev-dev libconfig-dev libisal-dev liburing-dev nettle-dev
       libibverbs-dev librdmacm-dev libjansson-dev"
test="$build libcmocka-dev libiscsi-dev libiscsi-bin clang libclang-rt-14-dev llvm util-linux
      qemu-system-x86 busybox-static cpio kmod open-iscsi fio e2fsprogs sg3-utils lsscsi
      rdma-core ibverbs-providers ibverbs-utils rdmacm-utils srptools libibverbs-dev librdmacm-dev
      python3 procps iproute2"
bench="$test tgt linux-perf valgrind"
case "$goal" in
build) want=$build ;;
test) want=$test ;;
bench) want=$bench ;;
*) echo "deps.sh: unknown goal $goal" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# Daemons in these packages (iscsid, tgt) must not start on the host: the tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
fi
$SUDO apt-get update -qq || true
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
