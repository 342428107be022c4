//! The tile grid over a raster, one axis at a time (the 2-D plan is the product of two axes).
//!
//! Pixel tasks (segmentation, per-pixel regression, super-resolution): a tile's model output
//! covers input pixels `[p, p + e)` where `e = tile - 2 * crop` (`crop` is what the model itself
//! trims from each side, e.g. 512 in / 484 out) and its input window starts at `p - crop`.
//! Positions step by `stride = e - 2 * margin - overlap`; the last tile is clamped to the raster's
//! end so that no tile reaches past it unless the raster is smaller than one tile (then the window
//! is reflect-padded). Each tile's *valid* interval leaves out `margin` pixels on sides that face
//! a neighbour (never at the raster border, where the model's own padding is the whole-image
//! pass's padding). In `crop` mode every output pixel belongs to exactly one tile (cut at the
//! middle of the neighbours' valid overlap); in `blend` mode tiles are weighted by a window that
//! ramps linearly across the overlap with each neighbour and is flat elsewhere.
//!
//! Two placements (`GridMode`). `Fit` (the default) starts at the raster's first pixel and clamps
//! the last tile to its end. `Lattice` puts tile `k` at `k * stride - pad` whatever the raster's
//! size, reflect-padding the last tiles past the end: tile positions then depend only on the
//! origin, as in ukis-csmask's tiling. `pad` (input pixels, both placements) extends the raster
//! by mirrored context on every side before tiling, so that border pixels see context like
//! interior ones; valid intervals are always clipped to the raster.
//!
//! Per-tile tasks: windows at `k * stride`, overhanging ones reflect-padded; tile `k` is output
//! pixel `k` on the stride grid.
//!
//! All coordinates of `AxisTile::valid` / `own` are in output pixels (input pixels times the
//! output scale for super-resolution; stride-grid cells for per-tile tasks).

use crate::error::{Error, Result};
use crate::memory;

#[derive(Debug, Clone, PartialEq)]
pub struct AxisTile {
    /// First input pixel of the model's input window (negative: reflect-padded).
    pub start: i64,
    /// Output pixels this tile contributes to in blend mode, `[0, 1)`.
    pub valid: (usize, usize),
    /// Output pixels this tile alone writes in crop mode.
    pub own: (usize, usize),
    /// Length of the ramp towards the previous / next tile (0: none).
    pub ramp: (usize, usize),
    /// Output coordinate of the tile's first output pixel.
    pub out_origin: i64,
}

impl AxisTile {
    /// Blend weight at output coordinate `x` (0 outside `valid`).
    #[inline]
    pub fn weight(&self, x: usize) -> f64 {
        if x < self.valid.0 || x >= self.valid.1 {
            return 0.0;
        }
        let mut w: f64 = 1.0;
        if self.ramp.0 > 0 {
            w = w.min(((x - self.valid.0) as f64 + 0.5) / self.ramp.0 as f64);
        }
        if self.ramp.1 > 0 {
            w = w.min(((self.valid.1 - x) as f64 - 0.5) / self.ramp.1 as f64);
        }
        w
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Input raster length along this axis.
    pub len: usize,
    /// Output length along this axis.
    pub out_len: usize,
    pub tiles: Vec<AxisTile>,
}

/// Geometry of one pixel-task axis.
#[derive(Debug, Clone, Copy)]
pub struct PixelGeometry {
    /// Model input size.
    pub tile: usize,
    /// Pixels the model trims from each side of its input.
    pub crop: usize,
    /// Output pixels per input pixel (super-resolution factor; 1 otherwise).
    pub scale: usize,
    /// Context pixels dropped on sides facing a neighbour.
    pub margin: usize,
    /// Extra overlap between neighbouring valid intervals.
    pub overlap: usize,
    /// Mirrored context added on every side of the raster before tiling.
    pub pad: usize,
    pub grid: GridMode,
}

/// Where tiles sit along an axis (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GridMode {
    #[default]
    Fit,
    Lattice,
}

impl PixelGeometry {
    pub fn extent(&self) -> usize {
        self.tile - 2 * self.crop
    }

    pub fn stride(&self) -> Result<usize> {
        let e = self.extent();
        let used = 2 * self.margin + self.overlap;
        if used >= e {
            return Err(Error::invalid(format!(
                "tile size {} leaves {} output pixels, which 2 x margin ({}) + overlap ({}) = {} uses up: \
                 lower the margin or the overlap, or raise the tile size",
                self.tile, e, self.margin, self.overlap, used
            )));
        }
        Ok(e - used)
    }
}

