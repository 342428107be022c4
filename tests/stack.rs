//! `rastrum stack`: bands of several files as the channels of one VRT, in the order given, each
//! equal to its source band read by GDAL directly; a coarser file resampled onto the first
//! file's grid by position; and the mismatches named.

mod common;

use common::*;
use gdal::spatial_ref::SpatialRef;
use gdal::DriverManager;
use rastrum::raster::stack::{stack, StackBand};

fn band(path: &std::path::Path, band: usize) -> StackBand {
    StackBand { path: path.to_path_buf(), band }
}

#[test]
fn single_band_files_stack_in_the_order_given() {
    let dir = tmp();
    let files: Vec<_> = [4, 3, 2, 5].iter().map(|b| data("landsat8_l1_b2_b7").join(format!("l8_B{b}.tif"))).collect();
    let out = dir.path().join("stack.vrt");
    let specs: Vec<StackBand> = files.iter().map(|f| band(f, 1)).collect();
    assert_eq!(stack(&specs, &out, "nearest").unwrap(), (627, 603));
    for (i, f) in files.iter().enumerate() {
        assert_eq!(read_band(&out, i + 1), read_band(f, 1), "band {} is {}", i + 1, f.display());
    }
    assert_eq!(geo_transform(&out), geo_transform(&files[0]));
    assert_eq!(projection(&out), projection(&files[0]));
    // The CLI takes FILE:N.
    let rgb = dir.path().join("rgb.tif");
    raster::<u8>(&rgb, 40, 30, &[ramp(40, 30), vec![7; 1200], vec![9; 1200]], None);
    let reversed = dir.path().join("bgr.vrt");
    let status = cli()
        .args(["stack", reversed.to_str().unwrap()])
        .args([3, 2, 1].map(|b| format!("{}:{b}", rgb.display())))
        .status()
        .unwrap();
    assert!(status.success());
    for b in 1..=3 {
        assert_eq!(read_band(&reversed, b), read_band(&rgb, 4 - b));
    }
}

#[test]
fn a_coarser_file_is_placed_by_its_georeference() {
    let dir = tmp();
    let fine = raster::<u16>(&dir.path().join("fine.tif"), 8, 6, &[(0..48).collect()], None);
    // 20 m pixels over the same corner: pixel (x, y) of the fine grid lies in (x / 2, y / 2).
    let coarse = dir.path().join("coarse.tif");
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver.create_with_band_type::<u16, _>(&coarse, 4, 3, 1).unwrap();
    ds.set_geo_transform(&[500000.0, 20.0, 0.0, 4000000.0, 0.0, -20.0]).unwrap();
    let values: Vec<u16> = (0..12).map(|v| 1000 + v).collect();
    ds.rasterband(1).unwrap().write((0, 0), (4, 3), &mut gdal::raster::Buffer::new((4, 3), values.clone())).unwrap();
    drop(ds);
    let out = dir.path().join("s.vrt");
    stack(&[band(&fine, 1), band(&coarse, 1)], &out, "nearest").unwrap();
    let (w, h, got) = read_band(&out, 2);
    assert_eq!((w, h), (8, 6));
    for y in 0..6 {
        for x in 0..8 {
            assert_eq!(got[y * 8 + x], values[(y / 2) * 4 + x / 2] as f64, "pixel ({x}, {y})");
        }
    }
}

#[test]
fn mismatches_are_named_and_nothing_is_written() {
    let dir = tmp();
    let a = raster::<u8>(&dir.path().join("a.tif"), 10, 10, &[ramp(10, 10)], None);
    let b = raster::<u8>(&dir.path().join("b.tif"), 10, 10, &[ramp(10, 10)], None);
    let mut ds = gdal::Dataset::open_ex(
        &b,
        gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE, ..Default::default() },
    )
    .unwrap();
    ds.set_spatial_ref(&SpatialRef::from_epsg(32633).unwrap()).unwrap();
    drop(ds);
    let c = raster::<u8>(&dir.path().join("c.tif"), 10, 10, &[ramp(10, 10)], None);
    let mut ds = gdal::Dataset::open_ex(
        &c,
        gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE, ..Default::default() },
    )
    .unwrap();
    ds.set_spatial_ref(&SpatialRef::from_epsg(32634).unwrap()).unwrap();
    drop(ds);
    let out = dir.path().join("x.vrt");
    let e = stack(&[band(&b, 1), band(&c, 1)], &out, "nearest").unwrap_err().to_string();
    assert!(e.contains("c.tif") && e.contains("CRS differs from"), "{e}");
    let e = stack(&[band(&a, 1), band(&a, 2)], &out, "nearest").unwrap_err().to_string();
    assert!(e.contains("a.tif") && e.contains("has 1 band(s); band 2 was asked for"), "{e}");
    let e = stack(&[band(&a, 1)], &dir.path().join("x.tif"), "nearest").unwrap_err().to_string();
    assert!(e.contains("name it .vrt"), "{e}");
    assert!(!out.exists());
}
