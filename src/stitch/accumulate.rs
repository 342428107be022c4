//! Stitching tile outputs into output rows, streaming: tiles arrive in plan order (row-major) and
//! finished rows leave as soon as no later tile can touch them, so memory is bounded by the
//! raster's width times one tile row (8 x width x tile x (channels + 1) bytes for pixel tasks),
//! never by its height.
//!
//! Pixel outputs are accumulated in f64 (weighted sum and summed weight), so that blending N
//! identical contributions gives back exactly the f32 value (the pointwise guarantee).

use crate::card::StitchMode;
use crate::error::Result;
use crate::grid::{AxisTile, TileGrid};
use crate::memory;

/// Finished full-width output rows, channel-major: `values[c][row][col]`.
#[derive(Debug, Clone)]
pub struct Rows {
    pub y0: usize,
    pub rows: usize,
    pub width: usize,
    pub channels: usize,
    pub values: Vec<f32>,
    /// 1 where the output pixel is valid, 0 where it is nodata.
    pub valid: Vec<u8>,
}

impl Rows {
    fn new(y0: usize, rows: usize, width: usize, channels: usize) -> Rows {
        Rows { y0, rows, width, channels, values: vec![0.0; channels * rows * width], valid: vec![0; rows * width] }
    }

    #[inline]
    pub fn value(&self, c: usize, row: usize, col: usize) -> f32 {
        self.values[(c * self.rows + row) * self.width + col]
    }
}

/// One tile's model output, `[channels, out_h, out_w]`, with the tile's input validity.
pub struct TileOutput<'a> {
    pub values: &'a [f32],
    pub out_size: usize,
    /// `[tile, tile]` input validity (1 = valid and inside the raster).
    pub valid: &'a [u8],
    pub tile: usize,
    /// Raw weight-band values `[tile, tile]` (redistribution by weight).
    pub weight: Option<&'a [f64]>,
}

/// Accumulates per-pixel outputs (segmentation, regression maps, super-resolution).
pub struct PixelStitcher {
    /// The output rectangle written (the whole output, or one window of it): its first column
    /// and row, in output pixels.
    x0: usize,
    y0: usize,
    width: usize,
    height: usize,
    channels: usize,
    scale: usize,
    mode: StitchMode,
    top: usize,
    cap: usize,
    sum: Vec<f64>,
    weight: Vec<f64>,
    valid: Vec<u8>,
}

fn region(t: &AxisTile, mode: StitchMode) -> (usize, usize) {
    match mode {
        StitchMode::Blend => t.valid,
        StitchMode::Crop => t.own,
    }
}

impl PixelStitcher {
    /// Stitches `plan`'s tiles into the output rectangle `[x, y, width, height]` (output
    /// pixels); contributions outside it are dropped. Each pixel sums the same tiles in the same
    /// order whatever the rectangle, so windows give the bytes of one pass.
    pub fn new(
        plan: &TileGrid,
        channels: usize,
        scale: usize,
        mode: StitchMode,
        rect: [usize; 4],
    ) -> Result<PixelStitcher> {
        let [x0, y0, width, height] = rect;
        // Rows above a tile row's first row are handed out before it starts, so the window
        // needs the tallest tile row only.
        let cap = plan
            .y
            .tiles
            .iter()
            .map(|t| region(t, mode))
            .map(|(a, b)| b.min(y0 + height).saturating_sub(a.max(y0)))
            .max()
            .unwrap_or(1)
            .max(1);
        // The window (f64 sums and weights, validity) and the finished rows it hands out (f32).
        let per_pixel = (8 * channels + 8 + 1) + (4 * channels + 1);
        memory::check(
            memory::product(&[cap, width, per_pixel]),
            &format!("stitching {width} output pixels wide, {cap} rows at a time ({channels} channel(s))"),
            "lower 'tile-size', or run the raster in windows ('window')",
        )?;
        let what = "the stitching window";
        let change = "lower 'tile-size', or run the raster in windows ('window')";
        Ok(PixelStitcher {
            x0,
            y0,
            width,
            height,
            channels,
            scale,
            mode,
            top: y0,
            cap,
            sum: memory::zeros(cap * channels * width, what, change)?,
            weight: memory::zeros(cap * width, what, change)?,
            valid: memory::zeros(cap * width, what, change)?,
        })
    }

