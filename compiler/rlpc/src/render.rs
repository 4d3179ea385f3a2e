//! Pictures of classic-control environments, drawn from observations alone: PNG frames
//! and an animated GIF for `rlpc eval --frames/--gif`.
//!
//! Each frame is drawn with plotters into an RGB buffer in world coordinates (a chart
//! with no axes), then encoded in memory and written atomically. The GIF encoder is
//! the small one below (a fixed 6×6×6 colour cube, LZW), so no image crate is needed.

use plotters::prelude::*;
use rlp_runtime::io::write_atomic;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Frame size in pixels (3:2; every scene's world box has the same aspect).
pub const SIZE: (u32, u32) = (600, 400);

/// What to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scene {
    /// Observation (x, ẋ, θ, θ̇).
    CartPole,
    /// Observation (cos θ, sin θ, θ̇), θ = 0 upright.
    Pendulum,
    /// Observation (position, velocity); hill `sin(3x)·0.45 + 0.55`.
    MountainCar,
    /// Observation (cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2).
    Acrobot,
}

impl Scene {
    /// The renderer for an environment built by `constructor` (`cartpole`, …) or, when
    /// the binding is not a plain call, for its observation width.
    pub fn choose(constructor: Option<&str>, obs_width: usize, env: &str) -> Result<Scene, String> {
        let by_name = |c: &str| match c {
            "cartpole" => Some(Scene::CartPole),
            "pendulum" => Some(Scene::Pendulum),
            "mountain_car" | "mountain_car_continuous" => Some(Scene::MountainCar),
            "acrobot" => Some(Scene::Acrobot),
            _ => None,
        };
        let scene = match constructor {
            Some(c) => by_name(c),
            None => match obs_width {
                4 => Some(Scene::CartPole),
                3 => Some(Scene::Pendulum),
                2 => Some(Scene::MountainCar),
                6 => Some(Scene::Acrobot),
                _ => None,
            },
        };
        let expected = match scene {
            Some(Scene::CartPole) => 4,
            Some(Scene::Pendulum) => 3,
            Some(Scene::MountainCar) => 2,
            Some(Scene::Acrobot) => 6,
            None => 0,
        };
        match scene {
            Some(s) if expected == obs_width => Ok(s),
            _ => Err(format!(
                "no renderer for this environment (`{env}`{}, observations of width {obs_width}); \
                 --frames and --gif draw cartpole, pendulum, mountain_car(_continuous) and acrobot",
                constructor
                    .map(|c| format!(" = {c}(…)"))
                    .unwrap_or_default()
            )),
        }
    }
}

fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
                .map_err(|_| "the bundled font DejaVuSans.ttf could not be loaded".to_string())
        })
        .clone()
}

/// One frame as RGB bytes (`SIZE`), labelled `step index/total`.
pub fn render_rgb(
    scene: Scene,
    obs: &[f64],
    index: usize,
    total: usize,
) -> Result<Vec<u8>, String> {
    register_font()?;
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(scene, obs, index, total, &mut rgb)
        .map_err(|e| format!("cannot draw frame {index}: {e}"))?;
    Ok(rgb)
}

type Res = Result<(), Box<dyn std::error::Error>>;

