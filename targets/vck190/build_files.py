"""The files Vitis builds the package with: HLS config, v++ link and package configs, the Makefile."""

from __future__ import annotations

from nscc.targets.vck190.hls import Kernel


def hls_config() -> str:
    return """# Vitis unified HLS flow (2023.2 and later). The Makefile writes build/hls_config.cfg from
# this file with @PKG@ replaced by the package's absolute path, then runs
# v++ -c --mode hls (make hls) or vitis-run --mode hls --csim (make vitis-csim) on it.
# The platform and clock come from the Makefile (PLATFORM, FREQ_HZ).
[hls]
flow_target=vitis
syn.file=@PKG@/kernel/nscc_kernel.cpp
syn.cflags=-I@PKG@/kernel
syn.top=nscc_top
tb.file=@PKG@/tb/tb_main.cpp
tb.cflags=-I@PKG@/kernel -I@PKG@/tb
csim.argv=@PKG@
cosim.argv=@PKG@
syn.output.format=xo
clock_uncertainty=15%
"""


def system_cfg(kernel: Kernel) -> str:
    lines = [
        "# v++ -l connectivity: one kernel; weights in two banks (even words on DDR, odd on LPDDR), parameters on DDR, state and I/O on LPDDR",
        "[connectivity]",
        "nk=nscc_top:1:nscc_top_1",
    ]
    lines += ["sp=nscc_top_1.wgt:DDR", "sp=nscc_top_1.wgt2:LPDDR", "sp=nscc_top_1.prm:DDR"]
    if kernel.state_words:
        lines.append("sp=nscc_top_1.state:LPDDR")
    lines += [f"sp=nscc_top_1.{x['port']}:LPDDR" for x in kernel.inputs + kernel.outputs]
    return "\n".join(lines) + "\n"


def package_cfg(vectors: list[str]) -> str:
    return """# v++ -p: SD-card image for the VCK190 (boot mode SW1 = 1110); COMMON_IMAGE from the Makefile
[package]
boot_mode=sd
image_format=ext4
sd_file=build/host.exe
sd_file=weights/weights.bin
sd_file=weights/weights_b.bin
sd_file=weights/params.bin
sd_file=weights/host.bin
sd_file=weights/weights.json
""" + "".join(f"sd_file=tb/vectors/{v}\n" for v in vectors)


def makefile() -> str:
    return r"""# nscc VCK190 package. Set PLATFORM (e.g. xilinx_vck190_base_202420_1), COMMON_IMAGE
# (xilinx-versal-common-v2024.2) and optionally FREQ_HZ; `make csim` needs only g++.
PLATFORM ?= xilinx_vck190_base_202420_1
COMMON_IMAGE ?= $(HOME)/xilinx-versal-common-v2024.2
FREQ_HZ ?= 300000000
CXX ?= g++
AP_TYPES ?=
XRT_INCLUDE ?= /usr/include/xrt

CSIM_FLAGS := -std=c++14 -O2 -Wall -Wno-unknown-pragmas -Wno-unused-label -Ikernel -Itb
ifneq ($(AP_TYPES),)
CSIM_FLAGS += -DNSCC_AP_TYPES -isystem $(AP_TYPES) -Wno-maybe-uninitialized
endif

.PHONY: all csim lint hls vitis-csim cosim link package host host-check clean
all: package

# C simulation with g++ (no Vitis needed): exits 0 only when every output equals its golden vector
build/csim: kernel/nscc_kernel.cpp kernel/nscc_model.h kernel/nscc_hls.h kernel/nscc_int.h kernel/nscc_fixed.h tb/tb_main.cpp tb/tb_io.h
	@mkdir -p build
	$(CXX) $(CSIM_FLAGS) kernel/nscc_kernel.cpp tb/tb_main.cpp -o $@
csim: build/csim
	./build/csim .

# Synthesizability checks: forbidden constructs, then a strict compile of the kernel alone
lint:
	python3 scripts/hls_lint.py kernel
	$(CXX) -std=c++14 -fsyntax-only -fno-exceptions -fno-rtti -Werror=vla -Wall -Wno-unknown-pragmas -Wno-unused-label -Ikernel kernel/nscc_kernel.cpp

# Vitis: HLS -> .xo, link -> .xsa, package -> .xclbin + SD card
build/hls_config.cfg: cfg/hls_config.cfg
	@mkdir -p build
	sed 's|@PKG@|$(CURDIR)|g' $< > $@
build/nscc_top.xo: kernel/nscc_kernel.cpp kernel/nscc_model.h kernel/nscc_hls.h kernel/nscc_int.h kernel/nscc_fixed.h build/hls_config.cfg
	v++ -c --mode hls --platform $(PLATFORM) --freqhz=$(FREQ_HZ) --config build/hls_config.cfg --work_dir build/hls
	cp build/hls/nscc_top.xo $@ 2>/dev/null || find build/hls -name '*.xo' -exec cp {} $@ \;
hls: build/nscc_top.xo
# Vitis' own C simulation and C/RTL co-simulation of the same testbench
vitis-csim: build/hls_config.cfg
	vitis-run --mode hls --csim --config build/hls_config.cfg --work_dir build/hls
cosim: build/nscc_top.xo
	vitis-run --mode hls --cosim --config build/hls_config.cfg --work_dir build/hls
build/nscc.xsa: build/nscc_top.xo cfg/system.cfg
	v++ -l -t hw --platform $(PLATFORM) --config cfg/system.cfg --freqhz=$(FREQ_HZ):nscc_top_1.ap_clk build/nscc_top.xo -o $@
link: build/nscc.xsa
build/nscc.xclbin: build/nscc.xsa build/host.exe cfg/package.cfg
	v++ -p -t hw --platform $(PLATFORM) --config cfg/package.cfg --package.rootfs=$(COMMON_IMAGE)/rootfs.ext4 \
	--package.kernel_image=$(COMMON_IMAGE)/Image build/nscc.xsa -o $@
package: build/nscc.xclbin

# The aarch64 host program, with the common image's SDK (source its environment-setup script first)
build/host.exe: host/host.cpp
	@mkdir -p build
	$(CXX) -std=c++17 -O2 -I$(SDKTARGETSYSROOT)/usr/include/xrt host/host.cpp -o $@ -lxrt_coreutil -pthread
host: build/host.exe

# The same host program built for this machine against XRT's headers (Debian: libxrt-dev)
host-check:
	@mkdir -p build
	$(CXX) -std=c++17 -O2 -Wall -I$(XRT_INCLUDE) host/host.cpp -o build/host-check -lxrt_coreutil -pthread

clean:
	rm -rf build
"""
