//! The forward pass: one block of statements per layer, each spanned at its layer so a type
//! error lands there.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};

use crate::expand::dfdx;
use crate::plan::{Act, Op, Plan};
use crate::shape::Shape;

pub fn act_unit(a: Act) -> TokenStream {
    let dfdx = dfdx();
    match a {
        Act::ReLU => quote!(#dfdx::nn::modules::ReLU),
        Act::Sigmoid => quote!(#dfdx::nn::modules::Sigmoid),
        Act::Tanh => quote!(#dfdx::nn::modules::Tanh),
        Act::Gelu => quote!(#dfdx::nn::modules::FastGeLU),
        Act::Softmax => quote!(#dfdx::nn::modules::Softmax),
    }
}

pub fn act_step(a: Act, span: Span) -> TokenStream {
    let dfdx = dfdx();
    let unit = act_unit(a);
    quote_spanned!(span=> let x = #dfdx::nn::Module::try_forward(&#unit, x)?;)
}

/// `let x = <From as SameShape<To>>::cast(x);`, spanned where a mismatch should point.
pub fn cast(from: &Shape, to: &Shape, span: Span) -> TokenStream {
    // Every token at the layer, or rustc blames the whole macro call.
    let stmt = match (from, to) {
        (Shape::Flat(b), Shape::Flat(a)) => {
            let (a, b) = (a.arg(), b.arg());
            quote!(let x = ::typenet::__private::flat_cast::<#a, #b, __B, __E, __D, __T>(x)?;)
        }
        (Shape::Image(c2, h2, w2), Shape::Image(c, h, w)) => {
            let d = [c, h, w, c2, h2, w2].map(|s| s.arg());
            quote!(let x = ::typenet::__private::image_cast::<#(#d,)* __B, __E, __D, __T>(x)?;)
        }
        _ => {
            let (f, t) = (from.sample_ty(), to.sample_ty());
            quote!(let x = <#f as ::typenet::__private::SameShape<#t>>::cast::<__B, __E, __D, __T>(x);)
        }
    };
    respan(stmt, span)
}

/// Whether the token was written by the user (a constant's or a network's name): it keeps
/// its own span, so an error about it is reported there once.
fn from_user(t: &TokenTree) -> bool {
    matches!(t, TokenTree::Ident(_)) && t.span().source_text().is_some_and(|s| s == t.to_string())
}

fn respan(ts: TokenStream, span: Span) -> TokenStream {
    ts.into_iter()
        .map(|mut t| {
            if let TokenTree::Group(g) = &t {
                let mut ng = Group::new(g.delimiter(), respan(g.stream(), span));
                ng.set_span(span);
                t = TokenTree::Group(ng);
            } else if !from_user(&t) {
                t.set_span(span);
            }
            t
        })
        .collect()
}

/// The index of a `MaxPool2D` that runs fused into the `Conv2D` at `i` (with its ReLU):
/// `Conv2D, ReLU, MaxPool2D` or `Conv2D(.., activation = relu), MaxPool2D`.
pub fn fused_pool(plan: &Plan, i: usize) -> Option<usize> {
    let conv = plan.layers.get(i)?;
    if !matches!(
        conv.op,
        Op::Conv {
            fuse_relu: true,
            ..
        }
    ) {
        return None;
    }
    let j = if conv.act == Some(Act::ReLU) {
        i + 1
    } else {
        i + 2
    };
    let pool = plan.layers.get(j)?;
    let plain = pool.cast_in.is_none() && pool.act.is_none();
    (plain && matches!(pool.op, Op::Pool { max: true, .. })).then_some(j)
}

/// The index of a `ReLU` layer that runs fused into the `Dense` at `i`.
fn fused_relu(plan: &Plan, i: usize) -> Option<usize> {
    let dense = plan.layers.get(i)?;
    let next = plan.layers.get(i + 1)?;
    let relu = matches!(
        next.op,
        Op::Act {
            act: Act::ReLU,
            skip: false
        }
    );
    (dense.act.is_none() && relu && next.cast_in.is_none() && next.act.is_none()).then_some(i + 1)
}

/// A `Flatten` and `Dense` (with a fused `ReLU`) right after a convolution block.
struct DenseAfter {
    flatten: usize,
    dense: usize,
    relu: Option<usize>,
}

/// The `Flatten, Dense` that the convolution block ending at layer `end` flows into, when
/// they can run as one op with it: the `Dense` has no activation but ReLU.
fn dense_after(plan: &Plan, end: usize) -> Option<DenseAfter> {
    let flatten = end + 1;
    let f = plan.layers.get(flatten)?;
    let dense = plan.layers.get(flatten + 1)?;
    let plain = f.cast_in.is_none() && matches!(f.op, Op::Flatten) && flatten_fuses(plan, flatten);
    let act_ok = matches!(dense.act, None | Some(Act::ReLU));
    (plain && act_ok).then(|| DenseAfter {
        flatten,
        dense: flatten + 1,
        relu: if dense.act.is_none() {
            fused_relu(plan, flatten + 1)
        } else {
            None
        },
    })
}

/// Whether the `Flatten` at `i` can be left to the `Dense` after it.
fn flatten_fuses(plan: &Plan, i: usize) -> bool {
    let flatten = &plan.layers[i];
    plan.layers.get(i + 1).is_some_and(|d| {
        flatten.act.is_none() && d.cast_in.is_none() && matches!(d.op, Op::Dense { .. })
    })
}

/// The layer that receives the network's input and can skip its gradient: a first
/// `Conv2D` or `Dense`, or a `Dense` right after a first `Flatten` that it absorbs.
pub fn input_layer(plan: &Plan) -> Option<usize> {
    let first = plan.layers.first()?;
    if first.cast_in.is_some() {
        return None;
    }
    match first.op {
        Op::Conv { .. } | Op::Dense { .. } => Some(0),
        Op::Flatten if first.act.is_none() => {
            let next = plan.layers.get(1)?;
            (next.cast_in.is_none() && matches!(next.op, Op::Dense { .. })).then_some(1)
        }
        _ => None,
    }
}

/// The forward statements of a layer list; `acc` reaches the struct holding its fields.
/// `input_grad: false` lets the [`input_layer`] skip its input's gradient (what `fit` uses).
pub fn steps(
    plan: &Plan,
    input: &Shape,
    acc: &TokenStream,
    train: bool,
    skip_final_softmax: bool,
    input_grad: bool,
) -> TokenStream {
    let dfdx = dfdx();
    let mut cur = input.clone();
    let mut out = TokenStream::new();
    let n = plan.layers.len();
    // Layers already run inside one before them (MaxPool2D in Conv2D, ReLU in Dense, ...).
    let mut fused_away: Vec<usize> = Vec::new();
    for (i, l) in plan.layers.iter().enumerate() {
        let span = l.span;
        let f = &l.field;
        if fused_away.contains(&i) {
            cur = l.output.clone();
            continue;
        }
        if let Some(to) = &l.cast_in {
            out.extend(cast(&cur, to, span));
            cur = to.clone();
        }
        let out_ty = l.output.tensor_ty();
        let realize = quote_spanned!(span=> let x: #out_ty = ::typenet::__private::realize(x)?;);
        let last_softmax = skip_final_softmax && i + 1 == n;
        let step = match &l.op {
            Op::Conv { fuse_relu, .. } => {
                let pool = fused_pool(plan, i);
                let ig = input_grad || input_layer(plan) != Some(i);
                if pool.is_none() && ig {
                    let call = if *fuse_relu {
                        quote_spanned!(span=> #acc.#f.try_forward_relu(x)?)
                    } else {
                        quote_spanned!(span=> #dfdx::nn::Module::try_forward(&#acc.#f, x)?)
                    };
                    quote_spanned!(span=> let x = #call; #realize)
                } else {
                    let (max_pool, out_ty) = match pool.map(|j| &plan.layers[j]) {
                        Some(p) => {
                            let Op::Pool { k, s, p: pad, .. } = &p.op else {
                                unreachable!("fused_pool returns a pooling layer")
                            };
                            let (k, s, pad) = (&k.expr, &s.expr, &pad.expr);
                            let mp = quote_spanned! {span=>
                                ::core::option::Option::Some(::typenet::__private::Pool2DParams { window: #k, stride: #s, padding: #pad })
                            };
                            (mp, p.output.tensor_ty())
                        }
                        None => (quote!(::core::option::Option::None), out_ty),
                    };
                    fused_away.extend(pool);
                    let fused = quote_spanned! {span=>
                        ::typenet::layers::Fused {
                            relu: #fuse_relu,
                            max_pool: #max_pool,
                            input_grad: #ig,
                        }
                    };
                    match pool.and_then(|j| dense_after(plan, j)) {
                        Some(chain) => {
                            let d = &plan.layers[chain.dense];
                            let (df, relu) = (&d.field, chain.relu.is_some() || d.act.is_some());
                            let out_ty = d.output.tensor_ty();
                            fused_away.extend([chain.flatten, chain.dense]);
                            fused_away.extend(chain.relu);
                            quote_spanned! {span=>
                                let x: #out_ty = #acc.#f.try_forward_dense(
                                    x,
                                    #fused,
                                    ::typenet::__private::DenseLayer::weight(&#acc.#df),
                                    ::typenet::__private::DenseLayer::bias(&#acc.#df),
                                    ::typenet::__private::DenseParams { relu: #relu, input_grad: true },
                                )?;
                            }
                        }
                        None => quote_spanned! {span=>
                            let x = #acc.#f.try_forward_fused(x, #fused)?;
                            let x: #out_ty = ::typenet::__private::realize(x)?;
                        },
                    }
                }
            }
            Op::Pool { .. } => {
                quote_spanned!(span=> let x = #dfdx::nn::Module::try_forward(&#acc.#f, x)?; #realize)
            }
            Op::Dense { .. } => {
                let relu = l.act == Some(Act::ReLU) || {
                    let r = fused_relu(plan, i);
                    fused_away.extend(r);
                    r.is_some()
                };
                let ig = input_grad || input_layer(plan) != Some(i);
                quote_spanned! {span=>
                    let b = #dfdx::shapes::HasShape::shape(&x).0;
                    let x: #out_ty = ::typenet::__private::dense(&#acc.#f, x, b, ::typenet::__private::DenseParams {
                        relu: #relu,
                        input_grad: #ig,
                    })?;
                }
            }
            Op::GlobalPool { .. } | Op::LayerNorm(_) | Op::LeakyReLU { .. } => {
                quote_spanned!(span=> let x: #out_ty = #dfdx::nn::Module::try_forward(&#acc.#f, x)?;)
            }
            Op::Flatten => match &cur {
                // A Dense right after reads the image batch as flat itself (no copy, and
                // no reshape in the backward pass).
                Shape::Image(..) if flatten_fuses(plan, i) => quote!(),
                Shape::Image(..) => {
                    quote_spanned!(span=> let x = #dfdx::nn::Module::try_forward(&#acc.#f, x)?; #realize)
                }
                Shape::Flat(_) => quote!(),
                Shape::Opaque { ty, .. } => quote_spanned! {span=>
                    let b = <#ty as ::typenet::SampleShape>::batch_of::<__B>(#dfdx::shapes::HasShape::shape(&x));
                    let x: #out_ty = #dfdx::tensor_ops::ReshapeTo::try_reshape_like(x, &(b, #dfdx::shapes::Const))?;
                },
            },
            Op::Act { act, skip } => {
                if *skip || (last_softmax && *act == Act::Softmax) {
                    quote!()
                } else {
                    act_step(*act, span)
                }
            }
            Op::Dropout { .. } => {
                if train {
                    quote_spanned!(span=> let x = x.try_dropout(#acc.#f.p)?;)
                } else {
                    quote!()
                }
            }
            Op::BatchNorm2D(_) | Op::BatchNorm1D(_) => {
                let func = match (&l.op, train) {
                    (Op::BatchNorm2D(_), false) => quote!(batch_norm2d),
                    (Op::BatchNorm2D(_), true) => quote!(batch_norm2d_train),
                    (_, false) => quote!(batch_norm1d),
                    (_, true) => quote!(batch_norm1d_train),
                };
                let r = if train { quote!(&mut) } else { quote!(&) };
                quote_spanned!(span=> let x = ::typenet::__private::#func(#r #acc.#f, x)?;)
            }
            Op::Residual(inner) => {
                let inner_acc = quote!(#acc.#f);
                let body = steps(inner, &cur, &inner_acc, train, false, true);
                let back = if inner.output.same_as(&cur) == Some(true) {
                    quote!()
                } else {
                    cast(&inner.output, &cur, span)
                };
                quote_spanned! {span=>
                    let x = {
                        let input = x;
                        let x = #dfdx::tensor::WithEmptyTape::with_empty_tape(&input);
                        #body
                        #back
                        #dfdx::tensor_ops::TryAdd::try_add(x, input)?
                    };
                }
            }
            Op::Nested(path) => {
                let to = Shape::Opaque {
                    ty: quote_spanned!(span=> <#path as ::typenet::NetworkSpec>::Input),
                    dims: quote!(),
                    name: String::new(),
                };
                let c = cast(&cur, &to, span);
                let call = if train {
                    quote_spanned!(span=> ::typenet::Network::<__E, __D>::try_forward_batch_mut(&mut #acc.#f, x)?)
                } else {
                    quote_spanned!(span=> ::typenet::Network::<__E, __D>::try_forward_batch(&#acc.#f, x)?)
                };
                quote_spanned!(span=> #c let x = #call;)
            }
        };
        out.extend(step);
        if let Some(a) = l.act {
            let fused = matches!(
                l.op,
                Op::Conv {
                    fuse_relu: true,
                    ..
                } | Op::Dense { .. }
            ) && a == Act::ReLU;
            let final_softmax = last_softmax && a == Act::Softmax;
            if !fused && !final_softmax {
                out.extend(act_step(a, span));
            }
        }
        cur = l.output.clone();
    }
    out
}
