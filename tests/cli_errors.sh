#!/usr/bin/env bash
# The command line's error paths: each failure is one clear line naming what is at fault and a
# non-zero exit (2 for usage errors, 1 for everything else); nothing crashes or hangs.
set -u
. "$(dirname "$0")/lib_cli.sh"

expect 2 "usage: ctvk COMMAND" -- "$BIN"
expect 2 "unknown command 'frobnicate'" -- "$BIN" frobnicate
expect 0 "devices .*phantom .*train .*cv .*infer .*import-keras .*export-keras .*bench .*report" -- bash -c "'$BIN' help | tr '\n' ' '"
expect 0 "usage: ctvk devices" -- "$BIN" devices --help
expect 0 "usage: ctvk devices" -- "$BIN" help devices
expect 2 "unknown option '--bogus'" -- "$BIN" devices --bogus
expect 2 "section.key=value" -- "$BIN" smoke --set nodot
expect 0 "^\* [0-9]+: .*llvmpipe|^\* [0-9]+: " -- "$BIN" devices
expect 1 "cannot load the Vulkan loader '/nonexistent/libvulkan.so.1'.*apt-get install libvulkan1" -- \
    env CTVK_VULKAN_LIBRARY=/nonexistent/libvulkan.so.1 "$BIN" devices
expect 1 "no Vulkan (driver|device) found.*mesa-vulkan-drivers" -- \
    env VK_DRIVER_FILES=/nonexistent.json VK_ICD_FILENAMES=/nonexistent.json "$BIN" smoke
expect 1 "no Vulkan device matches 'nosuchgpu' \(from CTVK_DEVICE\); devices: 0: " -- \
    env CTVK_DEVICE=nosuchgpu "$BIN" smoke
expect 1 "no Vulkan device matches 'nosuchgpu' \(from the config or --device\)" -- "$BIN" smoke --device nosuchgpu
mkdir -p "$T/nolayers"
expect 1 "VK_LAYER_KHRONOS_validation is not installed: 'apt-get install vulkan-validationlayers'" -- \
    env VK_LAYER_PATH="$T/nolayers" CTVK_VALIDATION=1 "$BIN" smoke --elements 16
expect 1 "device was lost" -- env CTVK_FAULT=submit "$BIN" smoke --elements 16
expect 1 "tensor 'x' of 3.8 MiB does not fit the device memory budget: 0 bytes are allocated and the budget on .* is 1.0 MiB" -- \
    "$BIN" smoke --elements 1000000 --set device.memory_limit_mb=1
printf '[device]\nvalidation = maybe\n' > "$T/bad.ini"
expect 1 "config $T/bad.ini: \[device\] validation = 'maybe' is not a boolean" -- "$BIN" smoke "$T/bad.ini"
expect 1 "config $T/missing.ini: cannot read it" -- "$BIN" smoke "$T/missing.ini"
printf '[device]\nmemory_limit_mb = -5\n' > "$T/range.ini"
expect 1 "\[device\] memory_limit_mb = -5 is out of range" -- "$BIN" smoke "$T/range.ini"
printf '[device]\nvariant = fast\n' > "$T/variant.ini"
expect 1 "\[device\] variant = 'fast': expected auto, gpu or cpu" -- "$BIN" smoke "$T/variant.ini"
expect 0 "worst error 0" -- "$BIN" smoke --elements 1001 --set device.variant=cpu --set device.push_descriptors=false

# started by an MPI launcher, but built without MPI: say so instead of running N copies of one job
if [ "${CTVK_TEST_MPI:-OFF}" != ON ]; then
    expect 1 "built without MPI: rebuild with cmake -DCTVK_MPI=ON" -- env OMPI_COMM_WORLD_SIZE=2 "$BIN" devices
fi

# integers are decimal everywhere; an option or a config key given twice names both
printf '[device]\nmax_dispatches_per_submit = 0x10\n' > "$T/hex.ini"
expect 1 "\[device\] max_dispatches_per_submit = '0x10' is not an integer \(integers are written in decimal\)" -- \
    "$BIN" smoke "$T/hex.ini" --elements 16
expect 2 "--seed '0x10': expected a non-negative decimal integer" -- "$BIN" phantom --out "$T/ph" --seed 0x10
expect 2 "--fold 0x10: expected 1, 2" -- "$BIN" train "$T/hex.ini" --fold 0x10
expect 2 "--fold is given twice \(argument 2: --fold 1, argument 4: --fold 2\)" -- "$BIN" train "$T/x.ini" --fold 1 --fold 2
expect 2 "--device is given twice \(argument 1: --device 0, argument 3: --device=1\)" -- "$BIN" smoke --device 0 --device=1
expect 2 "--set device.name is given twice \(argument 1: device.name=a, argument 3: device.name=b\)" -- \
    "$BIN" smoke --set device.name=a --set=device.name=b
expect 2 "--resume is given twice" -- "$BIN" train "$T/x.ini" --fold 1 --resume --resume
printf '[device]\nvariant = cpu\n\n[device]\nvariant = gpu\n' > "$T/dup.ini"
expect 1 "config $T/dup.ini: \[device\] variant is given twice \(lines 2 and 5\)" -- "$BIN" smoke "$T/dup.ini"
# a folder or a FIFO as the config: said at once, no hang
expect 1 "config $T: cannot read it \(it is a folder, not a config file\)" -- "$BIN" smoke "$T"
mkfifo "$T/fifo.ini"
CLI_TIMEOUT=20 expect 1 "config $T/fifo.ini: cannot read it \(not a regular file\)" -- "$BIN" smoke "$T/fifo.ini"

# a message is never cut: a 2,000-character path and the cause after it both show
seg=$(printf 'd%.0s' $(seq 240))
LONG="$T/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg"
mkdir -p "$LONG"
expect 1 "checkpoint $LONG/missing.ckpt: cannot open it: No such file or directory" -- \
    "$BIN" export-keras "$LONG/missing.ckpt" --out "$T/x.h5"
MID="$T/$seg/$seg/$seg"                       # a config line holds at most 1,022 bytes
mkdir -p "$MID/none"
printf '[data]\nroot = %s/none\nfolds_dir = %s/none\n[model]\narch = small_resnet\ninput_size = 16\n[output]\ndir = %s/run\n' \
    "$MID" "$MID" "$MID" > "$T/longroot.ini"
expect 1 "ctvk train: $MID/none: no fold lists there \(expected train1.csv" -- "$BIN" train "$T/longroot.ini" --fold 1

# a HOME that does not exist: no cache, and no folder created for one
expect 0 "worst error 0" -- env -u CTVK_CACHE_DIR -u XDG_CACHE_HOME HOME="$T/nohome/home" "$BIN" smoke --elements 16
ok "HOME=/nonexistent creates nothing" '[ ! -e "$T/nohome" ]'
expect 0 "worst error 0" -- env -u CTVK_CACHE_DIR XDG_CACHE_HOME="$T/noxdg/cache" HOME="$T" "$BIN" smoke --elements 16
ok "a missing XDG_CACHE_HOME creates nothing" '[ ! -e "$T/noxdg" ] && [ ! -e "$T/.cache" ]'

finish cli_errors
