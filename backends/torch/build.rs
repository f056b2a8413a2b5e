//! Compiles the C++ shim (src/shim.cpp) against libtorch and links the plugin to it.
//!
//! libtorch is the CPU part of PyPI's torch 2.13.0 wheel, staged by `make deps-torch` in
//! `~/.cache/redisai/torch-2.13.0/torch` (`include/`, `lib/`); `LIBTORCH` names another
//! directory of that layout. When there is none, the plugin is built without the shim (no
//! `has_libtorch` cfg): it builds and its tests pass, but it refuses to load.
//!
//! The plugin finds `libtorch_cpu.so` and `libc10.so` through an RPATH (not RUNPATH, so that
//! LD_LIBRARY_PATH cannot swap in another libtorch); `libtorch_cpu.so`'s own RPATH finds
//! `libgomp`, `libcudart` and `libcupti` beside it and in `../../nvidia/cu13/lib`.

use std::env;
use std::path::{Path, PathBuf};

fn libtorch_dir() -> PathBuf {
    if let Some(dir) = env::var_os("LIBTORCH").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(".cache/redisai/torch-2.13.0/torch")
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/shim.cpp");
    println!("cargo:rerun-if-changed=src/shim.h");
    println!("cargo:rustc-check-cfg=cfg(has_libtorch)");

    let dir = libtorch_dir();
    let lib = dir.join("lib");
    let include = dir.join("include");
    let stamp = dir.parent().unwrap_or(Path::new("/")).join(".done");
    // Without libtorch these paths are missing, and Cargo reruns this script on every build,
    // which notices when `make deps-torch` has staged it.
    println!("cargo:rerun-if-changed={}", stamp.display());
    println!(
        "cargo:rerun-if-changed={}",
        lib.join("libtorch_cpu.so").display()
    );
    let present = include.join("torch/script.h").is_file() && lib.join("libtorch_cpu.so").is_file();
    if !present {
        println!(
            "cargo:warning=libtorch not found in {} (run `make deps-torch`, or set LIBTORCH): \
             the TORCH backend is built without it and will refuse to load",
            dir.display()
        );
        return;
    }

    cc::Build::new()
        .cpp(true)
        .file("src/shim.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        // libtorch 2.13's headers require C++20 (its TorchConfig.cmake sets CXX_STANDARD 20).
        .std("c++20")
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .opt_level(2)
        .debug(false)
        .warnings(false)
        .flag("-Wall")
        .compile("redisai_torch_shim");

    // After the shim's static library, which needs them.
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!(
        "cargo:rustc-link-arg=-Wl,--disable-new-dtags,-rpath,{}",
        lib.display()
    );
    println!("cargo:rustc-env=REDISAI_LIBTORCH_DIR={}", dir.display());
    println!("cargo:rustc-cfg=has_libtorch");
}
