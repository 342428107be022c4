//! Instance masks of Ultralytics segmentation models: a box's mask is where its coefficients
//! times the mask prototypes is positive (sigmoid above 0.5), the prototypes bilinearly
//! upsampled to the tile (as OpenCV's INTER_LINEAR: pixel centres, edges replicated), inside
//! its box. Ultralytics crops at the prototypes' resolution and then upsamples; cropping at the
//! tile's differs by under a pixel along the box.

use super::Detection;

/// One tile's mask prototypes, `[channels, height, width]`.
pub struct Prototypes<'a> {
    pub values: &'a [f32],
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// A box's mask coefficients: values `4 + classes ..` of its column in `[a, c]` output `values`.
pub fn coefficients(values: &[f32], [a, c]: [usize; 2], channels: usize, d: &Detection) -> Vec<f32> {
    let k = d.index as usize;
    (a - channels..a).map(|v| values[v * c + k]).collect()
}

/// The mask of box `d` (tile pixels) over its window `[x, y, w, h]` in the tile, 1 where on;
/// None when the box misses the tile.
pub fn mask(d: &Detection, coefficients: &[f32], p: &Prototypes, tile: usize) -> Option<([usize; 4], Vec<u8>)> {
    let plane = p.height * p.width;
    let mut logits = vec![0f32; plane];
    for (k, c) in coefficients.iter().enumerate().take(p.channels) {
        for (l, v) in logits.iter_mut().zip(&p.values[k * plane..(k + 1) * plane]) {
            *l += c * v;
        }
    }
    let clip = |v: f64| v.clamp(0.0, tile as f64);
    let (x0, y0) = (clip(d.x1).floor() as usize, clip(d.y1).floor() as usize);
    let (x1, y1) = (clip(d.x2).ceil() as usize, clip(d.y2).ceil() as usize);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let (sx, sy) = (p.width as f64 / tile as f64, p.height as f64 / tile as f64);
    let mut out = Vec::with_capacity((x1 - x0) * (y1 - y0));
    for y in y0..y1 {
        for x in x0..x1 {
            let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
            let inside = cx >= d.x1 && cx < d.x2 && cy >= d.y1 && cy < d.y2;
            let on = inside && bilinear(&logits, p.width, p.height, cx * sx - 0.5, cy * sy - 0.5) > 0.0;
            out.push(on as u8);
        }
    }
    Some(([x0, y0, x1 - x0, y1 - y0], out))
}

/// `grid` (`w` x `h`) at (u, v), pixel centres at integers, edges replicated.
fn bilinear(grid: &[f32], w: usize, h: usize, u: f64, v: f64) -> f64 {
    let (u, v) = (u.clamp(0.0, (w - 1) as f64), v.clamp(0.0, (h - 1) as f64));
    let (i, j) = (u.floor() as usize, v.floor() as usize);
    let (i1, j1) = ((i + 1).min(w - 1), (j + 1).min(h - 1));
    let (fu, fv) = (u - i as f64, v - j as f64);
    let at = |x: usize, y: usize| grid[y * w + x] as f64;
    (at(i, j) * (1.0 - fu) + at(i1, j) * fu) * (1.0 - fv) + (at(i, j1) * (1.0 - fu) + at(i1, j1) * fu) * fv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_follows_the_prototypes_inside_the_box() {
        // One prototype at the tile's resolution: positive on an L, negative elsewhere.
        let tile = 8;
        let mut proto = vec![-1f32; tile * tile];
        for (x, y) in [(2, 2), (2, 3), (2, 4), (3, 4), (4, 4), (6, 6)] {
            proto[y * tile + x] = 1.0;
        }
        let p = Prototypes { values: &proto, channels: 1, height: tile, width: tile };
        let d = Detection { x1: 1.0, y1: 1.0, x2: 5.0, y2: 5.0, angle: 0.0, score: 1.0, class: 0, tile: 0, index: 0 };
        let ([x, y, w, h], m) = mask(&d, &[1.0], &p, tile).unwrap();
        assert_eq!([x, y, w, h], [1, 1, 4, 4]);
        let on: Vec<(usize, usize)> = (0..16).filter(|i| m[*i] == 1).map(|i| (x + i % 4, y + i / 4)).collect();
        // The L, not its hull; (6, 6) is outside the box.
        assert_eq!(on, [(2, 2), (2, 3), (2, 4), (3, 4), (4, 4)]);
    }
}
