# Host side of the QEMU lab, sourced by run-scenario: fetch the guest kernel and build the initramfs (both cached), boot.
# shellcheck shell=bash

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_CACHE=${TARGE_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/targe/vm}
LAB_MEM=${TARGE_VM_MEM:-2048}
LAB_SMP=${TARGE_VM_SMP:-2}

# Loaded by the initramfs in this order (dependencies first, resolved by modprobe --show-depends).
# crc32_generic must be there or rxe refuses to attach; the rest can also be modprobe'd later
# because the guest sees the kernel's whole module tree.
LAB_MODULES="crc32_generic crc32c_generic virtio_pci virtio_net 9pnet_virtio 9p overlay
  rdma_rxe ib_uverbs rdma_ucm ib_umad ib_iser ib_srp iscsi_tcp sd_mod sg sr_mod st ext4"

lab_log() { echo "vm-lab: $*" >&2; }
lab_die() { echo "vm-lab: error: $*" >&2; exit 2; }

# Prints the kernel version the lab boots: TARGE_VM_KVER, else what linux-image-amd64 points
# to in the apt lists, else the newest kernel already cached (so an offline machine still runs).
lab_kernel_version() {
	if [ -n "${TARGE_VM_KVER:-}" ]; then echo "$TARGE_VM_KVER"; return; fi
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	if [ -z "$pkg" ] && ! ls "$LAB_CACHE"/*/.complete >/dev/null 2>&1; then
		lab_log "apt lists do not know linux-image-amd64; running apt-get update"
		apt-get update -qq >&2 || true
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	fi
	if [ -n "$pkg" ]; then echo "${pkg#linux-image-}"; return; fi
	local cached
	cached=$(ls -d "$LAB_CACHE"/*/.complete 2>/dev/null | sort -V | tail -1)
	[ -n "$cached" ] || lab_die "cannot find a Debian kernel package (apt-cache depends linux-image-amd64 is empty)"
	basename "$(dirname "$cached")"
}

# Unpacks linux-image-KVER into $LAB_CACHE/KVER/root once (never installs it on the host).
lab_fetch_kernel() {
	local kver=$1 dir=$LAB_CACHE/$1
	[ -e "$dir/.complete" ] && return 0
	lab_log "fetching linux-image-$kver into $dir"
	rm -rf "$dir/root" "$dir/dl"; mkdir -p "$dir/dl"
	# the cache is usually under /root, where apt's unprivileged _apt user cannot write
	(cd "$dir/dl" && apt-get download -q -o APT::Sandbox::User=root "linux-image-$kver" >&2) || lab_die "apt-get download linux-image-$kver failed"
	dpkg -x "$dir"/dl/linux-image-"$kver"_*.deb "$dir/root" || lab_die "dpkg -x failed"
	depmod -b "$dir/root" "$kver" || lab_die "depmod failed"
	[ -e "$dir/root/boot/vmlinuz-$kver" ] || lab_die "no vmlinuz-$kver in the package"
	rm -rf "$dir/dl"
	touch "$dir/.complete"
}

# Builds (or reuses) the initramfs for KVER; prints its path. The name carries a hash of
# everything that goes in, so editing guest-init or the module list rebuilds it.
lab_build_initrd() {
	local kver=$1 dir=$LAB_CACHE/$1 key out tmp f rel m
	key=$(cat "$LAB_DIR/guest-init" /usr/bin/busybox <(echo "$LAB_MODULES") | sha256sum | cut -c1-12)
	out=$dir/initrd-$key.gz
	if [ -e "$out" ]; then echo "$out"; return 0; fi
	lab_log "building $out"
	tmp=$(mktemp -d "$dir/initrd.XXXXXX")
	mkdir -p "$tmp/bin" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/mnt"
	cp /usr/bin/busybox "$tmp/bin/busybox"
	"$tmp/bin/busybox" --list | while read -r a; do [ "$a" = busybox ] || ln -s busybox "$tmp/bin/$a"; done
	: > "$tmp/modorder"
	for m in $LAB_MODULES; do
		local deps
		deps=$(modprobe -d "$dir/root" -S "$kver" --show-depends "$m") || lab_die "module $m not found for $kver"
		for f in $(echo "$deps" | awk '/^insmod/{print $2}'); do
			rel=/lib/modules/${f#*/lib/modules/}
			grep -qxF "$rel" "$tmp/modorder" && continue
			echo "$rel" >> "$tmp/modorder"
			mkdir -p "$tmp$(dirname "$rel")"
			cp "$f" "$tmp$rel"
		done
	done
	cp "$LAB_DIR/guest-init" "$tmp/init"; chmod 755 "$tmp/init"
	(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.part" && mv "$out.part" "$out"
	rm -rf "$tmp"
	echo "$out"
}

# Prints the qemu accelerator arguments. KVM only when asked for or when a probe boot with it
# finished once on this host (nested KVM hangs on some machines, so auto never trusts it blindly).
lab_accel() {
	local want=${TARGE_VM_ACCEL:-auto}
	case "$want" in
	tcg) echo "-accel tcg -cpu max"; return ;;
	kvm) echo "-accel kvm -cpu host"; return ;;
	auto) ;;
	*) lab_die "TARGE_VM_ACCEL must be auto, kvm or tcg" ;;
	esac
	local probe
	probe=$LAB_CACHE/kvm-probe-$(uname -r)-$(qemu-system-x86_64 --version | awk 'NR==1{print $4}')
	if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ -e "$probe" ] && [ "$(cat "$probe")" = ok ]; then
		echo "-accel kvm -cpu host"
	else
		echo "-accel tcg -cpu max"
	fi
}

# Boots the guest once with KVM and a trivial job to learn whether KVM works here; the answer is
# cached so later runs pick their accelerator without paying for the probe again.
lab_probe_kvm() {
	local kernel=$1 initrd=$2 probe out
	probe=$LAB_CACHE/kvm-probe-$(uname -r)-$(qemu-system-x86_64 --version | awk 'NR==1{print $4}')
	[ -e "$probe" ] && return 0
	if ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then echo no-dev > "$probe"; return 0; fi
	out=$(mktemp -d)
	lab_log "probing KVM (one-time, up to 40 s)"
	if TARGE_VM_ACCEL=kvm lab_boot "$kernel" "$initrd" "$out" 40 >/dev/null 2>&1 && [ -e "$out/booted" ]; then
		echo ok > "$probe"
	else
		echo hangs > "$probe"
	fi
	lab_log "KVM probe: $(cat "$probe")"
	rm -rf "$out"
}

# Boots the guest: host / read-only over 9p as its root (tmpfs overlay on top), OUT writable at
# the same path, guest-run.sh as the job. Killed after TIMEOUT seconds whatever the guest does.
# The job reads OUT/guest.env; the console goes to OUT/console.log.
lab_boot() {
	local kernel=$1 initrd=$2 out=$3 timeout=$4 kmod
	kmod=$(dirname "$(dirname "$kernel")")/lib/modules
	# shellcheck disable=SC2046
	timeout --kill-after=10 "$timeout" qemu-system-x86_64 $(lab_accel) -m "$LAB_MEM" -smp "$LAB_SMP" \
		-nographic -no-reboot -monitor none \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1 lab.out=$out lab.kmod=$kmod lab.run=$LAB_DIR/guest-run.sh" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs local,path="$out",mount_tag=out,security_model=none \
		-netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
		< /dev/null > "$out/console.log" 2>&1
}
