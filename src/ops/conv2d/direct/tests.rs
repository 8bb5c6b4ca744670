//! The direct kernels' case selection and layouts.

use super::layout::{Layout, Plain};
use super::{applies, Simd};
use crate::ops::geom::{ConvGeom, PoolGeom};

fn geom(stride: usize, dil: usize) -> ConvGeom {
    ConvGeom {
        batch: 2,
        c_in: 1,
        h: 8,
        w: 8,
        c_out: 3,
        kh: 3,
        kw: 3,
        sh: stride,
        sw: stride,
        ph: 0,
        pw: 0,
        dh: dil,
        dw: dil,
        h_out: 6,
        w_out: 6,
    }
}

fn pool(k: usize, stride: usize, pad: usize) -> PoolGeom {
    PoolGeom {
        planes: 6,
        h: 6,
        w: 6,
        kh: k,
        kw: k,
        sh: stride,
        sw: stride,
        ph: pad,
        pw: pad,
        h_out: 3,
        w_out: 3,
    }
}

#[test]
fn other_cases_keep_the_im2col_path() {
    let (g, p) = (geom(1, 1), pool(2, 2, 0));
    // 9 taps: AVX2 takes them pooled, not unpooled (the thin loops win).
    assert_eq!(applies::<f32>(&g, Some(&p)), Simd::best().is_some());
    assert!(!applies::<f64>(&g, Some(&p)));
    assert!(!applies::<f32>(&geom(2, 1), Some(&p)));
    assert!(!applies::<f32>(&geom(1, 2), Some(&p)));
    // Without pooling too (ReLU and bias are the kernels' choice).
    assert_eq!(applies::<f32>(&g, None), Simd::best() == Some(Simd::Avx512));
    assert!(!applies::<f64>(&g, None));
    assert!(!applies::<f32>(&geom(2, 1), None));
    assert!(!applies::<f32>(&geom(1, 2), None));
    assert!(!applies::<f32>(&g, Some(&pool(3, 2, 0))));
    assert!(!applies::<f32>(&g, Some(&pool(2, 1, 0))));
    assert!(!applies::<f32>(&g, Some(&pool(2, 2, 1))));
}

/// The direct kernels are square: any axis that differs falls back to im2col.
#[test]
fn rectangular_cases_keep_the_im2col_path() {
    let p = pool(2, 2, 0);
    let square = geom(1, 1);
    for g in [
        ConvGeom { kh: 1, ..square },
        ConvGeom { kw: 2, ..square },
        ConvGeom {
            ph: 1,
            h_out: 8,
            ..square
        },
        ConvGeom {
            sw: 2,
            w_out: 3,
            ..square
        },
        ConvGeom {
            dh: 2,
            h_out: 4,
            ..square
        },
    ] {
        assert!(!applies::<f32>(&g, Some(&p)), "{g:?}");
        assert!(!applies::<f32>(&g, None), "{g:?}");
    }
    for pg in [
        PoolGeom { kh: 1, ..p },
        PoolGeom {
            sw: 1,
            w_out: 5,
            ..p
        },
        PoolGeom {
            pw: 1,
            w_out: 4,
            ..p
        },
    ] {
        assert!(!applies::<f32>(&square, Some(&pg)), "{pg:?}");
    }
}

