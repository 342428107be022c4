//! The animated GIF of a time series: each frame's rendering of the whole extent, over white
//! (GIF has no partial transparency), its label in a box at the top-left corner, one second per
//! frame, looping.

use std::fs::File;
use std::io::BufWriter;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::error::{Error, Result};

/// Frame delay in hundredths of a second.
const DELAY_CS: u16 = 100;
const LABEL_HEIGHT: u32 = 22;

/// A GIF being written frame by frame.
pub struct Animation {
    path: PathBuf,
    encoder: gif::Encoder<BufWriter<File>>,
    width: u16,
    height: u16,
}

impl Animation {
    pub fn create(path: &Path, width: usize, height: usize) -> Result<Animation> {
        let (w, h) = (u16::try_from(width), u16::try_from(height));
        let (Ok(width), Ok(height)) = (w, h) else {
            return Err(Error::invalid(format!("animation of {width}x{height} px is beyond GIF's 65535 px")));
        };
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut encoder =
            gif::Encoder::new(BufWriter::new(file), width, height, &[]).map_err(|e| Error::io(path, e))?;
        encoder.set_repeat(gif::Repeat::Infinite).map_err(|e| Error::io(path, e))?;
        Ok(Animation { path: path.to_path_buf(), encoder, width, height })
    }

    /// Adds one frame: RGBA pixels (None: nothing visible) composed over white, then `label`.
    pub fn add(&mut self, rgba: Option<&[u8]>, label: &str) -> Result<()> {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut rgb = vec![255u8; w * h * 3];
        if let Some(px) = rgba {
            for (o, p) in rgb.chunks_exact_mut(3).zip(px.chunks_exact(4)) {
                let a = p[3] as u32;
                for c in 0..3 {
                    o[c] = ((p[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
                }
            }
        }
        draw_label(&mut rgb, w as u32, h as u32, label);
        let mut frame = gif::Frame::from_rgb_speed(self.width, self.height, &rgb, 10);
        frame.delay = DELAY_CS;
        self.encoder.write_frame(&frame).map_err(|e| Error::io(&self.path, e))
    }

    /// Writes the trailer and flushes: a full disk is an error here (a drop would ignore it).
    pub fn finish(self) -> Result<()> {
        let file = self.encoder.into_inner().map_err(|e| Error::io(&self.path, e))?;
        file.into_inner().map(drop).map_err(|e| Error::io(&self.path, e.into_error()))
    }
}

/// The label in black on a white box. Text goes through plotters' fonts; where none can be
/// loaded (or plotters panics), the frame stays without its label rather than failing.
fn draw_label(rgb: &mut [u8], w: u32, h: u32, label: &str) {
    if h < LABEL_HEIGHT * 2 || w < 40 {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let root = BitMapBackend::with_buffer(rgb, (w, h)).into_drawing_area();
        let style = ("sans-serif", 16).into_font().color(&BLACK);
        let text_w = style.font.layout_box(label).map(|((x0, _), (x1, _))| (x1 - x0).max(0) as u32).unwrap_or(0);
        if text_w == 0 {
            return;
        }
        let box_w = (text_w + 12).min(w) as i32;
        let _ = root.draw(&Rectangle::new([(0, 0), (box_w, LABEL_HEIGHT as i32)], WHITE.filled()));
        let _ = root.draw(&Text::new(label.to_string(), (6, 3), style));
        let _ = root.present();
    }));
}
