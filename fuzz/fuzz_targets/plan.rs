//! The tiling planner on arbitrary geometry: either an error, or a plan that keeps the
//! documented semantics (docs/stitching.md): in crop mode every output pixel belongs to exactly
//! one tile; each tile's valid interval lies inside both the raster and the model's output
//! coverage and contains what it owns; the blend weight is positive on the whole valid interval;
//! per-tile plans cover the raster.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rastrum::grid::{pixel_axis, tile_axis, GridMode, PixelGeometry};

fn take(data: &[u8], at: usize) -> usize {
    let b = |i: usize| *data.get(at + i).unwrap_or(&0) as usize;
    b(0) | (b(1) << 8)
}

fuzz_target!(|data: &[u8]| {
    let len = take(data, 0) % 5000;
    let tile = take(data, 2) % 700;
    let g = PixelGeometry {
        tile,
        crop: take(data, 4) % 64,
        scale: 1 + take(data, 6) % 4,
        margin: take(data, 8) % 128,
        overlap: take(data, 10) % 512,
        pad: take(data, 12) % 512,
        grid: if take(data, 14) % 2 == 0 { GridMode::Fit } else { GridMode::Lattice },
    };
    if let Ok(axis) = pixel_axis(len, g) {
        let e = g.tile - 2 * g.crop;
        assert_eq!(axis.out_len, len * g.scale);
        let mut owners = vec![0u8; axis.out_len];
        for t in &axis.tiles {
            let cover0 = (t.start + g.crop as i64).max(0) as usize * g.scale;
            let cover1 = (t.start + (g.crop + e) as i64) as usize * g.scale;
            assert!(t.valid.0 < t.valid.1, "{len} {g:?} {t:?}: empty valid interval");
            assert!(t.valid.0 >= cover0 && t.valid.1 <= cover1.min(axis.out_len), "{len} {g:?} {t:?}");
            assert!(t.own.0 >= t.valid.0 && t.own.1 <= t.valid.1, "{len} {g:?} {t:?}");
            for o in &mut owners[t.own.0..t.own.1] {
                *o += 1;
            }
            for x in t.valid.0..t.valid.1 {
                assert!(t.weight(x) > 0.0, "{len} {g:?} {t:?}: weight 0 at {x}");
            }
        }
        assert!(owners.iter().all(|&o| o == 1), "{len} {g:?}: not a partition");
    }
    let stride = take(data, 16) % 600;
    if let Ok(axis) = tile_axis(len, tile, stride) {
        let last = axis.tiles.last().expect("at least one tile");
        assert!(last.start as usize + tile >= len, "{len} {tile} {stride}: the raster's end is not covered");
        assert_eq!(axis.out_len, axis.tiles.len());
    }
});
