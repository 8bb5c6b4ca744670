//! Pictures of training, as PNG files: [`plot_history`] (loss and accuracy per epoch,
//! training and validation), [`plot_confusion_matrix`] (a heat map with the counts) and
//! [`plot_misclassified`] / [`plot_image_grid`] (images with captions).
//!
//! Drawn with `plotters` into memory and encoded with the `png` crate, with a font that
//! ships in the crate (DejaVu Sans, `data/fonts/`, under its permissive license): no
//! system library (fontconfig, freetype) is needed. Every file is written atomically
//! (a temporary file renamed over the target), so a crash never leaves a half-written PNG.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::data::Dataset;
use crate::network::SampleShape;
use crate::train::{ConfusionMatrix, History};
use crate::weights::{write_atomic, WeightsError};

/// What went wrong drawing or writing a picture.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Nothing to draw.
    #[error("nothing to plot: {0}")]
    Empty(String),
    /// An argument that cannot be drawn (the message says what to pass instead).
    #[error("{0}")]
    Invalid(String),
    /// The drawing library failed.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// Encoding the PNG failed.
    #[error("encoding the PNG failed: {0}")]
    Encode(String),
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] WeightsError),
}

const FONT: &[u8] = include_bytes!("../data/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(PlotError::Draw(
            "the bundled font could not be loaded".into(),
        ))
    }
}

fn draw_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Draw(format!("{e:?}"))
}

/// Draws with `draw` on a white `w` x `h` RGB canvas and writes it as a PNG to `path`.
fn render(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<(), PlotError> {
    register_font()?;
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc
            .write_header()
            .map_err(|e| PlotError::Encode(e.to_string()))?;
        writer
            .write_image_data(&buf)
            .map_err(|e| PlotError::Encode(e.to_string()))?;
    }
    write_atomic(path, &png_bytes)?;
    Ok(())
}

const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const VAL_COLOR: RGBColor = RGBColor(255, 127, 14);

