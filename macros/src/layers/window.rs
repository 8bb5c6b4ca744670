//! The shape rule of a window sliding over 1 or 2 spatial axes, shared by convolutions and
//! pooling: `out = (n + 2p - d(k-1) - 1) / s + 1`, and `padding = N | same | valid`.

use quote::quote;
use syn::Expr;

use crate::ctxt::Ctxt;
use crate::flow::Flow;
use crate::formula::out_size;
use crate::parse::LayerAst;
use crate::paths::tn;
use crate::shape::Size;

/// A window's kernel (or window) size, stride, padding and dilation.
pub struct Window<'a> {
    pub k: &'a Size,
    pub s: &'a Size,
    pub p: &'a Size,
    pub d: &'a Size,
}

/// `padding = N | same | valid` of a layer sliding over `axes` axes; `same` only where
/// `same_ok` (convolutions), and then only for odd kernels with stride 1: `p = d(k-1)/2`.
pub fn padding(
    cx: &mut Ctxt,
    layer: &LayerAst,
    e: Option<&Expr>,
    (k, s, d): (&Size, &Size, &Size),
    (same_ok, axes): (bool, usize),
) -> Option<Size> {
    let Some(e) = e else {
        return Some(Size::lit(0));
    };
    let word = match e {
        Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
        _ => None,
    };
    match word.as_deref() {
        Some("valid") => Some(Size::lit(0)),
        Some("same") => {
            if !same_ok {
                cx.err(
                    e,
                    format!(
                        "{}: `padding = same` is for Conv{axes}D; give pooling a number",
                        layer.text
                    ),
                );
                return None;
            }
            match (k.val, s.val) {
                (Some(kv), _) if kv % 2 == 0 => {
                    cx.err(e, format!("{}: `padding = same` needs an odd kernel, but the kernel is {}\nhelp: use an odd kernel or a number for padding", layer.text, vec![kv.to_string(); axes].join(" x ")));
                    return None;
                }
                (_, Some(sv)) if sv != 1 => {
                    cx.err(e, format!("{}: `padding = same` needs stride 1, but the stride is {sv}\nhelp: use a number for padding", layer.text));
                    return None;
                }
                (Some(_), Some(_)) => {}
                _ => {
                    let (ke, se) = (&k.expr, &s.expr);
                    cx.check(
                        layer.span(),
                        quote!(#ke % 2 == 1 && #se == 1),
                        format!(
                            "{}: `padding = same` needs an odd kernel and stride 1",
                            layer.text
                        ),
                    );
                }
            }
            Some(same_pad(k, d))
        }
        _ => cx.size(e, "the padding"),
    }
}

/// `padding = same`: `d(k-1)/2` on each side.
fn same_pad(k: &Size, d: &Size) -> Size {
    if let (Some(kv), Some(dv)) = (k.val, d.val) {
        return Size::lit(dv * (kv.saturating_sub(1)) / 2);
    }
    let ke = &k.expr;
    let km1 = Size::symbolic(quote!(#ke - 1), format!("{} - 1", k.text));
    let e = d.mul(&km1).expr;
    Size::symbolic(quote!(#e / 2), format!("{} * ({} - 1) / 2", d.text, k.text))
}

/// The output sizes of window `win` sliding over `axes` (1 or 2 of them). A window that
/// does not fit is an error at the layer, once, naming both sizes; with constants it is a
/// const assertion.
pub fn slide(
    cx: &mut Ctxt,
    flow: &mut Flow,
    layer: &LayerAst,
    what: &str,
    axes: &[&Size],
    win: &Window<'_>,
) -> Vec<Size> {
    let (k, s, p, d) = (win.k, win.s, win.p, win.d);
    let mut out = Vec::new();
    let mut reported = false;
    for n in axes {
        match (n.val, k.val, s.val, p.val, d.val) {
            (Some(nv), Some(kv), Some(sv), Some(pv), Some(dv)) => {
                match out_size(nv, kv, sv, pv, dv) {
                    Some(o) => out.push(Size::lit(o)),
                    None => {
                        if !reported && !flow.poisoned {
                            let msg = too_large(layer, what, axes, (kv, pv, dv), &flow.gives());
                            cx.err(&layer.tokens, msg);
                        }
                        reported = true;
                        out.push(Size::lit(1));
                    }
                }
            }
            _ => {
                let tn = tn();
                let (ne, ke, se, pe, de) = (&n.expr, &k.expr, &s.expr, &p.expr, &d.expr);
                let args = quote!(#ne, #ke, #se, #pe, #de);
                cx.check(
                    layer.span(),
                    quote!(#tn::out_size(#args).is_some()),
                    format!(
                        "{}: the {what} is larger than its (padded) input, or a size is zero",
                        layer.text
                    ),
                );
                out.push(Size::symbolic(
                    quote!(#tn::out_dim(#args)),
                    format!("({} after {})", n.text, layer.text),
                ));
            }
        }
    }
    if reported {
        flow.poisoned = true;
    }
    out
}

/// `Conv2D(32, 5): its kernel is 5 x 5, larger than its 3 x 3 input (...)`; over one axis,
/// `Conv1D(8, 7): its kernel of 7 is longer than its input of length 5 (...)`.
fn too_large(
    layer: &LayerAst,
    what: &str,
    axes: &[&Size],
    (kv, pv, dv): (usize, usize, usize),
    gives: &str,
) -> String {
    let span = dv * (kv - 1) + 1;
    if let [n] = axes {
        let win = match dv {
            1 => format!("its {what} of {kv} is"),
            _ => format!("its {what} of {kv} with dilation {dv} spans {span} (= d(k-1)+1),"),
        };
        let input = match n.val {
            Some(v) if pv > 0 => format!("{} ({} with padding {pv})", v + 2 * pv, n.text),
            _ => n.text.clone(),
        };
        return format!(
            "{}: {win} longer than its input of length {input} ({gives})",
            layer.text
        );
    }
    let x = |v: usize| vec![v.to_string(); axes.len()].join(" x ");
    let win = if dv > 1 {
        format!(
            "its {} {what} with dilation {dv} spans {} (= d(k-1)+1)",
            x(kv),
            x(span)
        )
    } else {
        format!("its {what} is {}", x(kv))
    };
    let plain = axes
        .iter()
        .map(|a| a.text.as_str())
        .collect::<Vec<_>>()
        .join(" x ");
    let vals: Option<Vec<usize>> = axes.iter().map(|a| a.val).collect();
    let input = match vals {
        Some(v) if pv > 0 => {
            let padded: Vec<String> = v.iter().map(|n| (n + 2 * pv).to_string()).collect();
            format!("{}, {plain} with padding {pv}", padded.join(" x "))
        }
        _ => plain,
    };
    format!(
        "{}: {win}, larger than its {input} input ({gives})",
        layer.text
    )
}