fn draw(scene: Scene, o: &[f64], index: usize, total: usize, rgb: &mut [u8]) -> Res {
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw(&Text::new(
        format!("step {index}/{}", total.saturating_sub(1)),
        (10, 10),
        ("sans-serif", 16).into_font().color(&BLACK),
    ))?;
    // World boxes of aspect 3:2, matching SIZE.
    let (xr, yr) = match scene {
        Scene::CartPole => (-3.0..3.0, -1.0..3.0),
        Scene::Pendulum => (-1.8..1.8, -1.2..1.2),
        Scene::MountainCar => (-1.25..0.65, -0.1..1.1667),
        Scene::Acrobot => (-3.3..3.3, -2.2..2.2),
    };
    let mut chart = ChartBuilder::on(&root).build_cartesian_2d(xr, yr)?;
    let dark = RGBColor(40, 40, 40);
    let pole = RGBColor(204, 153, 102);
    let blue = RGBColor(51, 102, 204);
    match scene {
        Scene::CartPole => {
            let (x, th) = (o[0], o[2]);
            chart.draw_series([PathElement::new(
                vec![(-3.0, 0.0), (3.0, 0.0)],
                dark.stroke_width(1),
            )])?;
            for lim in [-2.4, 2.4] {
                chart.draw_series([PathElement::new(
                    vec![(lim, -0.2), (lim, 0.2)],
                    RED.stroke_width(2),
                )])?;
            }
            chart.draw_series([Rectangle::new(
                [(x - 0.25, -0.15), (x + 0.25, 0.15)],
                dark.filled(),
            )])?;
            let top = (x + 1.0 * th.sin(), 0.1 + 1.0 * th.cos());
            chart.draw_series([PathElement::new(vec![(x, 0.1), top], pole.stroke_width(8))])?;
            chart.draw_series([Circle::new((x, 0.1), 4, blue.filled())])?;
        }
        Scene::Pendulum => {
            let (c, s) = (o[0], o[1]);
            let tip = (-s, c);
            chart.draw_series([PathElement::new(
                vec![(0.0, 0.0), tip],
                RGBColor(204, 77, 77).stroke_width(14),
            )])?;
            chart.draw_series([Circle::new((0.0, 0.0), 6, dark.filled())])?;
        }
        Scene::MountainCar => {
            let hill = |x: f64| (3.0 * x).sin() * 0.45 + 0.55;
            let pts: Vec<(f64, f64)> = (0..=200)
                .map(|i| -1.2 + 1.8 * i as f64 / 200.0)
                .map(|x| (x, hill(x)))
                .collect();
            chart.draw_series([PathElement::new(pts, dark.stroke_width(2))])?;
            let g = 0.5;
            chart.draw_series([PathElement::new(
                vec![(g, hill(g)), (g, hill(g) + 0.12)],
                dark.stroke_width(2),
            )])?;
            chart.draw_series([Polygon::new(
                vec![
                    (g, hill(g) + 0.12),
                    (g + 0.06, hill(g) + 0.1),
                    (g, hill(g) + 0.08),
                ],
                RGBColor(204, 204, 0).filled(),
            )])?;
            let x = o[0];
            chart.draw_series([Circle::new((x, hill(x) + 0.03), 10, blue.filled())])?;
        }
        Scene::Acrobot => {
            let (c1, s1, c2, s2) = (o[0], o[1], o[2], o[3]);
            let p1 = (s1, -c1);
            let (c12, s12) = (c1 * c2 - s1 * s2, s1 * c2 + c1 * s2);
            let p2 = (p1.0 + s12, p1.1 - c12);
            chart.draw_series([PathElement::new(
                vec![(-2.2, 1.0), (2.2, 1.0)],
                dark.stroke_width(1),
            )])?;
            chart.draw_series([PathElement::new(
                vec![(0.0, 0.0), p1],
                RGBColor(0, 153, 153).stroke_width(10),
            )])?;
            chart.draw_series([PathElement::new(
                vec![p1, p2],
                RGBColor(0, 153, 153).stroke_width(10),
            )])?;
            for p in [(0.0, 0.0), p1] {
                chart.draw_series([Circle::new(p, 6, RGBColor(204, 204, 0).filled())])?;
            }
        }
    }
    root.present()?;
    Ok(())
}

/// PNG bytes of an RGB buffer.
pub fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Writes `frame-00000.png`, … into `dir` (created), one per observation. Returns the
/// paths written.
pub fn write_frames(dir: &Path, scene: Scene, frames: &[Vec<f64>]) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let mut written = vec![];
    for (i, o) in frames.iter().enumerate() {
        let rgb = render_rgb(scene, o, i, frames.len())?;
        let png = encode_png(&rgb, SIZE.0, SIZE.1)?;
        let path = dir.join(format!("frame-{i:05}.png"));
        write_atomic(&path, &png).map_err(|e| e.to_string())?;
        written.push(path);
    }
    Ok(written)
}

/// Writes the frames as an animated GIF (looping, 40 ms per frame) to `path`.
pub fn write_gif(path: &Path, scene: Scene, frames: &[Vec<f64>]) -> Result<(), String> {
    let mut gif = GifWriter::new(SIZE.0 as u16, SIZE.1 as u16, 4);
    for (i, o) in frames.iter().enumerate() {
        gif.frame(&render_rgb(scene, o, i, frames.len())?);
    }
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    write_atomic(path, &gif.finish()).map_err(|e| e.to_string())
}

/// A minimal GIF89a encoder: global 6×6×6 colour cube (216 colours padded to 256),
/// each frame full size, LZW-compressed, with a looping extension.
pub struct GifWriter {
    out: Vec<u8>,
    w: u16,
    h: u16,
    delay_cs: u16,
}

fn cube_level(v: u8) -> u8 {
    ((v as u16 * 5 + 127) / 255) as u8
}

