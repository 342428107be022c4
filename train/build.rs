//! Records libtorch's folder (from torch-sys, through its `links = "tch"` metadata) as an rpath,
//! so that `rastrum-train` and its tests run without LD_LIBRARY_PATH.
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
