//! Deepness's small-segment removal (`seg_small_segment`, option `small-segment`): a median of
//! the class band over a k x k window, k = size / 2 * 2 + 1 (OpenCV's `medianBlur` with that
//! size, edges replicated, as Deepness runs it over its whole class map). Here it runs on the
//! stitched class rows, streaming: a row leaves once the k / 2 rows below it have arrived, so the
//! result does not depend on the tiling and memory holds k rows. Nodata pixels stay nodata and
//! take no part in their neighbours' medians (Deepness has no nodata: without it the result is
//! OpenCV's).

use std::collections::VecDeque;

use crate::tasks::CLASS_NODATA;

/// Rows of bands `[band][row * width + col]` starting at a row: what sinks pass along.
pub type RowBlock = (usize, usize, Vec<Vec<u8>>);

pub struct SmallSegments {
    radius: usize,
    width: usize,
    /// Class ids are below this (the histogram's length).
    classes: usize,
    /// The image's first row (the top edge, replicated).
    top: usize,
    /// The output row of `held[0]`.
    first: usize,
    /// Held rows, each its bands (band 0: the classes, as stitched; later bands pass through).
    held: VecDeque<Vec<Vec<u8>>>,
    /// The next row to hand on.
    next: usize,
}

impl SmallSegments {
    /// The filter of Deepness's `size` (0 and 1: none) over rows `width` pixels wide of class ids
    /// below `classes`, starting at output row `first`.
    pub fn new(size: usize, width: usize, classes: usize, first: usize) -> SmallSegments {
        SmallSegments { radius: size / 2, width, classes, top: first, first, held: VecDeque::new(), next: first }
    }

    /// Takes `rows` rows starting at `y0` (the rows following the previous ones) and gives back
    /// the rows now final, if any.
    pub fn push(&mut self, y0: usize, rows: usize, bands: Vec<Vec<u8>>) -> Option<RowBlock> {
        debug_assert_eq!(y0, self.first + self.held.len(), "rows out of order");
        let w = self.width;
        for r in 0..rows {
            self.held.push_back(bands.iter().map(|b| b[r * w..(r + 1) * w].to_vec()).collect());
        }
        let known = self.first + self.held.len();
        self.emit(known.saturating_sub(self.radius), known)
    }

    /// The rows left once the last one has arrived (the bottom edge replicated).
    pub fn finish(&mut self) -> Option<RowBlock> {
        let end = self.first + self.held.len();
        self.emit(end, end)
    }

    /// Hands on rows `next..upto`, reading rows up to `end` (exclusive; the rows past it are
    /// the last one repeated), then forgets the rows no later row needs.
    fn emit(&mut self, upto: usize, end: usize) -> Option<RowBlock> {
        if upto <= self.next {
            return None;
        }
        let (y0, n, w) = (self.next, upto - self.next, self.width);
        let bands = self.held.front().map_or(0, Vec::len);
        let mut out: Vec<Vec<u8>> = vec![Vec::with_capacity(n * w); bands];
        for y in y0..upto {
            out[0].extend(self.median_row(y, end));
            for (b, band) in out.iter_mut().enumerate().skip(1) {
                band.extend_from_slice(&self.held[y - self.first][b]);
            }
        }
        self.next = upto;
        // Rows above `next - radius` are no neighbour of any row still to come.
        while self.first + self.radius < self.next && !self.held.is_empty() {
            self.held.pop_front();
            self.first += 1;
        }
        Some((y0, n, out))
    }

