"""Stages the CPU part of libtorch out of PyPI wheels, for the TORCH backend plugin.

    python3 stage_libtorch.py <dest> <torch wheel> <dir holding the nvidia-cuda-runtime 13.0.96
                                                   and nvidia-cuda-cupti 13.0.85 wheels>

PyPI's torch 2.13.0 wheel is a CUDA 13 build, and even its `libtorch_cpu.so` NEEDs
`libcudart.so.13` and `libcupti.so.13`, found through its RPATH `$ORIGIN/../../nvidia/cu13/lib`.
So `<dest>` gets the same layout as a site-packages directory, with only what the plugin needs:

    <dest>/torch/include/...                       headers (the plugin's shim compiles against them)
    <dest>/torch/lib/libtorch_cpu.so, libc10.so, libgomp.so.1
    <dest>/nvidia/cu13/lib/libcudart.so.13, libcupti.so.13
    <dest>/.done                                   stamp, written last

Everything is unpacked into a temporary directory beside `<dest>` that is renamed into place, so
an interrupted run leaves nothing half-made. Prints one line of sizes.
"""

import glob
import os
import shutil
import sys
import zipfile

TORCH_LIBS = ["libtorch_cpu.so", "libc10.so", "libgomp.so.1"]
# (wheel file pattern, library in it)
CUDA_LIBS = [
    ("nvidia_cuda_runtime-13.0.96-*.whl", "libcudart.so.13"),
    ("nvidia_cuda_cupti-13.0.85-*.whl", "libcupti.so.13"),
]


def extract(zf, member, root):
    """Extracts one member under root, keeping its path; returns its size."""
    target = os.path.join(root, member)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with zf.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    if member.endswith((".so", ".so.1", ".so.13")):
        os.chmod(target, 0o755)
    return zf.getinfo(member).file_size


def size_of(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    return total


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: stage_libtorch.py <dest> <torch wheel> <wheels dir>")
    dest, torch_wheel, wheels = sys.argv[1:]
    dest = os.path.abspath(dest)
    tmp = "%s.tmp.%d" % (dest, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        with zipfile.ZipFile(torch_wheel) as zf:
            names = zf.namelist()
            for lib in TORCH_LIBS:
                member = "torch/lib/" + lib
                if member not in names:
                    sys.exit("%s has no %s" % (torch_wheel, member))
                extract(zf, member, tmp)
            headers = [n for n in names if n.startswith("torch/include/") and not n.endswith("/")]
            if not headers:
                sys.exit("%s has no torch/include" % torch_wheel)
            for member in headers:
                extract(zf, member, tmp)
        for pattern, lib in CUDA_LIBS:
            found = sorted(glob.glob(os.path.join(wheels, pattern)))
            if not found:
                sys.exit("no %s in %s" % (pattern, wheels))
            wheel = found[-1]
            with zipfile.ZipFile(wheel) as zf:
                member = "nvidia/cu13/lib/" + lib
                if member not in zf.namelist():
                    sys.exit("%s has no %s" % (wheel, member))
                extract(zf, member, tmp)
        open(os.path.join(tmp, ".done"), "w").close()
        # An earlier, unfinished staging (no stamp) is replaced.
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mib = lambda p: size_of(os.path.join(dest, p)) / (1 << 20)
    print(
        "libtorch staged in %s: torch/lib %.0f MiB, torch/include %.0f MiB, nvidia/cu13/lib %.1f MiB"
        % (dest, mib("torch/lib"), mib("torch/include"), mib("nvidia/cu13/lib"))
    )


if __name__ == "__main__":
    main()
