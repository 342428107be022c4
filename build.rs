//! Gives the shared library its SONAME, librastrum.so.<ABI>, so that hosts depend on ABI
//! compatibility rather than on one build. Keep in step with RASTRUM_ABI_VERSION (src/ffi).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,librastrum.so.2");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