    /// Bytes held by the accumulation window (for the memory model in the docs and tests).
    pub fn window_bytes(&self) -> usize {
        self.sum.len() * 8 + self.weight.len() * 8 + self.valid.len()
    }

    pub fn add(&mut self, tx: &AxisTile, ty: &AxisTile, out: &TileOutput) {
        let (rx, ry) = (self.x0, self.y0);
        let (x0, x1) = region(tx, self.mode);
        let (x0, x1) = (x0.max(rx), x1.min(rx + self.width));
        let (y0, y1) = region(ty, self.mode);
        let (y0, y1) = (y0.max(ry), y1.min(ry + self.height));
        let s = self.scale;
        let (w, c_n, o) = (self.width, self.channels, out.out_size);
        let wx: Vec<f64> = (x0..x1).map(|x| tx.weight(x)).collect();
        for y in y0..y1 {
            debug_assert!(y >= self.top && y - self.top < self.cap, "row {y} outside the window");
            let r = y - self.top;
            let ly = (y as i64 - ty.out_origin) as usize;
            let iy = ((y / s) as i64 - ty.start) as usize;
            let wy = ty.weight(y);
            for (i, x) in (x0..x1).enumerate() {
                let lx = (x as i64 - tx.out_origin) as usize;
                let ix = ((x / s) as i64 - tx.start) as usize;
                let p = r * w + x - rx;
                self.valid[p] = out.valid[iy * out.tile + ix];
                match self.mode {
                    StitchMode::Crop => {
                        self.weight[p] = 1.0;
                        for c in 0..c_n {
                            self.sum[(r * c_n + c) * w + x - rx] = out.values[(c * o + ly) * o + lx] as f64;
                        }
                    }
                    StitchMode::Blend => {
                        let wt = wx[i] * wy;
                        self.weight[p] += wt;
                        for c in 0..c_n {
                            self.sum[(r * c_n + c) * w + x - rx] += wt * out.values[(c * o + ly) * o + lx] as f64;
                        }
                    }
                }
            }
        }
    }

    /// Takes the rows that no later tile can touch: all rows above `limit` (all rows if `last`).
    /// `Rows::y0` counts from the rectangle's first row.
    pub fn take_ready(&mut self, limit: usize, last: bool) -> Option<Rows> {
        let bottom = self.y0 + self.height;
        let end = if last { bottom } else { limit.min(bottom) };
        if end <= self.top {
            return None;
        }
        let n = end - self.top;
        let (w, c_n) = (self.width, self.channels);
        let mut rows = Rows::new(self.top - self.y0, n, w, c_n);
        for r in 0..n {
            for x in 0..w {
                let wt = self.weight[r * w + x];
                let ok = self.valid[r * w + x] == 1 && wt > 0.0;
                rows.valid[r * w + x] = ok as u8;
                if ok {
                    for c in 0..c_n {
                        rows.values[(c * n + r) * w + x] = (self.sum[(r * c_n + c) * w + x] / wt) as f32;
                    }
                }
            }
        }
        // Slide the window up by n rows.
        let keep = self.cap - n.min(self.cap);
        self.sum.copy_within(n * c_n * w.., 0);
        self.sum[keep * c_n * w..].fill(0.0);
        self.weight.copy_within(n * w.., 0);
        self.weight[keep * w..].fill(0.0);
        self.valid.copy_within(n * w.., 0);
        self.valid[keep * w..].fill(0);
        self.top = end;
        Some(rows)
    }

    /// First output row a tile of this tile row can touch.
    pub fn first_row(&self, ty: &AxisTile) -> usize {
        region(ty, self.mode).0
    }
}

/// Per-tile outputs on the stride grid: one output pixel per tile, a row per tile row.
pub struct CellStitcher {
    row: Rows,
}

impl CellStitcher {
    pub fn new(width: usize, channels: usize) -> Result<CellStitcher> {
        memory::check(
            memory::product(&[2, width, 4 * channels + 1]),
            &format!("a row of {width} tile outputs of {channels} value(s)"),
            "raise 'tile-size' or 'stride', or run the raster in windows ('window')",
        )?;
        Ok(CellStitcher { row: Rows::new(0, 1, width, channels) })
    }

    pub fn add(&mut self, col: usize, values: Option<&[f32]>) {
        let w = self.row.width;
        if let Some(v) = values {
            for (c, x) in v.iter().enumerate().take(self.row.channels) {
                self.row.values[c * w + col] = *x;
            }
            self.row.valid[col] = 1;
        }
    }