    /// Row `y` filtered: each valid pixel the (lower) median of the valid classes in its
    /// window, rows and columns clamped to the raster (OpenCV's replicated border). A running
    /// histogram along the row: one column leaves and one comes at each step.
    fn median_row(&self, y: usize, end: usize) -> Vec<u8> {
        let (r, w) = (self.radius as i64, self.width as i64);
        // Rows from `next - radius` are held (see `emit`), so every row a window needs is.
        let rows: Vec<&[u8]> = (-r..=r)
            .map(|e| (y as i64 + e).clamp(self.top as i64, end as i64 - 1) as usize)
            .map(|yy| self.held[yy - self.first][0].as_slice())
            .collect();
        let centre = &self.held[y - self.first][0];
        let mut hist = vec![0u32; self.classes.max(1)];
        let mut count = 0u32;
        let column = |x: i64, add: bool, hist: &mut [u32], count: &mut u32| {
            let x = x.clamp(0, w - 1) as usize;
            for row in &rows {
                let c = row[x];
                if c != CLASS_NODATA && (c as usize) < hist.len() {
                    if add {
                        hist[c as usize] += 1;
                        *count += 1;
                    } else {
                        hist[c as usize] -= 1;
                        *count -= 1;
                    }
                }
            }
        };
        for x in -r..=r {
            column(x, true, &mut hist, &mut count);
        }
        let mut out = Vec::with_capacity(self.width);
        for x in 0..w {
            if x > 0 {
                column(x - 1 - r, false, &mut hist, &mut count);
                column(x + r, true, &mut hist, &mut count);
            }
            let c = centre[x as usize];
            out.push(if c == CLASS_NODATA || count == 0 { c } else { lower_median(&hist, count) });
        }
        out
    }
}

/// The class at sorted position (count - 1) / 2 of a histogram of `count` values.
fn lower_median(hist: &[u32], count: u32) -> u8 {
    let target = (count - 1) / 2;
    let mut seen = 0;
    for (c, &n) in hist.iter().enumerate() {
        seen += n;
        if seen > target {
            return c as u8;
        }
    }
    CLASS_NODATA
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The median by definition: sort the k x k window (edges replicated), take the middle.
    fn brute(img: &[u8], w: usize, h: usize, size: usize) -> Vec<u8> {
        let r = (size / 2) as i64;
        let mut out = Vec::new();
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let mut v: Vec<u8> = Vec::new();
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (yy, xx) = ((y + dy).clamp(0, h as i64 - 1), (x + dx).clamp(0, w as i64 - 1));
                        v.push(img[(yy * w as i64 + xx) as usize]);
                    }
                }
                v.sort();
                out.push(v[(v.len() - 1) / 2]);
            }
        }
        out
    }

    #[test]
    fn streamed_in_any_row_blocks_it_is_the_median_of_the_whole_image() {
        let (w, h) = (23, 17);
        let img: Vec<u8> = (0..w * h).map(|i| ((i * 7919 + i / 5) % 4) as u8).collect();
        for size in [3, 5, 7, 8, 15, 40] {
            let expected = brute(&img, w, h, size);
            for block in [1, 2, 5, 17] {
                let mut f = SmallSegments::new(size, w, 4, 0);
                let mut got = Vec::new();
                let mut y = 0;
                while y < h {
                    let n = block.min(h - y);
                    let prob: Vec<u8> = (0..n * w).map(|i| (i % 251) as u8).collect();
                    if let Some((y0, rows, bands)) = f.push(y, n, vec![img[y * w..(y + n) * w].to_vec(), prob]) {
                        assert_eq!(y0 * w, got.len());
                        assert_eq!(bands[1].len(), rows * w);
                        got.extend(bands[0].iter().copied());
                    }
                    y += n;
                }
                if let Some((_, _, bands)) = f.finish() {
                    got.extend(bands[0].iter().copied());
                }
                assert_eq!(got, expected, "size {size}, blocks of {block} rows");
            }
        }
    }

    #[test]
    fn nodata_stays_and_takes_no_part() {
        // One row: 0 0 N 1 1 with a 3x3 window: the nodata pixel stays; its neighbours' medians
        // are over the valid pixels only (rows replicated: each column counts three times).
        let mut f = SmallSegments::new(3, 5, 2, 0);
        let mut got = f.push(0, 1, vec![vec![0, 0, CLASS_NODATA, 1, 1]]).map(|b| b.2[0].clone()).unwrap_or_default();
        got.extend(f.finish().unwrap().2[0].iter().copied());
        assert_eq!(got, vec![0, 0, CLASS_NODATA, 1, 1]);
    }
}
