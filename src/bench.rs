//! `bertbench bench`: training and inference throughput of a model on real data, with the
//! batching a run uses (dynamic padding, the data's own lengths). Reports what `train` reports
//! in `summary.json`, so the two compare directly.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::config::HeadKind;
use crate::data::batch::Batcher;
use crate::data::{Columns, Encoded, Encoding, LabelSet, load_examples};
use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::eval::multilabel::Threshold;
use crate::model::census::{self, Census};
use crate::model::checkpoint::{Classifier, HeadSpec};
use crate::model::dropout::Dropout;
use crate::model::gemm::Kernel;
use crate::model::heads::Freeze;
use crate::model::params::sorted_vars;
use crate::model::precision::Precision;
use crate::model::simd::Isa;
use crate::model::source;
use crate::train::event::GpuMemory;
use crate::train::lifecycle::{device_from, gpu_memory};
use crate::train::optim::AdamW;
use crate::train::step::{Accumulation, StepSettings, optimizer_step};

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub model: String,
    pub data: PathBuf,
    pub text_column: Option<String>,
    pub label_column: Option<String>,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub max_len: usize,
    /// Timed training steps, after `warmup_steps` untimed ones.
    pub steps: usize,
    pub warmup_steps: usize,
    /// Pad every batch to `max_len` instead of its longest example.
    pub pad_to_max: bool,
    pub lr: f64,
    pub seed: u64,
    pub device: String,
    pub precision: Precision,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub data: String,
    pub device: String,
    /// What the matrix products computed in (`auto` resolved).
    pub precision: &'static str,
    pub threads: usize,
    pub batch_size: usize,
    pub max_len: usize,
    pub padding: &'static str,
    pub steps: usize,
    pub warmup_steps: usize,
    /// Tokens per example (with [CLS]/[SEP], before padding) over the examples used.
    pub mean_tokens: f64,
    pub train_examples_per_sec: f64,
    pub eval_examples_per_sec: f64,
    pub eval_examples: usize,
    pub peak_rss_mib: f64,
    /// The GPU's memory after the timed steps, on a GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_memory: Option<GpuMemory>,
    /// From the start of the command to the end of the first optimiser step.
    pub time_to_first_step_s: f64,
    /// The matrix products of the timed training steps (forward and backward).
    pub train_matmuls: Matmuls,
    /// The matrix products of the evaluation.
    pub eval_matmuls: Matmuls,
    /// The machine's nominal peak on these threads, f32 and (where a bf16 kernel runs) bf16, in
    /// GFLOP/s: threads × `clock_ghz` × each kernel's FLOPs per cycle (`model::census`).
    pub nominal_f32_gflops: Option<f64>,
    pub nominal_bf16_gflops: Option<f64>,
    /// The clock the peaks assume: the kernel's `cpu MHz`, usually the base clock in a VM.
    pub clock_ghz: Option<f64>,
}

/// How fast a phase's matrix products ran, against how fast they can run.
#[derive(Debug, Clone, Serialize)]
pub struct Matmuls {
    pub products: u64,
    pub gflop: f64,
    /// FLOPs of the products over the phase's wall time.
    pub gflops: f64,
    /// FLOPs over the time the same products take replayed alone, on the same kernels, layouts
    /// and threads: what the kernels reach on exactly these shapes.
    pub kernel_gflops: f64,
    /// The share of the phase's wall time those replayed products account for; the rest is
    /// everything else a step does (element-wise ops, layer norm, softmax, the optimiser).
    pub share_of_time: f64,
    /// FLOPs over the time they would take at the nominal peak of their kernels.
    pub nominal_gflops: Option<f64>,
}

impl Matmuls {
    fn of(census: &Census, seconds: f64, threads: usize) -> Self {
        let flops = census.flops();
        let kernel_seconds = census.replay_seconds(threads).max(1e-12);
        Self {
            products: census.products(),
            gflop: flops / 1e9,
            gflops: flops / seconds.max(1e-9) / 1e9,
            kernel_gflops: flops / kernel_seconds / 1e9,
            share_of_time: kernel_seconds / seconds.max(1e-9),
            nominal_gflops: census.nominal_seconds(threads).map(|s| flops / s.max(1e-12) / 1e9),
        }
    }
}

