//! `index.html`: a self-contained viewer of the pyramid (no network, no library): the tiles of
//! one zoom placed as background images of 256 px `<div>`s around the extent's centre, a time slider over the frames
//! with the frame's label, zoom buttons, drag to pan, a play button. `#frame=N` (0-based) and
//! `#z=Z` in the URL choose the frame and zoom shown first (`#frame=1&z=9`).

use crate::tiles::summary::TilesSummary;

/// The page for `summary`, opening at zoom `start_zoom`.
pub fn html(summary: &TilesSummary, start_zoom: u8) -> String {
    let config = serde_json::json!({
        "frames": summary.frames.iter().map(|f| serde_json::json!({
            "label": f.label,
            "prefix": if f.path.is_empty() { String::new() } else { format!("{}/", f.path) },
        })).collect::<Vec<_>>(),
        "zoom": summary.zoom,
        "start_zoom": start_zoom,
        "bounds": summary.bounds_metres,
        "ranges": summary.tile_ranges,
    });
    // Frame labels are restricted to folder-safe characters; "</" is escaped all the same.
    let config = config.to_string().replace("</", "<\\/");
    TEMPLATE.replace("__CONFIG__", &config)
}

const TEMPLATE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rastrum tiles</title>
<style>
html, body { margin: 0; height: 100%; font: 14px sans-serif; background: #e6e6e6; }
#bar { position: absolute; top: 0; left: 0; right: 0; height: 40px; display: flex; gap: 8px;
       align-items: center; padding: 0 10px; background: #fff; border-bottom: 1px solid #bbb; }
#slider { width: 240px; }
#label { font-weight: bold; min-width: 120px; }
#map { position: absolute; top: 41px; left: 0; right: 0; bottom: 0; overflow: hidden; cursor: grab; }
#map .tile { position: absolute; width: 256px; height: 256px; }
</style>
</head>
<body>
<div id="bar">
  <button id="play" title="play the frames">&#9654;</button>
  <input id="slider" type="range" min="0" max="0" step="1" value="0">
  <span id="label"></span>
  <button id="zout" title="zoom out">&minus;</button><span id="zoom"></span><button id="zin" title="zoom in">+</button>
</div>
<div id="map"></div>
<script>
"use strict";
const C = __CONFIG__;
const HALF = 20037508.342789244, TILE = 256;
const map = document.getElementById("map"), slider = document.getElementById("slider");
const label = document.getElementById("label"), zoomText = document.getElementById("zoom");
let frame = 0, z = C.start_zoom, timer = null;
let cx = (C.bounds[0] + C.bounds[2]) / 2, cy = (C.bounds[1] + C.bounds[3]) / 2;
slider.max = String(C.frames.length - 1);
const clamp = (v, a, b) => Math.max(a, Math.min(b, v));
const res = (zoom) => 2 * HALF / TILE / Math.pow(2, zoom);

function draw() {
  const w = map.clientWidth, h = map.clientHeight, r = res(z);
  const left = (cx + HALF) / r - w / 2, top = (HALF - cy) / r - h / 2;
  const t = C.ranges.find((q) => q.z === z);
  const prefix = C.frames[frame].prefix;
  const imgs = [];
  for (let y = Math.max(t.y_min, Math.floor(top / TILE)); y <= Math.min(t.y_max, Math.floor((top + h) / TILE)); y++) {
    for (let x = Math.max(t.x_min, Math.floor(left / TILE)); x <= Math.min(t.x_max, Math.floor((left + w) / TILE)); x++) {
      // A background image, not an <img>: a missing tile (nothing visible there) shows nothing
      // rather than a broken-image frame.
      const img = document.createElement("div");
      img.className = "tile";
      img.style.backgroundImage = "url('" + prefix + z + "/" + x + "/" + y + ".png')";
      img.style.left = Math.round(x * TILE - left) + "px";
      img.style.top = Math.round(y * TILE - top) + "px";
      imgs.push(img);
    }
  }
  map.replaceChildren(...imgs);
  slider.value = String(frame);
  label.textContent = C.frames[frame].label + " (" + (frame + 1) + "/" + C.frames.length + ")";
  zoomText.textContent = "z" + z;
}

function fromHash() {
  const f = /frame=(\d+)/.exec(location.hash), zz = /[#&]z=(\d+)/.exec(location.hash);
  if (f) frame = clamp(parseInt(f[1], 10), 0, C.frames.length - 1);
  if (zz) z = clamp(parseInt(zz[1], 10), C.zoom[0], C.zoom[1]);
}

slider.addEventListener("input", () => { frame = parseInt(slider.value, 10); draw(); });
document.getElementById("zin").onclick = () => { z = clamp(z + 1, C.zoom[0], C.zoom[1]); draw(); };
document.getElementById("zout").onclick = () => { z = clamp(z - 1, C.zoom[0], C.zoom[1]); draw(); };
document.getElementById("play").onclick = () => {
  if (timer) { clearInterval(timer); timer = null; return; }
  timer = setInterval(() => { frame = (frame + 1) % C.frames.length; draw(); }, 1000);
};
let drag = null;
map.addEventListener("mousedown", (e) => { drag = [e.clientX, e.clientY]; });
window.addEventListener("mouseup", () => { drag = null; });
window.addEventListener("mousemove", (e) => {
  if (!drag) return;
  const r = res(z);
  cx -= (e.clientX - drag[0]) * r; cy += (e.clientY - drag[1]) * r;
  drag = [e.clientX, e.clientY];
  draw();
});
window.addEventListener("hashchange", () => { fromHash(); draw(); });
window.addEventListener("resize", draw);
fromHash();
draw();
</script>
</body>
</html>
"#;