/// The longest side of a raster GDAL makes (its sizes are C `int`s), input or output.
pub(crate) const MAX_SIDE: usize = i32::MAX as usize;

/// Refuses an axis GDAL cannot hold, before any position is computed on it (in i64).
fn check_len(len: usize, scale: usize) -> Result<()> {
    if len.checked_mul(scale).is_none_or(|out| len > MAX_SIDE || out > MAX_SIDE) {
        return Err(Error::invalid(format!(
            "a raster side of {len} pixels (x{scale} in the output) is past GDAL's limit of {MAX_SIDE} pixels"
        )));
    }
    Ok(())
}

/// Refuses an axis of `n` tiles whose list would not fit in memory.
fn check_tiles(n: usize, len: usize, stride: usize) -> Result<()> {
    memory::check(
        memory::product(&[n, 2, std::mem::size_of::<AxisTile>()]),
        &format!("the tile grid ({n} tiles along a side of {len} pixels, every {stride} pixels)"),
        "raise 'tile-size', or plan a smaller raster",
    )
}

/// Plans one axis of a pixel task.
pub fn pixel_axis(len: usize, g: PixelGeometry) -> Result<Axis> {
    if len == 0 {
        return Err(Error::invalid("the raster has zero size"));
    }
    if g.tile == 0 || 2 * g.crop >= g.tile || g.scale == 0 {
        return Err(Error::invalid(format!("tile size {} with model crop {} is impossible", g.tile, g.crop)));
    }
    let e = g.extent();
    let stride = g.stride()?;
    if g.pad >= stride {
        return Err(Error::invalid(format!(
            "padding {} must be smaller than the step between tiles ({stride} = tile output {e} - 2 x margin - overlap)",
            g.pad
        )));
    }
    check_len(len, g.scale)?;
    // Tile positions over the padded axis [-pad, len + pad).
    let (pad, padded) = (g.pad as i64, (len + 2 * g.pad) as i64);
    let (e_i, stride_i) = (e as i64, stride as i64);
    let mut pos: Vec<i64> = Vec::new();
    if padded <= e_i {
        pos.push(-pad);
    } else {
        let n = (padded - e_i + stride_i - 1) / stride_i + 1;
        check_tiles(n as usize, len, stride)?;
        pos.extend((0..n).map(|k| k * stride_i - pad));
        if g.grid == GridMode::Fit {
            // Clamp the last tile to the padded end.
            let last = pos.len() - 1;
            pos[last] = padded - pad - e_i;
            pos.dedup();
        }
    }
    let (m, len_i) = (g.margin as i64, len as i64);
    // A tile whose interior lies wholly in the padding past the end adds nothing.
    while pos.len() > 1 && pos[pos.len() - 1] + m >= len_i {
        pos.pop();
    }
    let n = pos.len();
    // Valid intervals: the margin dropped towards neighbours, clipped to the raster.
    let v0 = |k: usize| if k == 0 { 0 } else { (pos[k] + m).max(0) as usize };
    let v1 = |k: usize| {
        if k + 1 == n {
            len
        } else {
            (pos[k] + e_i - m).min(len_i) as usize
        }
    };
    let s = g.scale;
    let tiles = (0..n)
        .map(|k| {
            let cut_before = if k == 0 { 0 } else { (v0(k) + v1(k - 1)) / 2 };
            let cut_after = if k + 1 == n { len } else { (v0(k + 1) + v1(k)) / 2 };
            let ramp_before = if k == 0 { 0 } else { v1(k - 1).saturating_sub(v0(k)) };
            let ramp_after = if k + 1 == n { 0 } else { v1(k).saturating_sub(v0(k + 1)) };
            AxisTile {
                start: pos[k] - g.crop as i64,
                valid: (v0(k) * s, v1(k) * s),
                own: (cut_before * s, cut_after * s),
                ramp: (ramp_before * s, ramp_after * s),
                out_origin: pos[k] * s as i64,
            }
        })
        .collect();
    Ok(Axis { len, out_len: len * s, tiles })
}

