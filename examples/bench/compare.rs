//! One process per model and framework, interleaved, and the table of their results.

use std::error::Error;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::models::{self, Data};
use crate::step::median;
use crate::{say, Args, CPU_ENV};

/// The PyTorch twin, next to this example's sources.
const TORCH_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_torch.py");

/// This process's peak resident memory in kB (`VmHWM`), where Linux reports it.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `--worker`: measures `model` here and prints one JSON line.
pub fn worker(args: &Args, model: &str) -> Result<(), Box<dyn Error>> {
    let data = match &args.mnist {
        Some(dir) => Data::Mnist(dir.clone()),
        None => Data::Synthetic { batches: 8 },
    };
    let m = models::run_model(model, &args.opts(), &data)?;
    let line = json!({
        "framework": "typenet",
        "model": m.model,
        "batch": m.batch,
        "threads": rayon::current_num_threads(),
        "cpu": std::env::var(CPU_ENV).unwrap_or_default(),
        "data": if args.mnist.is_some() { "mnist" } else { "synthetic" },
        "steps": m.steps,
        "train_ms": median(&m.train_runs),
        "train_runs": m.train_runs,
        "forward_loss_ms": m.split[0],
        "backward_ms": m.split[1],
        "update_ms": m.split[2],
        "fit_ms": m.fit_ms,
        "infer_steps": m.infer_steps,
        "infer_ms": median(&m.infer_runs),
        "infer_runs": m.infer_runs,
        "peak_rss_kb": peak_rss_kb(),
    });
    say!("{line}");
    Ok(())
}

/// Runs `cmd`, passing its stderr through, and parses the last JSON line of its stdout.
fn run_json(mut cmd: Command, what: &str) -> Result<Value, Box<dyn Error>> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({})", out.status).into());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("{what} printed no result line"))?;
    serde_json::from_str(line).map_err(|e| format!("{what} printed a bad result line: {e}").into())
}

fn common_flags(args: &Args, cmd: &mut Command, model: &str) {
    cmd.arg("--model").arg(model);
    cmd.arg("--warmup").arg(args.warmup.to_string());
    cmd.arg("--repeats").arg(args.repeats.to_string());
    cmd.arg("--repeat-ms").arg(args.repeat_ms.to_string());
    if let Some(steps) = args.steps {
        cmd.arg("--steps").arg(steps.to_string());
    }
}

fn typenet_run(args: &Args, model: &str) -> Result<Value, Box<dyn Error>> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--worker");
    common_flags(args, &mut cmd, model);
    if let Some(dir) = &args.mnist {
        cmd.arg("--mnist").arg(dir);
    }
    run_json(cmd, &format!("the typenet run of `{model}`"))
}

fn torch_run(args: &Args, model: &str) -> Result<Value, Box<dyn Error>> {
    let mut cmd = Command::new(&args.python);
    cmd.arg(TORCH_SCRIPT);
    common_flags(args, &mut cmd, model);
    run_json(cmd, &format!("the PyTorch run of `{model}`"))
}

fn python_missing(python: &Path) -> Option<String> {
    if python.exists() {
        return None;
    }
    Some(format!(
        "no PyTorch environment: `{}` does not exist; create it with \
         scripts/setup-bench-venv.sh (or pass --python PATH)",
        python.display()
    ))
}

/// The 1-minute load average (other work on the machine skews every number).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// Median and range of `key` over the runs.
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