#[test]
fn polyphase_copy_puts_each_input_where_the_taps_read() {
    let g = ConvGeom {
        batch: 1,
        c_in: 2,
        h: 5,
        w: 7,
        c_out: 1,
        kh: 3,
        kw: 3,
        sh: 1,
        sw: 1,
        ph: 1,
        pw: 1,
        dh: 1,
        dw: 1,
        h_out: 5,
        w_out: 7,
    };
    let pg = PoolGeom {
        planes: 1,
        h: 5,
        w: 7,
        kh: 2,
        kw: 2,
        sh: 2,
        sw: 2,
        ph: 0,
        pw: 0,
        h_out: 2,
        w_out: 3,
    };
    let l = Layout::new(&g, &pg);
    let x: Vec<f32> = (0..2 * 5 * 7).map(|i| i as f32 + 1.0).collect();
    let mut xp = vec![0.0; l.len()];
    l.fill(&x, &mut xp);
    let offs = l.offsets();
    assert!(l.reads_end(&offs).is_some_and(|end| end <= xp.len()));
    for pi in 0..2 {
        for pj in 0..3 {
            for (t, taps) in offs.chunks(4).enumerate() {
                let (c, ki, kj) = (t / 9, t / 3 % 3, t % 3);
                for (ph, &off) in taps.iter().enumerate() {
                    let (r, s) = (2 * pi + ph / 2 + ki, 2 * pj + ph % 2 + kj);
                    let want = match (r.checked_sub(1), s.checked_sub(1)) {
                        (Some(r), Some(s)) if r < 5 && s < 7 => x[(c * 5 + r) * 7 + s],
                        _ => 0.0,
                    };
                    assert_eq!(xp[pi * l.bs + pj + off], want, "{pi} {pj} {t} {ph}");
                }
            }
        }
    }
}

#[test]
fn padded_copies_put_each_input_where_the_taps_read() {
    let g = ConvGeom {
        batch: 1,
        c_in: 2,
        h: 5,
        w: 19,
        c_out: 3,
        kh: 3,
        kw: 3,
        sh: 1,
        sw: 1,
        ph: 2,
        pw: 2,
        dh: 1,
        dw: 1,
        h_out: 7,
        w_out: 21,
    };
    // The forward reads x padded by `pad`; the input gradient reads gy padded by k - 1
    // from `pad` on: gx[i][j] takes gy[i + pad - ki][j + pad - kj] with the flipped tap.
    for (l, (h, w), (ho, wo), pad) in [
        (Plain::forward(&g), (5, 19), (7, 21), 2),
        (Plain::input_grad(&g), (7, 21), (5, 19), 0),
    ] {
        let x: Vec<f32> = (0..l.c_in * h * w).map(|i| i as f32 + 1.0).collect();
        let mut xp = vec![0.0; l.len()];
        l.fill(&x, &mut xp);
        let offs = l.offsets();
        assert!(l.reads_end(&offs).is_some_and(|end| end <= xp.len()));
        assert_eq!((l.ho, l.wo), (ho, wo));
        for i in 0..ho {
            for j in 0..wo {
                let base = l.base(i / 2 * 2, j / 16 * 16) + j % 16;
                for (t, rows) in offs.chunks(2).enumerate() {
                    let (c, ki, kj) = (t / 9, t / 3 % 3, t % 3);
                    let (r, s) = if pad == 2 {
                        ((i + ki).checked_sub(2), (j + kj).checked_sub(2))
                    } else {
                        ((i + 2 + ki).checked_sub(2), (j + 2 + kj).checked_sub(2))
                    };
                    let want = match (r, s) {
                        (Some(r), Some(s)) if r < h && s < w => x[(c * h + r) * w + s],
                        _ => 0.0,
                    };
                    assert_eq!(xp[base + rows[i % 2]], want, "{i} {j} {t}");
                }
            }
        }
    }
}

