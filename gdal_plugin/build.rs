//! Compiles the C++ half of the driver (GDAL's dataset and band classes) against GDAL's headers.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/driver.cpp");
    let cflags = Command::new("gdal-config")
        .arg("--cflags")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| "-I/usr/include/gdal".into());
    let mut build = cc::Build::new();
    build.cpp(true).file("src/driver.cpp").flag_if_supported("-std=c++17").warnings(true).extra_warnings(true);
    for flag in cflags.split_whitespace() {
        match flag.strip_prefix("-I") {
            Some(dir) => {
                build.include(dir);
            }
            None => {
                build.flag(flag);
            }
        }
    }
    build.compile("rastrum_gdal_driver");
}
