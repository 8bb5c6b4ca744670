//! `Concat { [LAYERS], [LAYERS], ... }` and `Add { ... }`: branches that all read the
//! incoming tensor, joined along channels (features for flat inputs) or summed. A branch
//! that differs is reported at its brackets, with both shapes.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use super::{Cx, Kind};
use crate::cast::cast;
use crate::parse::{BranchAst, LayerAst};
use crate::paths::{dfdx, tn};
use crate::plan::{Field, Fused, Layer, OnnxStep, Plan, Planned, Step, Structs};
use crate::shape::{Rank, Shape, Size};

pub const KINDS: &[Kind] = &[
    Kind {
        name: "Concat",
        stem: "concat",
        braces: true,
        rule: |cx, layer| merge(cx, layer, Join::Concat),
    },
    Kind {
        name: "Add",
        stem: "add",
        braces: true,
        rule: |cx, layer| merge(cx, layer, Join::Add),
    },
];

pub const ALIASES: &[(&str, &str)] = &[("Concatenate", "Concat")];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Join {
    Concat,
    Add,
}

impl Join {
    fn name(self) -> &'static str {
        match self {
            Join::Concat => "Concat",
            Join::Add => "Add",
        }
    }
}

fn merge(cx: &mut Cx<'_>, layer: &LayerAst, join: Join) -> Option<Box<dyn Layer>> {
    let name = join.name();
    let Some(branches) = &layer.branches else {
        cx.ctxt.err(
            &layer.tokens,
            format!("{name} takes its branches in brackets: {name} {{ [Conv2D(16, 1)], [Conv2D(16, 3, padding = same)] }}"),
        );
        return None;
    };
    if branches.len() < 2 {
        let msg = format!(
            "{name} needs at least two branches, found {}\nhelp: write each branch in brackets, e.g. {name} {{ [Conv2D(16, 1)], [] }}",
            branches.len()
        );
        cx.ctxt.err(&layer.tokens, msg);
        return None;
    }
    let plans: Vec<Plan> = branches
        .iter()
        .map(|b| (cx.inner)(cx.ctxt, &b.layers, cx.flow))
        .collect();
    // After an error inside a branch its shape means nothing: no checks against it.
    let quiet = cx.flow.poisoned || plans.iter().any(|p| p.poisoned);
    let outs: Vec<Shape> = plans.iter().map(|p| p.output.clone()).collect();
    let joined = match join {
        Join::Concat => concat(cx, layer, branches, &outs, quiet),
        Join::Add => add(cx, branches, &outs, quiet),
    };
    let (out, casts) = match joined {
        Some(j) => j,
        None => {
            cx.flow.poisoned = true;
            (outs[0].clone(), vec![None; outs.len()])
        }
    };
    let layers = plans
        .into_iter()
        .zip(branches)
        .zip(&casts)
        .enumerate()
        .map(|(i, ((plan, b), to))| Planned {
            field: format_ident!("branch_{}", i, span = b.span),
            kind: "Branch".to_string(),
            span: b.span,
            output: to.clone().unwrap_or_else(|| plan.output.clone()),
            layer: Box::new(Branch(plan)),
            cast_in: None,
            act: None,
        })
        .collect();
    let branches = Plan {
        layers,
        output: out.clone(),
        poisoned: quiet,
    };
    cx.flow.set(out.clone(), layer);
    cx.flow.poisoned |= quiet;
    Some(Box::new(Merge {
        join,
        branches,
        casts,
        spans: layer.branches.iter().flatten().map(|b| b.span).collect(),
    }))
}

/// What each branch gives as `(C, ...)` sizes of `rank`: a nested network's output is read
/// through a trait bound (the cast to it checks the rank at compile time).
fn sized(out: &Shape, rank: Rank) -> (Vec<Size>, Option<Shape>) {
    match out {
        Shape::Opaque { ty, .. } => {
            let s = Shape::view_as(ty, rank);
            (s.clone(), Some(Shape::Sized(s)))
        }
        Shape::Sized(s) => (s.clone(), None),
    }
}

type Joined = (Shape, Vec<Option<Shape>>);