    pub fn take_row(&mut self, y: usize) -> Rows {
        let next = Rows::new(y + 1, 1, self.row.width, self.row.channels);
        let mut out = std::mem::replace(&mut self.row, next);
        out.y0 = y;
        out
    }
}

/// Per-tile values spread over each tile's valid pixels on the input grid, preserving each
/// tile's total: uniformly, or by w = exp(L / max L) - 1 of a weight band L (night lights).
/// Only the pixels inside the output rectangle are kept; the weights are the whole tile's.
pub struct RedistributeStitcher {
    rect: [usize; 4],
    /// The current tile row's rows inside the rectangle, and the row's first input row.
    current: Option<(usize, Rows)>,
    tile: usize,
    by_weight: bool,
}

impl RedistributeStitcher {
    /// `rect`: `[x, y, width, height]` of the output (input pixels) that is kept.
    pub fn new(rect: [usize; 4], tile: usize, by_weight: bool) -> Result<RedistributeStitcher> {
        memory::check(
            memory::product(&[2, rect[2], tile, 5]),
            &format!("spreading tile values over {} pixels wide, {tile} rows at a time", rect[2]),
            "lower 'tile-size', or run the raster in windows ('window')",
        )?;
        Ok(RedistributeStitcher { rect, current: None, tile, by_weight })
    }

    /// The rows of the tile row starting at input row `ty0` that lie in the rectangle.
    fn rows_of(&self, ty0: usize) -> Rows {
        let [_, ry, rw, rh] = self.rect;
        let (a, b) = (ty0.max(ry), (ty0 + self.tile).min(ry + rh));
        Rows::new(a - ry, b.saturating_sub(a), rw, 1)
    }

    /// Spreads `value` over the tile whose top-left input pixel is (`x0`, `y0`).
    pub fn add(&mut self, x0: usize, y0: usize, value: Option<f32>, out: &TileOutput) {
        let Some(total) = value else { return };
        let t = self.tile;
        // `valid` is 0 outside the raster, so only the tile's own pixels count.
        let inside = |i: usize, j: usize| out.valid[i * t + j] == 1;
        // Weights over valid pixels; uniform when asked, or when the tile has no light at all.
        let mut weights = vec![0f64; t * t];
        let mut sum = 0.0;
        if let (true, Some(light)) = (self.by_weight, out.weight) {
            let max = (0..t)
                .flat_map(|i| (0..t).map(move |j| (i, j)))
                .filter(|&(i, j)| inside(i, j))
                .map(|(i, j)| light[i * t + j].max(0.0))
                .fold(0.0, f64::max);
            if max > 0.0 {
                for i in 0..t {
                    for j in 0..t {
                        if inside(i, j) {
                            let wt = (light[i * t + j].max(0.0) / max).exp() - 1.0;
                            weights[i * t + j] = wt;
                            sum += wt;
                        }
                    }
                }
            }
        }
        if sum <= 0.0 {
            sum = 0.0;
            for i in 0..t {
                for j in 0..t {
                    if inside(i, j) {
                        weights[i * t + j] = 1.0;
                        sum += 1.0;
                    }
                }
            }
        }
        if self.current.as_ref().is_none_or(|(row, _)| *row != y0) {
            self.current = Some((y0, self.rows_of(y0)));
        }
        let [rx, ry, rw, _] = self.rect;
        let Some((_, rows)) = self.current.as_mut() else { return };
        let first = ry + rows.y0;
        for i in 0..t {
            let y = y0 + i;
            if y < first || y >= first + rows.rows {
                continue;
            }
            for j in 0..t {
                let x = x0 + j;
                if x < rx || x >= rx + rw || !inside(i, j) {
                    continue;
                }
                let idx = (y - first) * rw + x - rx;
                rows.values[idx] = (total as f64 * weights[i * t + j] / sum) as f32;
                rows.valid[idx] = 1;
            }
        }
    }

    /// Hands out the rows of the tile row starting at input row `y0` (rectangle coordinates).
    pub fn take_rows(&mut self, y0: usize) -> Rows {
        match self.current.take() {
            Some((row, rows)) if row == y0 => rows,
            _ => self.rows_of(y0),
        }
    }
}