pub fn run_bench(cfg: &BenchConfig) -> Result<BenchReport> {
    let t0 = Instant::now();
    if cfg.steps == 0 || cfg.batch_size == 0 {
        return Err(Error::Config("steps and batch-size must be at least 1".into()));
    }
    let device = device_from(&cfg.device)?;
    let precision = cfg.precision.on(&device)?;
    let _precision = crate::model::precision::scoped(precision);
    let files = source::resolve(&cfg.model, "main")?;
    let columns = Columns {
        text: cfg.text_column.as_deref(),
        label: cfg.label_column.as_deref(),
        ..Columns::default()
    };
    let examples = load_examples(&cfg.data, &columns)?;
    let labels = LabelSet::from_labels(&examples.labels);
    let spec =
        HeadSpec { head: HeadKind::SeqCls, labels: Some(labels.names().to_vec()), freeze: Freeze::default() };
    let clf = Classifier::from_dir(&files.dir, &cfg.model, spec, cfg.seed, false, &device)?;
    let how = Encoding {
        tokenizer: &clf.tokenizer,
        labels: &labels,
        head: HeadKind::SeqCls,
        separator: "|",
        max_len: cfg.max_len,
    };
    let warmup_steps = cfg.warmup_steps.max(1);
    let needed = cfg.batch_size * (cfg.steps + warmup_steps);
    let train_rows: Vec<usize> = (0..needed).map(|i| i % examples.len()).collect();
    let train = Encoded::new(examples.select(&train_rows), &how)?;
    let batcher = Batcher {
        pad_to: cfg.pad_to_max.then_some(cfg.max_len),
        ..Batcher::new(clf.tokenizer.pad_id, &device)
    };
    let accumulation = Accumulation { batch_size: cfg.batch_size, max_grad_norm: 1.0 };
    let settings = StepSettings { batcher: &batcher, accumulation };
    let trainable = sorted_vars(&clf.varmap);
    let mut opt = AdamW::new(trainable, 0.0)?;
    let mut dropout = Dropout::seeded(cfg.seed);
    let order: Vec<usize> = (0..train.len()).collect();
    let mut batches = order.chunks(cfg.batch_size);
    let mut time_to_first_step = 0.0;
    for (i, indices) in batches.by_ref().take(warmup_steps).enumerate() {
        optimizer_step(&clf.model, &train, indices, &settings, &mut opt, &mut dropout, cfg.lr)?;
        if i == 0 {
            time_to_first_step = t0.elapsed().as_secs_f64();
        }
    }
    let counting = census::open();
    let timed = Instant::now();
    let mut trained = 0;
    for indices in batches.take(cfg.steps) {
        optimizer_step(&clf.model, &train, indices, &settings, &mut opt, &mut dropout, cfg.lr)?;
        trained += indices.len();
    }
    let train_seconds = timed.elapsed().as_secs_f64();
    let train_census = counting.close();
    let gpu_memory = gpu_memory(&device);

    let eval_rows: Vec<usize> = (0..examples.len().min(cfg.eval_batch_size * cfg.steps.max(4))).collect();
    let eval_set = Encoded::new(examples.select(&eval_rows), &how)?;
    let counting = census::open();
    let (report, _) = evaluate(&clf, "bench", &eval_set, cfg.eval_batch_size, &batcher, Threshold::At(0.5))?;
    let eval_census = counting.close();
    let eval_seconds = report.examples as f64 / report.examples_per_sec.max(1e-9);
    let threads = rayon::current_num_threads();
    let peak_of = |kernel: Option<Kernel>| kernel.and_then(|k| census::nominal_gflops(k, threads));
    let mean_tokens =
        train.seqs.iter().map(|s| s.ids.len()).sum::<usize>() as f64 / train.seqs.len().max(1) as f64;
    Ok(BenchReport {
        model: cfg.model.clone(),
        data: cfg.data.display().to_string(),
        device: cfg.device.clone(),
        precision: precision.as_str(),
        threads,
        batch_size: cfg.batch_size,
        max_len: cfg.max_len,
        padding: if cfg.pad_to_max { "max-length" } else { "dynamic" },
        steps: cfg.steps,
        warmup_steps,
        mean_tokens,
        train_examples_per_sec: trained as f64 / train_seconds.max(1e-9),
        eval_examples_per_sec: report.examples_per_sec,
        eval_examples: report.examples,
        peak_rss_mib: crate::sys::peak_rss_mib(),
        gpu_memory,
        time_to_first_step_s: time_to_first_step,
        train_matmuls: Matmuls::of(&train_census, train_seconds, threads),
        eval_matmuls: Matmuls::of(&eval_census, eval_seconds, threads),
        nominal_f32_gflops: peak_of(Isa::detect().map(Kernel::F32)),
        nominal_bf16_gflops: peak_of(Kernel::bf16()),
        clock_ghz: census::clock_ghz(),
    })
}
