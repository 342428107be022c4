//! The area shared by two convex quadrilaterals (rotated boxes): one clipped by the other
//! (Sutherland-Hodgman), then the shoelace area.

type Point = (f64, f64);

/// The area of the intersection of convex polygons `a` and `b` (corners in order, either turn).
pub fn intersection(a: &[Point; 4], b: &[Point; 4]) -> f64 {
    let turn = signed_area(b).signum();
    let mut poly: Vec<Point> = a.to_vec();
    for i in 0..4 {
        if poly.is_empty() {
            break;
        }
        let (p, q) = (b[i], b[(i + 1) % 4]);
        // Inside: on the side of edge p -> q where b's interior lies.
        let side = |r: Point| turn * ((q.0 - p.0) * (r.1 - p.1) - (q.1 - p.1) * (r.0 - p.0));
        let mut next = Vec::with_capacity(poly.len() + 2);
        for j in 0..poly.len() {
            let (s, e) = (poly[j], poly[(j + 1) % poly.len()]);
            let (ds, de) = (side(s), side(e));
            if ds >= 0.0 {
                next.push(s);
            }
            if (ds >= 0.0) != (de >= 0.0) {
                let t = ds / (ds - de);
                next.push((s.0 + t * (e.0 - s.0), s.1 + t * (e.1 - s.1)));
            }
        }
        poly = next;
    }
    if poly.len() < 3 {
        return 0.0;
    }
    signed_area(&poly).abs()
}

fn signed_area(p: &[Point]) -> f64 {
    (0..p.len()).map(|i| p[i].0 * p[(i + 1) % p.len()].1 - p[(i + 1) % p.len()].0 * p[i].1).sum::<f64>() / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_of_rotated_squares_are_exact() {
        let square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)];
        assert!((intersection(&square, &square) - 4.0).abs() < 1e-12);
        let shifted = square.map(|(x, y)| (x + 1.0, y + 1.0));
        assert!((intersection(&square, &shifted) - 1.0).abs() < 1e-12);
        // The same square turned 45 degrees about its centre: an octagon of 8 (sqrt 2 - 1) ... area
        // 2 * 2 * (2 * sqrt(2) - 2) = 8 (sqrt 2 - 1).
        let r = std::f64::consts::SQRT_2;
        let diamond = [(1.0, 1.0 - r), (1.0 + r, 1.0), (1.0, 1.0 + r), (1.0 - r, 1.0)];
        assert!((intersection(&square, &diamond) - 8.0 * (r - 1.0)).abs() < 1e-9);
        let far = square.map(|(x, y)| (x + 5.0, y));
        assert_eq!(intersection(&square, &far), 0.0);
    }
}