/// Every instruction set's kernels this CPU runs (AVX-512 and AVX2 where it has both)
/// against the im2col path (itself checked against naive loops), forward and gradients,
/// pooled and not, with few and many taps, one and several 16-lane blocks per row, and
/// channel counts that leave partial register blocks.
#[test]
fn each_instruction_set_matches_im2col() {
    use super::super::im2col;
    use super::super::{Argmax, Saved};
    use super::{backward, backward_plain, forward, forward_plain};
    let cases = [
        // (batch, c_in, c_out, h, w, k, pad)
        (2usize, 1usize, 7usize, 12usize, 37usize, 3usize, 0usize),
        (3, 3, 13, 9, 18, 3, 1),
        (2, 6, 5, 11, 11, 5, 2),
        (2, 17, 25, 8, 20, 3, 1),
        (1, 2, 3, 6, 6, 1, 0),
    ];
    let values = |n: usize, seed: usize| -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104729) % 1999) as f32 / 1999.0 - 0.5) * 2.0)
            .collect()
    };
    let close = |a: &[f32], b: &[f32], what: &str| {
        assert_eq!(a.len(), b.len(), "{what}");
        for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{what}[{i}]: {a} vs {b}"
            );
        }
    };
    for simd in Simd::all_available() {
        for &(batch, c_in, c_out, h, w, k, pad) in &cases {
            let (ho, wo) = (h + 2 * pad + 1 - k, w + 2 * pad + 1 - k);
            let g = ConvGeom {
                batch,
                c_in,
                h,
                w,
                c_out,
                kh: k,
                kw: k,
                sh: 1,
                sw: 1,
                ph: pad,
                pw: pad,
                dh: 1,
                dw: 1,
                h_out: ho,
                w_out: wo,
            };
            let what = format!("{simd:?} {g:?}");
            let x = values(batch * c_in * h * w, 1);
            let wt = values(c_out * c_in * k * k, 2);
            let bias = values(c_out, 3);
            let n = batch * c_out * ho * wo;
            let gy = values(n, 4);

            // Unpooled, ReLU: forward, then input, weight and bias gradients.
            let mut pos = vec![0u8; n];
            let y = forward_plain(simd, &g, &x, &wt, Some(&bias), true, &mut pos);
            let mut y_ref = vec![0f32; n];
            im2col::forward(&g, None, &x, &wt, Some(&bias), true, &mut y_ref, &mut []);
            close(&y, &y_ref, &format!("{what} y"));
            let mut gx = vec![0f32; x.len()];
            let (gw, gb) = backward_plain(simd, &g, &x, &wt, &pos, &gy, Some(&mut gx));
            let gy_relu: Vec<f32> = gy
                .iter()
                .zip(&y_ref)
                .map(|(&g, &y)| if y > 0.0 { g } else { 0.0 })
                .collect();
            let arg = Argmax::Plane(Vec::new());
            let saved = Saved {
                x: &x,
                w: &wt,
                arg: &arg,
                pool: None,
            };
            let mut gx_ref = vec![0f32; x.len()];
            let (gw_ref, gb_ref) = im2col::backward(&g, &saved, &gy_relu, Some(&mut gx_ref));
            close(&gx, &gx_ref, &format!("{what} grad x"));
            close(&gw, &gw_ref, &format!("{what} grad w"));
            close(&gb, &gb_ref, &format!("{what} grad b"));

            // Pooled by MaxPool2D(2), ReLU: forward, then weight and bias gradients.
            if ho < 2 || wo < 2 {
                continue;
            }
            let pg = PoolGeom {
                planes: batch * c_out,
                h: ho,
                w: wo,
                kh: 2,
                kw: 2,
                sh: 2,
                sw: 2,
                ph: 0,
                pw: 0,
                h_out: ho / 2,
                w_out: wo / 2,
            };
            let np = batch * c_out * pg.h_out * pg.w_out;
            let gq = values(np, 5);
            let (mut yp, mut arg) = (vec![0f32; np], vec![0u8; np]);
            forward(simd, &g, &pg, &x, &wt, Some(&bias), true, &mut yp, &mut arg);
            let (mut yp_ref, mut arg_ref) = (vec![0f32; np], vec![0u32; np]);
            im2col::forward(
                &g,
                Some(&pg),
                &x,
                &wt,
                Some(&bias),
                true,
                &mut yp_ref,
                &mut arg_ref,
            );
            close(&yp, &yp_ref, &format!("{what} pooled y"));
            let (gw, gb) = backward(simd, &g, &pg, &x, &arg, &gq);
            let arg_ref = Argmax::Plane(arg_ref);
            let saved = Saved {
                x: &x,
                w: &wt,
                arg: &arg_ref,
                pool: Some(&pg),
            };
            let (gw_ref, gb_ref) = im2col::backward(&g, &saved, &gq, None);
            close(&gw, &gw_ref, &format!("{what} pooled grad w"));
            close(&gb, &gb_ref, &format!("{what} pooled grad b"));
        }
    }
}
