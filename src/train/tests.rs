use super::*;

/// Each shard's backward pass runs on a thread of its own: with a
/// thread's default 2 MiB stack, `retrain --window 2000` on two threads
/// aborted with a stack overflow (the graph is a frame per operation).
#[test]
fn a_long_window_trains_on_two_threads() -> Result<()> {
    let (hidden, window) = (2, 2000);
    let init = init_params(hidden, 0);
    let (mut vars, mut tensors) = (Vec::new(), HashMap::new());
    for (name, shape) in tensor_specs(hidden) {
        let var = Var::from_vec(init[&name].clone(), shape, &Device::Cpu)?;
        tensors.insert(name, var.as_tensor().clone());
        vars.push(var);
    }
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let model = Seq2Seq::new(vb, hidden, window)?;
    let t: Vec<f32> = (0..window + 16).map(|i| i as f32 * 0.01).collect();
    let (x, y): (Vec<f32>, Vec<f32>) = t.iter().map(|t| (t.sin(), t.cos())).unzip();
    let batch = Windows::sliding(&x, &y, window)?;
    let (loss, grads) = gradients(&model, &vars, &batch, 2)?;
    assert!(loss.is_finite() && loss > 0.0, "loss {loss}");
    for v in &vars {
        assert!(
            grads.get(v.as_tensor()).is_some(),
            "a variable without gradient"
        );
    }
    Ok(())
}

#[test]
fn cosine_schedule_warms_up_then_decays() {
    let r = Recipe::default_recipe();
    assert!(r.lr_at(0, 0.0) < r.lr_at(3, 0.0));
    assert!((r.lr_at(r.warmup_epochs, 0.0) - r.lr).abs() < 1e-12);
    assert!(r.lr_at(r.epochs / 2, 0.0) < r.lr);
    assert!((r.lr_at(r.epochs - 1, 0.999) - r.lr_final).abs() < 1e-4);
    let s = Recipe::seed();
    assert_eq!(s.lr_at(0, 0.0), s.lr_at(34, 0.5));
}