/// Plans one axis of a per-tile task: windows of `tile` at `k * stride`.
pub fn tile_axis(len: usize, tile: usize, stride: usize) -> Result<Axis> {
    if len == 0 {
        return Err(Error::invalid("the raster has zero size"));
    }
    if tile == 0 || stride == 0 {
        return Err(Error::invalid(format!("tile size ({tile}) and stride ({stride}) must be positive")));
    }
    check_len(len, 1)?;
    let n = if len <= tile { 1 } else { (len - tile).div_ceil(stride) + 1 };
    check_tiles(n, len, stride)?;
    let tiles = (0..n)
        .map(|k| AxisTile {
            start: (k * stride) as i64,
            valid: (k, k + 1),
            own: (k, k + 1),
            ramp: (0, 0),
            out_origin: k as i64,
        })
        .collect();
    Ok(Axis { len, out_len: n, tiles })
}

/// The 2-D plan: tiles in row-major order (all tiles of tile row 0, then row 1, ...).
#[derive(Debug, Clone)]
pub struct TileGrid {
    pub tile: usize,
    pub x: Axis,
    pub y: Axis,
}

impl TileGrid {
    pub fn count(&self) -> usize {
        self.x.tiles.len() * self.y.tiles.len()
    }

    /// (tile row, tile column) of the i-th tile.
    pub fn position(&self, i: usize) -> (usize, usize) {
        (i / self.x.tiles.len(), i % self.x.tiles.len())
    }
}

/// A block of the tile grid run on its own (scale-out): tile columns `col..col + cols` and tile
/// rows `row..row + rows`. Its output is the pixels those tiles own (in `crop` mode's sense, so
/// windows partition the output), computed with every neighbouring tile that blends into them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TileWindow {
    pub col: usize,
    pub row: usize,
    pub cols: usize,
    pub rows: usize,
}

impl std::str::FromStr for TileWindow {
    type Err = Error;

    /// `COL,ROW,COLS,ROWS` in tiles.
    fn from_str(s: &str) -> Result<TileWindow> {
        let bad = || Error::invalid(format!("window: expected COL,ROW,COLS,ROWS (tiles), found '{s}'"));
        let v: Vec<usize> = s
            .split(',')
            .map(|p| p.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad())?;
        match v[..] {
            [col, row, cols, rows] if cols > 0 && rows > 0 => Ok(TileWindow { col, row, cols, rows }),
            [_, _, _, _] => {
                Err(Error::invalid(format!("window '{s}': its width and height in tiles must be at least 1")))
            }
            _ => Err(bad()),
        }
    }
}

impl TileGrid {
    /// The tiles that `window`'s output needs and the output pixels it covers on each axis.
    /// `region` is the output interval a tile writes to (its blend or crop interval); `cover`
    /// maps an axis and a range of tile indices to the output pixels the window owns.
    pub fn window(
        &self,
        w: &TileWindow,
        region: impl Fn(&AxisTile) -> (usize, usize),
        cover: impl Fn(&Axis, usize, usize) -> (usize, usize),
    ) -> Result<(TileGrid, [usize; 4])> {
        let (nx, ny) = (self.x.tiles.len(), self.y.tiles.len());
        // Checked: the numbers come from the user (`--window 1,0,18446744073709551615,1`).
        let past = |start: usize, len: usize, n: usize| start.checked_add(len).is_none_or(|end| end > n);
        if past(w.col, w.cols, nx) || past(w.row, w.rows, ny) {
            return Err(Error::invalid(format!(
                "window {},{},{},{} reaches past the tile grid of {nx} x {ny} tiles (columns x rows)",
                w.col, w.row, w.cols, w.rows
            )));
        }
        let (x0, x1) = cover(&self.x, w.col, w.col + w.cols);
        let (y0, y1) = cover(&self.y, w.row, w.row + w.rows);
        let rect = [x0, y0, x1 - x0, y1 - y0];
        Ok((self.covering(rect, region), rect))
    }

    /// The tiles (in plan order) whose output interval `region` meets the output rectangle
    /// `[x, y, width, height]`.
    pub fn covering(&self, rect: [usize; 4], region: impl Fn(&AxisTile) -> (usize, usize)) -> TileGrid {
        let sub = |axis: &Axis, a: usize, b: usize| {
            let tiles = axis
                .tiles
                .iter()
                .filter(|t| {
                    let (r0, r1) = region(t);
                    r0 < b && r1 > a
                })
                .cloned()
                .collect();
            Axis { len: axis.len, out_len: axis.out_len, tiles }
        };
        let [x, y, w, h] = rect;
        TileGrid { tile: self.tile, x: sub(&self.x, x, x + w), y: sub(&self.y, y, y + h) }
    }
}

