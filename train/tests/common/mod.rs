//! Fixtures shared by the trainer's integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use gdal::programs::raster::{multi_dim_translate, MultiDimTranslateDestination, MultiDimTranslateOptions};
use gdal::{DatasetOptions, GdalOpenFlags};

/// One array of a fixture: name, data type, dimensions (name, size), values in C order.
pub struct Array {
    pub name: &'static str,
    pub dtype: &'static str,
    pub dims: Vec<(&'static str, usize)>,
    pub values: Vec<f64>,
}

/// Writes a netCDF-4 file (an HDF5 file) holding `arrays`: GDAL's HDF5 driver cannot write, so
/// the arrays go into a multidimensional VRT with inline values, translated by the netCDF
/// driver with FORMAT=NC4.
pub fn write_h5(path: &Path, arrays: &[Array]) {
    let mut dims: Vec<(&str, usize)> = Vec::new();
    for a in arrays {
        for d in &a.dims {
            if !dims.iter().any(|e| e.0 == d.0) {
                dims.push(*d);
            }
        }
    }
    let mut xml = String::from("<VRTDataset>\n<Group name=\"/\">\n");
    for (name, size) in &dims {
        xml += &format!("<Dimension name=\"{name}\" size=\"{size}\"/>\n");
    }
    for a in arrays {
        xml += &format!("<Array name=\"{}\">\n<DataType>{}</DataType>\n", a.name, a.dtype);
        for (d, _) in &a.dims {
            xml += &format!("<DimensionRef ref=\"{d}\"/>\n");
        }
        let values: Vec<String> = a.values.iter().map(|v| v.to_string()).collect();
        xml += &format!("<InlineValues>{}</InlineValues>\n</Array>\n", values.join(" "));
    }
    xml += "</Group>\n</VRTDataset>\n";
    let vrt = path.with_extension("vrt");
    fs::write(&vrt, xml).unwrap();
    let options = DatasetOptions { open_flags: GdalOpenFlags::GDAL_OF_MULTIDIM_RASTER, ..Default::default() };
    let src = gdal::Dataset::open_ex(&vrt, options).unwrap();
    let to = MultiDimTranslateOptions::new(["-of", "netCDF", "-co", "FORMAT=NC4"]).unwrap();
    let out = multi_dim_translate(&[src], MultiDimTranslateDestination::path(path).unwrap(), Some(to)).unwrap();
    drop(out);
}