/// One panel: `train` and `val` per epoch (val may be empty).
fn curve_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    y_label: &str,
    epochs: &[usize],
    train: &[f64],
    val: &[f64],
    unit_range: bool,
) -> Result<(), PlotError> {
    let finite = train.iter().chain(val).copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (mut lo, mut hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.08).max(1e-3);
    lo -= pad;
    hi += pad;
    if unit_range {
        lo = lo.max(0.0);
        hi = hi.min(1.0);
    } else {
        lo = lo.max(0.0);
    }
    if hi <= lo {
        hi = lo + 1e-3;
    }
    let first = *epochs.first().unwrap_or(&1) as f64;
    let last = (*epochs.last().unwrap_or(&1) as f64).max(first + 1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 24))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(first - 0.2..last + 0.2, lo..hi)
        .map_err(draw_err)?;
    let n_epochs = epochs.len();
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .x_labels(n_epochs.clamp(2, 12))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.3}"))
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 17))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(draw_err)?;
    let series = [
        ("training", train, TRAIN_COLOR),
        ("validation", val, VAL_COLOR),
    ];
    for (name, values, color) in series {
        if values.is_empty() {
            continue;
        }
        let pts: Vec<(f64, f64)> = epochs
            .iter()
            .zip(values)
            .map(|(&e, &v)| (e as f64, v))
            .filter(|(_, v)| v.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(3)))
            .map_err(draw_err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(draw_err)?;
    }
    chart
        .configure_series_labels()
        .position(if unit_range {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        })
        .label_font((FAMILY, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

/// Writes training curves to `path` (PNG, 1200 x 480): loss on the left, accuracy on the
/// right, training and (when measured) validation per epoch, with a legend.
pub fn plot_history(history: &History, path: impl AsRef<Path>) -> Result<(), PlotError> {
    if history.is_empty() {
        return Err(PlotError::Empty(
            "the history has no epoch: train first".into(),
        ));
    }
    let epochs = history.epoch_numbers();
    render(path.as_ref(), (1200, 480), |root| {
        let (left, right) = root.split_horizontally(600);
        curve_panel(
            &left,
            "Loss",
            "loss",
            &epochs,
            &history.loss(),
            &history.val_loss(),
            false,
        )?;
        curve_panel(
            &right,
            "Accuracy",
            "accuracy",
            &epochs,
            &history.accuracy(),
            &history.val_accuracy(),
            true,
        )
    })
}

/// Writes `cm` as a heat map with the count in each cell to `path` (PNG): rows are true
/// classes, columns predicted ones; each cell is shaded by its share of its row (so a rare
/// class's recall is as visible as a common one's). `class_names` label the axes (class
/// numbers when empty).
pub fn plot_confusion_matrix(
    cm: &ConfusionMatrix,
    class_names: &[&str],
    path: impl AsRef<Path>,
) -> Result<(), PlotError> {
    let k = cm.classes();
    if k == 0 {
        return Err(PlotError::Empty("the confusion matrix has no class".into()));
    }
    let name = |i: usize| -> String {
        class_names
            .get(i)
            .map_or_else(|| i.to_string(), |s| s.to_string())
    };
    let cell: i32 = (560 / k as i32).clamp(24, 64);
    let (left, top) = (110i32, 70i32);
    let w = (left + cell * k as i32 + 40) as u32;
    let h = (top + cell * k as i32 + 70) as u32;
    render(path.as_ref(), (w, h), |root| {
        let center = Pos::new(HPos::Center, VPos::Center);
        let title = TextStyle::from((FAMILY, 22).into_font()).pos(center);
        root.draw(&Text::new(
            "Confusion matrix (rows: true, columns: predicted)",
            (w as i32 / 2, 24),
            title,
        ))
        .map_err(draw_err)?;
        let size = (cell as f64 * 0.36).clamp(10.0, 18.0);
        for t in 0..k {
            let support = cm.support(t).max(1) as f64;
            for p in 0..k {
                let count = cm.count(t, p);
                let share = count as f64 / support;
                let x0 = left + p as i32 * cell;
                let y0 = top + t as i32 * cell;
                let shade = |c: u8| (255.0 - (255.0 - c as f64) * share) as u8;
                let color = RGBColor(shade(8), shade(48), shade(107));
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    color.filled(),
                ))
                .map_err(draw_err)?;
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    BLACK.mix(0.15),
                ))
                .map_err(draw_err)?;
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let style = TextStyle::from((FAMILY, size).into_font())
                    .color(&ink)
                    .pos(center);
                root.draw(&Text::new(
                    count.to_string(),
                    (x0 + cell / 2, y0 + cell / 2),
                    style,
                ))
                .map_err(draw_err)?;
            }
        }
        let label = TextStyle::from((FAMILY, 16).into_font()).pos(center);
        for i in 0..k {
            root.draw(&Text::new(
                name(i),
                (left + i as i32 * cell + cell / 2, top - 12),
                label.clone(),
            ))
            .map_err(draw_err)?;
            root.draw(&Text::new(
                name(i),
                (left - 16, top + i as i32 * cell + cell / 2),
                label.clone(),
            ))
            .map_err(draw_err)?;
        }
        let axis = TextStyle::from((FAMILY, 18).into_font()).pos(center);
        root.draw(&Text::new(
            "predicted class",
            (left + cell * k as i32 / 2, top + cell * k as i32 + 24),
            axis.clone(),
        ))
        .map_err(draw_err)?;
        root.draw(&Text::new(
            "true",
            (left - 70, top + cell * k as i32 / 2 - 10),
            axis.clone(),
        ))
        .map_err(draw_err)?;
        root.draw(&Text::new(
            "class",
            (left - 70, top + cell * k as i32 / 2 + 12),
            axis,
        ))
        .map_err(draw_err)?;
        let footer = TextStyle::from((FAMILY, 16).into_font()).pos(center);
        root.draw(&Text::new(
            format!(
                "accuracy {:.4}   balanced accuracy {:.4}",
                cm.accuracy(),
                cm.balanced_accuracy()
            ),
            (left + cell * k as i32 / 2, top + cell * k as i32 + 52),
            footer,
        ))
        .map_err(draw_err)?;
        Ok(())
    })
}

/// One image of a grid: grey levels (0 = white, 1 = black), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTile {
    /// `height * width` values in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// The text under the image.
    pub caption: String,
}

