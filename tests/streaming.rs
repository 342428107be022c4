//! Streaming: a cheap model over a raster of more than 20000 x 20000 pixels (a VRT mosaic of a
//! real raster, so the disk stays small) runs in bounded memory. Peak RSS of the `rastrum`
//! process is read from the kernel (wait4) and must stay under 1 GiB.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::*;

const LIMIT_BYTES: u64 = 1 << 30;

fn mosaic_vrt(dir: &Path, tiles_x: usize, tiles_y: usize) -> (std::path::PathBuf, usize, usize) {
    let src = data("rasterio/rasterio_RGB.byte.tif");
    let (sw, sh) = (791, 718);
    let (w, h) = (sw * tiles_x, sh * tiles_y);
    let mut xml = format!(
        "<VRTDataset rasterXSize=\"{w}\" rasterYSize=\"{h}\">\n<GeoTransform>500000, 30, 0, 4000000, 0, -30</GeoTransform>\n<VRTRasterBand dataType=\"Byte\" band=\"1\">\n"
    );
    for ty in 0..tiles_y {
        for tx in 0..tiles_x {
            let _ = writeln!(
                xml,
                "<SimpleSource><SourceFilename relativeToVRT=\"0\">{}</SourceFilename><SourceBand>1</SourceBand>\
                 <SrcRect xOff=\"0\" yOff=\"0\" xSize=\"{sw}\" ySize=\"{sh}\"/><DstRect xOff=\"{}\" yOff=\"{}\" xSize=\"{sw}\" ySize=\"{sh}\"/></SimpleSource>",
                src.display(),
                tx * sw,
                ty * sh
            );
        }
    }
    xml.push_str("</VRTRasterBand>\n</VRTDataset>\n");
    let path = dir.join("mosaic.vrt");
    std::fs::write(&path, xml).unwrap();
    (path, w, h)
}

/// Runs the CLI and returns (stdout, peak RSS in bytes) of the child, reaped with wait4 (not
/// Child::wait) because wait4 is what reports the child's resource usage.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&std::ffi::OsStr]) -> (String, u64) {
    let mut child = cli().args(args).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut stdout = String::new();
    use std::io::Read;
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "rastrum failed: status {status}");
    (stdout, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn memory_stays_bounded_over_a_20000_pixel_raster() {
    let dir = tmp();
    let (vrt, w, h) = mosaic_vrt(dir.path(), 26, 28);
    assert!(w >= 20000 && h >= 20000);
    let model = dir.path().join("threshold.onnx");
    threshold_model(&model);
    let out = dir.path().join("big.tif");
    let os = std::ffi::OsStr::new;
    let (stdout, rss) = run_measured(&[
        os("run"),
        model.as_os_str(),
        vrt.as_os_str(),
        out.as_os_str(),
        os("--tile-size"),
        os("512"),
        os("--overlap"),
        os("0"),
        os("--batch"),
        os("8"),
        os("--json"),
    ]);
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    eprintln!(
        "streaming {w}x{h}: peak RSS {:.0} MiB, {:.1} s, {:.1} Mpx/s",
        rss as f64 / (1 << 20) as f64,
        summary["seconds"].as_f64().unwrap(),
        summary["megapixels_per_second"].as_f64().unwrap()
    );
    assert!(rss < LIMIT_BYTES, "peak RSS {rss} bytes exceeds the 1 GiB bound");
    assert_eq!(summary["width"].as_u64().unwrap() as usize, w);
    assert_eq!(summary["height"].as_u64().unwrap() as usize, h);

    // Spot checks against the source: class 1 ("dark") where raw / 255 < 0.5.
    let (_, _, src) = read_band(&data("rasterio/rasterio_RGB.byte.tif"), 1);
    let ds = gdal::Dataset::open(&out).unwrap();
    let band = ds.rasterband(1).unwrap();
    for (x0, y0) in [(0usize, 0usize), (12345, 6789), (w - 300, h - 200), (7000, h - 1)] {
        let (cw, ch) = (300.min(w - x0), 200.min(h - y0));
        let got = band.read_as::<u8>((x0 as isize, y0 as isize), (cw, ch), (cw, ch), None).unwrap();
        for i in 0..ch {
            for j in 0..cw {
                let (x, y) = (x0 + j, y0 + i);
                let raw = src[(y % 718) * 791 + x % 791];
                let want = (0.5 > (raw * (1.0 / 255.0)) as f32) as u8;
                assert_eq!(got.data()[i * cw + j], want, "pixel ({x}, {y})");
            }
        }
    }
}