impl Stat {
    fn of(runs: &[Value], key: &str) -> Self {
        let v: Vec<f64> = runs.iter().map(|r| num(r, key)).collect();
        Self {
            median: median(&v),
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// `12.3 (11.9-13.0)`, or just the median for one run.
    fn show(&self, scale: f64, digits: usize) -> String {
        let (m, lo, hi) = (self.median * scale, self.min * scale, self.max * scale);
        if !m.is_finite() {
            return "-".into();
        }
        if lo == hi {
            format!("{m:.digits$}")
        } else {
            format!("{m:.digits$} ({lo:.digits$}-{hi:.digits$})")
        }
    }
}

fn ms(s: &Stat) -> String {
    s.show(1.0, if s.median < 10.0 { 2 } else { 1 })
}

fn mb(s: &Stat) -> String {
    s.show(1.0 / 1024.0, 0)
}

fn geomean(v: &[f64]) -> f64 {
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

/// Runs every model (`--rounds` processes per framework, interleaved) and prints the table.
pub fn table(args: &Args, models: &[&str]) -> Result<(), Box<dyn Error>> {
    let missing = python_missing(&args.python);
    if args.vs_pytorch {
        if let Some(why) = &missing {
            return Err(why.clone().into());
        }
        if args.mnist.is_some() {
            return Err(
                "--mnist is typenet-only: leave it out with --vs-pytorch (both \
                        frameworks then train on the same synthetic data)"
                    .into(),
            );
        }
    }
    let rounds = args.rounds.unwrap_or(if args.vs_pytorch { 3 } else { 1 });
    let cpu = std::env::var(CPU_ENV).unwrap_or_else(|_| "unset".into());
    say!(
        "typenet{}: {} data, {rounds} process(es) per model{}, each {} warm-up steps then the \
         median of {} repeats; TYPENET_CPU={cpu}",
        if args.vs_pytorch { " vs PyTorch" } else { "" },
        if args.mnist.is_some() {
            "MNIST"
        } else {
            "synthetic"
        },
        if args.vs_pytorch {
            " and framework, interleaved"
        } else {
            ""
        },
        args.warmup,
        args.repeats,
    );
    let load_before = load();
    let mut results: Vec<(&str, Vec<Value>, Vec<Value>)> = Vec::new();
    for &model in models {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate who goes first, so drifts in the machine's speed hit both.
            if args.vs_pytorch && round % 2 == 1 {
                theirs.push(torch_run(args, model)?);
            }
            ours.push(typenet_run(args, model)?);
            if args.vs_pytorch && round % 2 == 0 {
                theirs.push(torch_run(args, model)?);
            }
        }
        if args.json {
            for v in ours.iter().chain(&theirs) {
                say!("{v}");
            }
        }
        results.push((model, ours, theirs));
    }
    say!(
        "1-minute load average before / after: {load_before} / {}",
        load()
    );
    if args.vs_pytorch {
        print_comparison(&results);
    } else {
        print_typenet(&results);
        match missing {
            Some(_) => say!(
                "PyTorch comparison: run scripts/setup-bench-venv.sh once, then add --vs-pytorch"
            ),
            None => say!("add --vs-pytorch for the same models in PyTorch"),
        }
    }
    Ok(())
}

fn print_typenet(results: &[(&str, Vec<Value>, Vec<Value>)]) {
    say!(
        "| model | batch | train ms/step | forward+loss / backward / update ms | fit's ms/step \
         (warm-up) | infer ms/batch | peak RSS MB |"
    );
    say!("| --- | --- | --- | --- | --- | --- | --- |");
    for (model, ours, _) in results {
        let part = |k| format!("{:.2}", Stat::of(ours, k).median);
        say!(
            "| {model} | {} | {} | {} / {} / {} | {} | {} | {} |",
            models::batch_size(model),
            ms(&Stat::of(ours, "train_ms")),
            part("forward_loss_ms"),
            part("backward_ms"),
            part("update_ms"),
            ms(&Stat::of(ours, "fit_ms")),
            ms(&Stat::of(ours, "infer_ms")),
            mb(&Stat::of(ours, "peak_rss_kb")),
        );
    }
}

fn print_comparison(results: &[(&str, Vec<Value>, Vec<Value>)]) {
    say!(
        "| model | typenet train ms/step | PyTorch train ms/step | ratio | typenet infer \
         ms/batch | PyTorch infer ms/batch | ratio | typenet peak RSS MB | PyTorch peak RSS MB |"
    );
    say!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let (mut train_ratios, mut infer_ratios) = (Vec::new(), Vec::new());
    for (model, ours, theirs) in results {
        let (t_ours, t_theirs) = (Stat::of(ours, "train_ms"), Stat::of(theirs, "train_ms"));
        let (i_ours, i_theirs) = (Stat::of(ours, "infer_ms"), Stat::of(theirs, "infer_ms"));
        let train_ratio = t_ours.median / t_theirs.median;
        let infer_ratio = i_ours.median / i_theirs.median;
        train_ratios.push(train_ratio);
        infer_ratios.push(infer_ratio);
        say!(
            "| {model} | {} | {} | {train_ratio:.2} | {} | {} | {infer_ratio:.2} | {} | {} |",
            ms(&t_ours),
            ms(&t_theirs),
            ms(&i_ours),
            ms(&i_theirs),
            mb(&Stat::of(ours, "peak_rss_kb")),
            mb(&Stat::of(theirs, "peak_rss_kb")),
        );
    }
    if results.len() > 1 {
        say!(
            "| geometric mean | | | {:.2} | | | {:.2} | | |",
            geomean(&train_ratios),
            geomean(&infer_ratios)
        );
    }
    if let Some(v) = results.first().and_then(|r| r.2.first()) {
        say!(
            "PyTorch {} with {} threads; `import torch` alone takes {:.0} MB of its RSS. \
             ratio = typenet / PyTorch (below 1: typenet faster); medians over the processes, \
             range in brackets.",
            v.get("torch").and_then(Value::as_str).unwrap_or("?"),
            num(v, "threads"),
            num(v, "import_rss_kb") / 1024.0
        );
    }
}
