//! Whether a training run fits the memory there is, said before it starts.

use anyhow::Result;
use pipeline::train::Recipe;

use super::Usage;

/// A training step too large for the memory this process can take is
/// refused before training, with the batch that fits: candle's allocation
/// failure mid-step aborts the process. A step of a gigabyte or more is
/// said, so that a user sees where the memory goes.
pub(super) fn step_fits(recipe: &Recipe, windows: usize) -> Result<()> {
    use pipeline::train::memory;
    let batch = recipe.batch.min(windows).max(1);
    let need = memory::step_bytes(recipe.window, recipe.hidden, batch);
    let gb = |b: u64| b as f64 / 1e9;
    let Some(have) = memory::available_bytes() else {
        return Ok(());
    };
    // A tenth and 256 MiB left beside the step: the optimiser's state,
    // scoring's buffers, the allocator's slack, and under `ulimit -v` the
    // shard threads' stacks and malloc arenas (the windows are already held).
    let budget = (have - have / 10).saturating_sub(256 << 20);
    // The linear baseline is fitted after training: found short of memory
    // there, the training would be lost.
    let baseline = pipeline::baseline::LinearMap::fit_bytes(recipe.window);
    if baseline > budget {
        return Err(Usage(format!(
            "the linear baseline of windows of {} samples needs about {:.1} GB (three W × W \
             matrices), and {:.1} GB is available: a smaller --window",
            recipe.window,
            gb(baseline),
            gb(have)
        ))
        .into());
    }
    if need <= budget {
        if need >= 1 << 30 {
            println!(
                "memory     a training step holds about {:.1} GB ({:.1} GB available)",
                gb(need),
                gb(have)
            );
        }
        return Ok(());
    }
    let fits = memory::batch_within(recipe.window, recipe.hidden, budget);
    let advice = if fits >= 1 {
        format!("--batch {fits} fits, or a smaller --window or --hidden")
    } else {
        "not even one window fits: a smaller --window or --hidden".into()
    };
    Err(Usage(format!(
        "a training step of {batch} windows of {} samples, {} hidden units, holds about {:.1} GB \
         (candle keeps every step's activations for the backward pass), and {:.1} GB is \
         available: {advice}",
        recipe.window,
        recipe.hidden,
        gb(need),
        gb(have)
    ))
    .into())
}