fn concat(
    cx: &mut Cx<'_>,
    layer: &LayerAst,
    branches: &[BranchAst],
    outs: &[Shape],
    quiet: bool,
) -> Option<Joined> {
    let rank = outs
        .iter()
        .find_map(Shape::rank)
        .or_else(|| cx.flow.shape.rank());
    let Some(rank) = rank else {
        let msg = "Concat cannot tell the rank of its branches' outputs (each ends in a nested network and so does its input)\nhelp: end one branch with a layer of known output, e.g. Flatten";
        cx.ctxt.err(&layer.tokens, msg);
        return None;
    };
    let (first, c0) = sized(&outs[0], rank);
    let mut casts = vec![c0];
    let mut channels = first[0].clone();
    let mut ok = true;
    let what = match rank {
        Rank::Flat => "",
        Rank::Seq => "the length (L)",
        Rank::Image => "the height and width (H, W)",
    };
    for (i, (b, out)) in branches.iter().zip(outs).enumerate().skip(1) {
        let got_rank = out.rank().unwrap_or(rank);
        if got_rank != rank {
            if !quiet {
                let msg = format!(
                    "Concat: branch {i} gives {}, which is {}, but branch 0 gives {}, which is {}\nhelp: a Concat joins branches of one rank; end every branch with Flatten to join flat vectors",
                    out.text(),
                    got_rank.noun(),
                    outs[0].text(),
                    rank.noun()
                );
                cx.ctxt.err(&b.tokens, msg);
            }
            ok = false;
            continue;
        }
        let (sizes, c) = sized(out, rank);
        casts.push(c);
        let rest = sizes.iter().zip(&first).skip(1);
        let known = rest
            .clone()
            .all(|(a, b)| a.val.is_some() && b.val.is_some());
        let (si, s0) = (Shape::Sized(sizes.clone()), Shape::Sized(first.clone()));
        let msg = format!(
            "Concat: branch {i} gives {}, but branch 0 gives {}; the branches of a Concat must agree on {what}\nhelp: give the branches' convolutions and poolings the same stride, and padding = same",
            si.text(),
            s0.text()
        );
        if known {
            if rest.clone().any(|(a, b)| a.val != b.val) {
                if !quiet {
                    cx.ctxt.err(&b.tokens, msg);
                }
                ok = false;
            }
        } else {
            let conds = rest.map(|(a, b)| {
                let (a, b) = (&a.expr, &b.expr);
                quote!(#a == #b)
            });
            cx.ctxt.check(b.span, quote!(true #(&& #conds)*), msg);
        }
        channels = channels.add(&sizes[0]);
    }
    if !ok {
        return None;
    }
    let mut shape = first;
    shape[0] = channels;
    Some((Shape::Sized(shape), casts))
}

fn add(cx: &mut Cx<'_>, branches: &[BranchAst], outs: &[Shape], quiet: bool) -> Option<Joined> {
    let mut casts = vec![None];
    let mut ok = true;
    for (i, (b, out)) in branches.iter().zip(outs).enumerate().skip(1) {
        let ranks_differ = matches!((out.rank(), outs[0].rank()), (Some(a), Some(b)) if a != b);
        if ranks_differ || out.same_as(&outs[0]) == Some(false) {
            if !quiet {
                let msg = format!(
                    "Add: branch {i} gives {}, but branch 0 gives {}; the branches of an Add must all have the same shape",
                    out.text(),
                    outs[0].text()
                );
                cx.ctxt.err(&b.tokens, msg);
            }
            ok = false;
        }
        // Sizes the macro cannot compare: a cast checked at compile time, at the branch.
        let same = out.same_as(&outs[0]) == Some(true);
        casts.push((!same).then(|| outs[0].clone()));
    }
    ok.then(|| (outs[0].clone(), casts))
}

struct Merge {
    join: Join,
    /// One layer per branch (`branch_0`, ...), each holding the branch's layers.
    branches: Plan,
    /// Per branch: the shape its output is cast to before the join.
    casts: Vec<Option<Shape>>,
    spans: Vec<Span>,
}

impl Layer for Merge {
    fn field(&self, field: &Ident, _: Span, structs: &mut dyn Structs) -> Field {
        Field {
            ty: structs.inner_struct(&self.branches, field),
            init: None,
        }
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (dfdx, tn, acc, f, span) = (dfdx(), tn(), step.acc, step.field, step.span);
        let inner_acc = quote!(#acc.#f);
        let n = self.branches.layers.len();
        let fused = Fused::default();
        let mut body = TokenStream::new();
        let mut vars = Vec::new();
        for (i, b) in self.branches.layers.iter().enumerate() {
            let var = format_ident!("__branch{}", i, span = span);
            let bstep = Step {
                acc: &inner_acc,
                field: &b.field,
                span: b.span,
                pass: step.pass.inner(),
                input: step.input,
                output: &b.output,
                fused: &fused,
                input_grad: true,
                inner: step.inner,
            };
            let run = b.layer.forward(&bstep);
            let plan_out = &b
                .layer
                .inner()
                .map_or(b.output.clone(), |p| p.output.clone());
            let back = match &self.casts[i] {
                Some(to) => cast(plan_out, to, self.spans[i]),
                None => quote!(),
            };
            // The last branch takes the input with its tape; the others start empty tapes
            // on the same tensor, merged back by the join.
            let start = if i + 1 == n {
                quote_spanned!(span=> let x = input;)
            } else {
                quote_spanned!(span=> let x = #dfdx::tensor::WithEmptyTape::with_empty_tape(&input);)
            };
            body.extend(quote_spanned! {span=>
                let #var = { #start #run #back x };
            });
            vars.push(var);
        }
        let join = match self.join {
            Join::Add => quote_spanned!(span=> #tn::sum(::std::vec![#(#vars),*])?),
            Join::Concat => {
                let mut acc_shape = self.branches.layers[0].output.clone();
                let mut x = {
                    let v = &vars[0];
                    quote!(#v)
                };
                for (i, b) in self.branches.layers.iter().enumerate().skip(1) {
                    let mut sizes = acc_shape.sizes().to_vec();
                    sizes[0] = sizes[0].add(&b.output.sizes()[0]);
                    let to = Shape::Sized(sizes);
                    let (sa, sb, so) =
                        (acc_shape.sample_ty(), b.output.sample_ty(), to.sample_ty());
                    let v = &vars[i];
                    x = quote_spanned!(span=> #tn::concat::<#so, #sa, #sb, __B, __E, __D, __T>(#x, #v)?);
                    acc_shape = to;
                }
                x
            }
        };
        quote_spanned! {span=>
            let x = {
                let input = x;
                #body
                #join
            };
        }
    }

    fn inner(&self) -> Option<&Plan> {
        Some(&self.branches)
    }

    /// Each branch from the merge's input, then one `Sum` or `Concat` (axis 1) of their
    /// outputs; the casts between branches change no values.
    fn onnx(&self, step: &OnnxStep<'_>) -> TokenStream {
        let (acc, f) = (step.acc, step.field);
        let branches = self.branches.layers.iter().filter_map(|b| {
            let bf = &b.field;
            let body = (step.inner)(b.layer.inner()?, &quote!(#acc.#f.#bf));
            Some(quote! {
                __g.set_current(__input.clone());
                #body
                __outs.push(__g.current());
            })
        });
        let op = match self.join {
            Join::Add => "Sum",
            Join::Concat => "Concat",
        };
        quote! {{
            let __input = __g.current();
            let mut __outs = ::std::vec::Vec::new();
            #(#branches)*
            __g.join(#op, &__outs);
        }}
    }
}

/// One branch: its layers' struct, and their steps from the merge's input.
struct Branch(Plan);

impl Layer for Branch {
    fn field(&self, field: &Ident, _: Span, structs: &mut dyn Structs) -> Field {
        Field {
            ty: structs.inner_struct(&self.0, field),
            init: None,
        }
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (acc, f) = (step.acc, step.field);
        (step.inner)(&self.0, &quote!(#acc.#f), step.input, step.pass)
    }

    fn inner(&self) -> Option<&Plan> {
        Some(&self.0)
    }
}
