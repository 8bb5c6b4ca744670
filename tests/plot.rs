//! The plot functions write valid PNG files of the announced size.

use std::path::{Path, PathBuf};

use dfdx::prelude::*;
use typenet::data::Dataset;
use typenet::plot::{
    plot_confusion_matrix, plot_history, plot_image_grid, plot_misclassified, ImageTile,
};
use typenet::train::{ConfusionMatrix, EpochMetrics, Evaluation, History};

fn out(name: &str) -> PathBuf {
    // TYPENET_PLOT_DIR keeps the pictures for a look.
    let dir = std::env::var_os("TYPENET_PLOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("typenet-plot-{}", std::process::id()))
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The PNG signature, and width and height from the IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    assert!(b.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]));
    (be(16), be(20))
}

fn history(n: usize) -> History {
    History {
        epochs: (1..=n)
            .map(|e| {
                let t = e as f64;
                EpochMetrics {
                    epoch: e,
                    epochs: n,
                    seconds: 1.0,
                    loss: 1.0 / t,
                    accuracy: 1.0 - 0.5 / t,
                    steps: 1,
                    samples: 1,
                    validation: Some(Evaluation {
                        loss: 1.2 / t + 0.05,
                        accuracy: 0.95 - 0.5 / t,
                        top_k: None,
                    }),
                    top_k: None,
                    lr: Some(0.001),
                }
            })
            .collect(),
    }
}

#[test]
fn history_plot_is_a_png() {
    let p = out("history.png");
    plot_history(&history(8), &p).unwrap();
    assert_eq!(png_size(&p), (1200, 480));
    let one = out("history1.png");
    plot_history(&history(1), &one).unwrap();
    assert!(plot_history(&History::default(), out("none.png"))
        .unwrap_err()
        .to_string()
        .contains("nothing to plot"));
}

#[test]
fn confusion_matrix_plot_is_a_png() {
    let labels: Vec<usize> = (0..200).map(|i| i % 10).collect();
    let pred: Vec<usize> = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| if i % 7 == 0 { (l + 3) % 10 } else { l })
        .collect();
    let cm = ConfusionMatrix::new(&labels, &pred, 10).unwrap();
    let p = out("confusion.png");
    plot_confusion_matrix(&cm, &[], &p).unwrap();
    let (w, h) = png_size(&p);
    assert!(w > 500 && h > 500, "{w}x{h}");
}

#[test]
fn image_grids_are_pngs() {
    // A 28x28 "digit": a ring.
    let ring: Vec<f32> = (0..784)
        .map(|i| {
            let (y, x) = ((i / 28) as f32 - 13.5, (i % 28) as f32 - 13.5);
            let r = (x * x + y * y).sqrt();
            if (6.0..10.0).contains(&r) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let data: Dataset<(Const<1>, Const<28>, Const<28>)> =
        Dataset::new(ring.repeat(12), (0..12).map(|i| i % 10).collect()).unwrap();
    let pred: Vec<usize> = (0..12)
        .map(|i| if i % 3 == 0 { 0 } else { i % 10 })
        .collect();
    let p = out("misclassified.png");
    let n = plot_misclassified(&data, &pred, 16, &p).unwrap();
    assert_eq!(n, 3); // samples 3, 6, 9
    let (w, h) = png_size(&p);
    assert!(w >= 360 && h > 84, "{w}x{h}");
    assert_eq!(
        plot_misclassified(&data, data.labels(), 16, out("none.png")).unwrap(),
        0
    );
    let bad = plot_image_grid(
        &[ImageTile {
            pixels: vec![0.0; 3],
            caption: "x".into(),
        }],
        (28, 28),
        4,
        "t",
        out("bad.png"),
    );
    assert!(bad.unwrap_err().to_string().contains("3 pixels"));
}

#[test]
fn training_report_writes_three_pictures() {
    let ring: Vec<f32> = (0..784).map(|i| ((i % 28) as f32 / 28.0).round()).collect();
    let data: Dataset<(Const<1>, Const<28>, Const<28>)> =
        Dataset::new(ring.repeat(4), vec![0, 1, 2, 3]).unwrap();
    let dir = out("report");
    let written =
        typenet::plot::plot_training_report(&dir, Some(&history(3)), &data, &[0, 1, 3, 3], 4)
            .unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["history.png", "confusion_matrix.png", "misclassified.png"]
    );
    for p in &written {
        png_size(p);
    }
    assert!(typenet::plot::plot_training_report(&dir, None, &data, &[0, 9, 3, 3], 4).is_err());
}