/// How pixels outside the raster are made up: mirrored without repeating the edge pixel (numpy's
/// and PyTorch's "reflect", the default) or with it (numpy's "symmetric", ukis-csmask's padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    #[default]
    Reflect,
    Symmetric,
}

/// Index into `[0, n)` for any integer, mirrored as `mode` says.
#[inline]
pub fn mirror(i: i64, n: usize, mode: PadMode) -> usize {
    match mode {
        PadMode::Reflect => reflect(i, n),
        PadMode::Symmetric => {
            let n = n as i64;
            let m = i.rem_euclid(2 * n);
            (if m < n { m } else { 2 * n - 1 - m }) as usize
        }
    }
}

/// Index into `[0, n)` for any integer, mirroring at the edges without repeating the edge pixel
/// (numpy's "reflect"), periodic for windows larger than twice the raster.
#[inline]
pub fn reflect(i: i64, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as i64 - 1);
    let m = i.rem_euclid(period);
    if m < n as i64 {
        m as usize
    } else {
        (period - m) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(tile: usize, crop: usize, margin: usize, overlap: usize) -> PixelGeometry {
        PixelGeometry { tile, crop, scale: 1, margin, overlap, pad: 0, grid: GridMode::Fit }
    }

    /// Every output pixel is owned by exactly one tile, inside that tile's valid interval, and
    /// valid intervals lie inside the model's output coverage.
    fn check_axis(len: usize, g: PixelGeometry) {
        if g.stride().is_err() {
            assert!(pixel_axis(len, g).is_err());
            return;
        }
        let axis = pixel_axis(len, g).unwrap();
        let mut owners = vec![0; len];
        let e = g.extent();
        for t in &axis.tiles {
            assert!(t.own.0 >= t.valid.0 && t.own.1 <= t.valid.1, "{len} {g:?} {t:?}");
            let cover0 = (t.start + g.crop as i64).max(0) as usize;
            let cover1 = (t.start + (g.crop + e) as i64) as usize;
            assert!(t.valid.0 >= cover0 && t.valid.1 <= cover1, "{len} {g:?} {t:?}");
            for o in owners.iter_mut().take(t.own.1).skip(t.own.0) {
                *o += 1;
            }
            // the blend window is positive on the whole valid interval
            for x in t.valid.0..t.valid.1 {
                assert!(t.weight(x) > 0.0);
            }
        }
        assert!(owners.iter().all(|&o| o == 1), "{len} {g:?}");
        // interior tiles never reach past the raster (no padding unless the raster is small)
        if len >= e && g.pad == 0 && g.grid == GridMode::Fit {
            for t in &axis.tiles {
                assert!(t.start + g.crop as i64 >= 0 && (t.start + (g.crop + e) as i64) as usize <= len);
            }
        }
    }

    #[test]
    fn ownership_partitions_every_axis() {
        for len in [1, 2, 5, 63, 64, 65, 100, 127, 128, 129, 300, 627, 791, 1000] {
            for (tile, margin, overlap) in [(64, 0, 0), (64, 8, 0), (64, 0, 16), (64, 4, 32), (128, 16, 8), (16, 0, 15)]
            {
                check_axis(len, geo(tile, 0, margin, overlap));
                check_axis(len, geo(tile, 6, margin.min(4), overlap.min(4)));
            }
        }
    }

    #[test]
    fn padded_and_lattice_grids_partition_every_axis() {
        for len in [1, 2, 5, 63, 64, 65, 100, 127, 128, 129, 300, 627, 791, 1000, 2048] {
            for (tile, margin, overlap, pad) in [(64, 0, 16, 8), (64, 4, 8, 40), (64, 0, 0, 63), (256, 0, 52, 51)] {
                for grid in [GridMode::Fit, GridMode::Lattice] {
                    check_axis(len, PixelGeometry { tile, crop: 0, scale: 1, margin, overlap, pad, grid });
                }
            }
        }
    }

    #[test]
    fn lattice_places_tiles_as_ukis_csmask_does() {
        // ukis-csmask's tile_array: 256 px tiles, overlap 0.2: the array padded by int(256 * 0.2)
        // = 51 mirrored pixels, tiles every int(256 - 51.2) = 204 pixels from the padded start,
        // int((L + 51 + 257 + 51 - 256) / 204) + 1 of them.
        for len in [2048usize, 4096] {
            let g = PixelGeometry {
                tile: 256,
                crop: 0,
                scale: 1,
                margin: 0,
                overlap: 52,
                pad: 51,
                grid: GridMode::Lattice,
            };
            let axis = pixel_axis(len, g).unwrap();
            let n = (len + 51 + 257 + 51 - 256) / 204 + 1;
            let ukis: Vec<i64> = (0..n as i64).map(|k| k * 204 - 51).collect();
            let ours: Vec<i64> = axis.tiles.iter().map(|t| t.start).collect();
            assert_eq!(ours, ukis, "{len}");
            // pixel 0 and the last pixel are interior to a tile's flat part, as in ukis
            assert_eq!(axis.tiles[0].weight(0), 1.0);
            assert_eq!(axis.tiles.last().unwrap().weight(len - 1), 1.0);
        }
        // The lattice does not move with the raster's size; the fit grid does.
        let at = |len, grid| {
            let g = PixelGeometry { tile: 64, crop: 0, scale: 1, margin: 0, overlap: 8, pad: 0, grid };
            pixel_axis(len, g).unwrap().tiles.iter().map(|t| t.start).collect::<Vec<_>>()
        };
        assert!(at(300, GridMode::Lattice).starts_with(&at(200, GridMode::Lattice)[..3]));
        assert_eq!(at(200, GridMode::Lattice)[..3], [0, 56, 112]);
        assert_eq!(*at(200, GridMode::Fit).last().unwrap(), 136);
    }

    #[test]
    fn padding_must_leave_a_step() {
        let g = PixelGeometry { tile: 64, crop: 0, scale: 1, margin: 0, overlap: 16, pad: 48, grid: GridMode::Fit };
        let err = pixel_axis(500, g).unwrap_err().to_string();
        assert!(err.contains("padding 48") && err.contains("48"), "{err}");
    }

    #[test]
    fn blend_weights_sum_to_one_between_regular_neighbours() {
        let axis = pixel_axis(1000, geo(100, 0, 0, 20)).unwrap();
        for x in 0..1000 {
            let s: f64 = axis.tiles.iter().map(|t| t.weight(x)).sum();
            assert!((s - 1.0).abs() < 1e-12, "x={x} sum={s}");
        }
        // no ramp at the raster border
        assert_eq!(axis.tiles[0].weight(0), 1.0);
        assert_eq!(axis.tiles.last().unwrap().weight(999), 1.0);
    }

    #[test]
    fn impossible_geometry_is_an_error() {
        let err = pixel_axis(100, geo(16, 0, 4, 8)).unwrap_err().to_string();
        assert!(err.contains("margin") && err.contains("overlap"), "{err}");
        assert!(pixel_axis(0, geo(16, 0, 0, 0)).is_err());
        assert!(tile_axis(10, 0, 1).is_err());
    }

    #[test]
    fn super_resolution_scales_output_coordinates() {
        let axis = pixel_axis(
            500,
            PixelGeometry { tile: 224, crop: 0, scale: 3, margin: 8, overlap: 16, pad: 0, grid: GridMode::Fit },
        )
        .unwrap();
        assert_eq!(axis.out_len, 1500);
        assert_eq!(axis.tiles.last().unwrap().own.1, 1500);
    }

    #[test]
    fn per_tile_axis_covers_the_raster() {
        let axis = tile_axis(791, 32, 10).unwrap();
        let last = axis.tiles.last().unwrap();
        assert!(last.start as usize + 32 >= 791 && (last.start as usize) < 791);
        assert_eq!(axis.out_len, axis.tiles.len());
        assert_eq!(tile_axis(20, 32, 10).unwrap().tiles.len(), 1);
    }

    #[test]
    fn symmetric_mirrors_with_the_edge() {
        // numpy.pad(range(5), 3, mode="symmetric") == [2 1 0 0 1 2 3 4 4 3 2]
        let got: Vec<usize> = (-3..8).map(|i| mirror(i, 5, PadMode::Symmetric)).collect();
        assert_eq!(got, vec![2, 1, 0, 0, 1, 2, 3, 4, 4, 3, 2]);
        assert_eq!(mirror(-1, 1, PadMode::Symmetric), 0);
        assert_eq!(mirror(-2, 5, PadMode::Reflect), reflect(-2, 5));
    }

    #[test]
    fn reflect_mirrors_without_repeating_the_edge() {
        let got: Vec<usize> = (-3..8).map(|i| reflect(i, 5)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
        assert_eq!(reflect(17, 5), reflect(17 - 8, 5));
        assert_eq!(reflect(-7, 1), 0);
    }
}
