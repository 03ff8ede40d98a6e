//! The order in which a fine-tuning run visits its training examples, epoch by epoch, as JSON
//! (`[[i, …], …]`): for comparisons that replay bertbench's batches in another trainer
//! (`scripts/compare-token-parity.sh`). Without `--group-by-length`, a run's order depends only
//! on the number of examples, the seed and the epoch.
//!
//! Run: `cargo run --example epoch_order -- EXAMPLES SEED EPOCHS`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed: Option<Vec<u64>> = args.iter().map(|a| a.parse().ok()).collect();
    let Some([examples, seed, epochs]) = parsed.as_deref().and_then(|v| <[u64; 3]>::try_from(v).ok()) else {
        eprintln!("usage: epoch_order EXAMPLES SEED EPOCHS (three whole numbers)");
        std::process::exit(2);
    };
    let orders: Vec<Vec<usize>> = (0..epochs as usize)
        .map(|epoch| bertbench::data::batch::epoch_order(examples as usize, seed, epoch))
        .collect();
    println!("{}", serde_json::to_string(&orders).expect("a list of numbers"));
}