impl GifWriter {
    pub fn new(w: u16, h: u16, delay_cs: u16) -> GifWriter {
        let mut out = b"GIF89a".to_vec();
        out.extend_from_slice(&w.to_le_bytes());
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&[0xF7, 0, 0]); // global table of 256 entries
        for i in 0..256u32 {
            let (r, g, b) = if i < 216 {
                (i / 36, (i / 6) % 6, i % 6)
            } else {
                (5, 5, 5)
            };
            out.extend_from_slice(&[(r * 51) as u8, (g * 51) as u8, (b * 51) as u8]);
        }
        // NETSCAPE2.0: loop forever.
        out.extend_from_slice(&[0x21, 0xFF, 0x0B]);
        out.extend_from_slice(b"NETSCAPE2.0");
        out.extend_from_slice(&[0x03, 0x01, 0x00, 0x00, 0x00]);
        GifWriter {
            out,
            w,
            h,
            delay_cs,
        }
    }

    /// Adds a frame from RGB bytes (`w·h·3`).
    pub fn frame(&mut self, rgb: &[u8]) {
        let idx: Vec<u8> = rgb
            .chunks_exact(3)
            .map(|p| cube_level(p[0]) * 36 + cube_level(p[1]) * 6 + cube_level(p[2]))
            .collect();
        let o = &mut self.out;
        o.extend_from_slice(&[0x21, 0xF9, 0x04, 0x00]);
        o.extend_from_slice(&self.delay_cs.to_le_bytes());
        o.extend_from_slice(&[0x00, 0x00]);
        o.push(0x2C);
        o.extend_from_slice(&[0, 0, 0, 0]);
        o.extend_from_slice(&self.w.to_le_bytes());
        o.extend_from_slice(&self.h.to_le_bytes());
        o.push(0);
        o.push(8); // LZW minimum code size
        let data = lzw(&idx);
        for chunk in data.chunks(255) {
            o.push(chunk.len() as u8);
            o.extend_from_slice(chunk);
        }
        o.push(0);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(0x3B);
        self.out
    }
}

/// GIF LZW of 8-bit indices.
fn lzw(data: &[u8]) -> Vec<u8> {
    const CLEAR: u16 = 256;
    const END: u16 = 257;
    let mut out = Vec::new();
    let (mut acc, mut nbits) = (0u32, 0u32);
    let mut put = |code: u16, width: u32, out: &mut Vec<u8>| {
        acc |= (code as u32) << nbits;
        nbits += width;
        while nbits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            nbits -= 8;
        }
    };
    let mut dict: std::collections::HashMap<(u16, u8), u16> = std::collections::HashMap::new();
    let mut next = 258u16;
    let mut width = 9u32;
    put(CLEAR, width, &mut out);
    let mut cur: Option<u16> = None;
    for &b in data {
        let Some(c) = cur else {
            cur = Some(b as u16);
            continue;
        };
        if let Some(&code) = dict.get(&(c, b)) {
            cur = Some(code);
            continue;
        }
        put(c, width, &mut out);
        if next < 4096 {
            dict.insert((c, b), next);
            next += 1;
            if next > (1 << width) && width < 12 {
                width += 1;
            }
        } else {
            put(CLEAR, width, &mut out);
            dict.clear();
            next = 258;
            width = 9;
        }
        cur = Some(b as u16);
    }
    if let Some(c) = cur {
        put(c, width, &mut out);
        // The decoder adds an entry after this code too, and may widen its codes.
        if next < 4096 {
            next += 1;
            if next > (1 << width) && width < 12 {
                width += 1;
            }
        }
    }
    put(END, width, &mut out);
    if nbits > 0 {
        out.push(acc as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_gif_have_signatures() {
        for (scene, obs) in [
            (Scene::CartPole, vec![0.5, 0.0, 0.1, 0.0]),
            (Scene::Pendulum, vec![0.0, 1.0, 0.0]),
            (Scene::MountainCar, vec![-0.5, 0.0]),
            (Scene::Acrobot, vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0]),
        ] {
            let rgb = render_rgb(scene, &obs, 0, 1).unwrap();
            assert_eq!(&encode_png(&rgb, SIZE.0, SIZE.1).unwrap()[1..4], b"PNG");
            let mut g = GifWriter::new(SIZE.0 as u16, SIZE.1 as u16, 4);
            g.frame(&rgb);
            let bytes = g.finish();
            assert_eq!(&bytes[..6], b"GIF89a");
            assert_eq!(*bytes.last().unwrap(), 0x3B);
        }
        assert!(Scene::choose(Some("gridworld"), 4, "env").is_err());
        assert_eq!(Scene::choose(None, 3, "env").unwrap(), Scene::Pendulum);
    }
}