/// Writes `tiles` (each `height` x `width` pixels) as a grid of `columns` to `path` (PNG),
/// each image scaled up 3 times with its caption under it.
pub fn plot_image_grid(
    tiles: &[ImageTile],
    (height, width): (usize, usize),
    columns: usize,
    title: &str,
    path: impl AsRef<Path>,
) -> Result<(), PlotError> {
    if tiles.is_empty() {
        return Err(PlotError::Empty("no image to draw".into()));
    }
    if let Some(t) = tiles.iter().find(|t| t.pixels.len() != height * width) {
        return Err(PlotError::Invalid(format!(
            "an image has {} pixels, but {height} x {width} = {} were announced",
            t.pixels.len(),
            height * width
        )));
    }
    let columns = columns.clamp(1, tiles.len());
    let rows = tiles.len().div_ceil(columns);
    let scale = 3i32;
    let (tw, th) = (width as i32 * scale, height as i32 * scale);
    let (cw, ch) = (tw.max(110) + 16, th + 40);
    let top = 50;
    let w = (cw * columns as i32 + 16) as u32;
    let h = (top + ch * rows as i32 + 10) as u32;
    render(path.as_ref(), (w.max(360), h), |root| {
        let center = Pos::new(HPos::Center, VPos::Center);
        root.draw(&Text::new(
            title.to_string(),
            (w.max(360) as i32 / 2, 24),
            TextStyle::from((FAMILY, 20).into_font()).pos(center),
        ))
        .map_err(draw_err)?;
        for (i, tile) in tiles.iter().enumerate() {
            let cx = 8 + (i % columns) as i32 * cw + (cw - tw) / 2;
            let cy = top + (i / columns) as i32 * ch;
            root.draw(&Rectangle::new(
                [(cx - 1, cy - 1), (cx + tw, cy + th)],
                BLACK.mix(0.3),
            ))
            .map_err(draw_err)?;
            for y in 0..height {
                for x in 0..width {
                    let v = tile.pixels[y * width + x].clamp(0.0, 1.0);
                    if v <= 0.0 {
                        continue;
                    }
                    let g = (255.0 * (1.0 - v)) as u8;
                    let (px, py) = (cx + x as i32 * scale, cy + y as i32 * scale);
                    root.draw(&Rectangle::new(
                        [(px, py), (px + scale, py + scale)],
                        RGBColor(g, g, g).filled(),
                    ))
                    .map_err(draw_err)?;
                }
            }
            root.draw(&Text::new(
                tile.caption.clone(),
                (cx + tw / 2, cy + th + 16),
                TextStyle::from((FAMILY, 15).into_font()).pos(center),
            ))
            .map_err(draw_err)?;
        }
        Ok(())
    })
}

/// Writes up to `max` samples of `data` (one-channel images) whose `predicted` class
/// differs from their label as a grid to `path` (PNG), captioned `true 4 / pred 9`.
/// Returns how many were drawn (0 writes nothing: no sample is misclassified).
pub fn plot_misclassified<S: SampleShape>(
    data: &Dataset<S>,
    predicted: &[usize],
    max: usize,
    path: impl AsRef<Path>,
) -> Result<usize, PlotError> {
    let dims = S::default().concrete();
    let dims: &[usize] = dims.as_ref();
    let (h, w) = match dims {
        [1, h, w] => (*h, *w),
        _ => {
            return Err(PlotError::Invalid(format!(
                "samples of shape {dims:?} are not one-channel images (1, H, W)"
            )))
        }
    };
    if predicted.len() != data.len() {
        return Err(PlotError::Invalid(format!(
            "{} predictions were given for {} samples: give one per sample",
            predicted.len(),
            data.len()
        )));
    }
    let tiles: Vec<ImageTile> = (0..data.len())
        .filter_map(|i| data.get(i).map(|(x, l)| (x, l, predicted[i])))
        .filter(|&(_, l, p)| l != p)
        .take(max)
        .map(|(x, l, p)| ImageTile {
            pixels: x.to_vec(),
            caption: format!("true {l} / pred {p}"),
        })
        .collect();
    if tiles.is_empty() {
        return Ok(0);
    }
    plot_image_grid(&tiles, (h, w), 8, "Misclassified test images", path)?;
    Ok(tiles.len())
}

/// Writes the three pictures of a classifier run into `dir` (created if missing):
/// `history.png` (when `history` is given and not empty), `confusion_matrix.png` and
/// `misclassified.png` (up to 32 of `data`'s samples whose `predicted` class is wrong,
/// when there are any). Returns the paths written.
pub fn plot_training_report<S: SampleShape>(
    dir: impl AsRef<Path>,
    history: Option<&History>,
    data: &Dataset<S>,
    predicted: &[usize],
    classes: usize,
) -> Result<Vec<std::path::PathBuf>, PlotError> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|source| {
        PlotError::Write(WeightsError::Io {
            path: dir.to_path_buf(),
            source,
        })
    })?;
    let mut written = Vec::new();
    if let Some(h) = history.filter(|h| !h.is_empty()) {
        let p = dir.join("history.png");
        plot_history(h, &p)?;
        written.push(p);
    }
    let cm = ConfusionMatrix::new(data.labels(), predicted, classes)
        .map_err(|e| PlotError::Invalid(e.to_string()))?;
    let p = dir.join("confusion_matrix.png");
    plot_confusion_matrix(&cm, &[], &p)?;
    written.push(p);
    let p = dir.join("misclassified.png");
    if plot_misclassified(data, predicted, 32, &p)? > 0 {
        written.push(p);
    }
    Ok(written)
}
