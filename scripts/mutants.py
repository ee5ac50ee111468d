"""Mutation check of the backward math: applies one deliberate mistake at a time
(a sign, a transpose, a dropped term, a wrong factor, no bias correction), runs the
gradient and Adam tests, and reports whether they caught it. Restores each file
with `git checkout`, so run it on a clean work tree:

    python3 scripts/mutants.py          # every mutant
    python3 scripts/mutants.py VAE      # only those whose name contains "VAE"
"""
import subprocess
import sys

if subprocess.run(["git", "status", "--porcelain", "src"], capture_output=True, text=True).stdout.strip():
    sys.exit("src/ has uncommitted changes: commit or stash them first (this script restores files with git checkout)")
muts = [
 ("src/nn/dense.rs", "matmul(x.t(), dy, 0.0, dw);", "matmul(x.t(), dy, 1.0, dw);", "dW added to instead of overwritten"),
 ("src/nn/dense.rs", "for_each(|b, &d| *b += d)", "for_each(|b, &d| *b -= d)", "db sign"),
 ("src/nn/dense.rs", "    db.fill(0.0);\n", "", "db added to instead of overwritten"),
 ("src/nn/dense.rs", "matmul(dy, w.t(), 0.0, dx);", "matmul(dy.view(), w.view().reversed_axes().t(), 0.0, dx);", "dX transpose dropped (W instead of Wᵀ)"),
 ("src/nn/activation.rs", "|a| a * (1.0 - a)", "|a| 1.0 - a", "sigmoid derivative missing factor a"),
 ("src/nn/activation.rs", "|a| if a > 0.0 { 1.0 } else { 0.0 }", "|a| if a >= 0.0 { 1.0 } else { 1.0 }", "relu mask dropped"),
 ("src/nn/activation.rs", "|a| 1.0 - a * a", "|a| 1.0 + a * a", "tanh sign"),
 ("src/nn/loss.rs", "let scale = 2.0 / x.len() as f32;", "let scale = 1.0 / x.len() as f32;", "MSE factor 2 dropped"),
 ("src/nn/loss.rs", "*g = scale * (p - t) / (p * (1.0 - p)).max(1e-12);", "*g = scale * (p - t);", "BCE denominator dropped"),
 ("src/optim.rs", "let bias_correction1 = 1.0 - (self.beta1 as f64).powi(t);", "let bias_correction1 = 1.0;", "Adam no bias correction 1"),
 ("src/optim.rs", "let bias_correction2 = 1.0 - (self.beta2 as f64).powi(t);", "let bias_correction2 = 1.0f64;", "Adam no bias correction 2"),
 ("src/model.rs", "ws.outputs[l].slice(s![..rows, ..]),\n        params.layers[l].w.view(),", "ws.outputs[l + 1].slice(s![..rows, ..]),\n        params.layers[l].w.view(),", "wrong cached input for dW"),
 # The VAE (issue 10): the KL gradient, the ½ in ∂z/∂log σ², the σ factor.
 ("src/nn/vae.rs", ".for_each(|d, &m| *d += m * scale);", ".for_each(|d, &m| *d += 0.0 * m * scale);", "VAE: KL gradient wrt μ dropped"),
 ("src/nn/vae.rs", "*d += 0.5 * (lv.exp() - 1.0) * scale", "*d += 0.5 * lv.exp() * scale", "VAE: KL gradient wrt log σ² missing −1"),
 ("src/nn/vae.rs", "*dlv += dz * 0.5 * (0.5 * lv).exp() * e", "*dlv += dz * (0.5 * lv).exp() * e", "VAE: ½ in ∂z/∂log σ² dropped"),
 ("src/nn/vae.rs", "*dlv += dz * 0.5 * (0.5 * lv).exp() * e", "*dlv += dz * 0.5 * e", "VAE: σ factor in ∂z/∂log σ² dropped"),
 ("src/model.rs", "dense_backward_add_dx(", "let _ = (", "VAE: log σ² head's input gradient dropped"),
 # --beta (issue 27): β in the KL term's gradient, and that gradient reaching dμ.
 ("src/nn/vae.rs", "let scale = beta / mu.nrows().max(1) as f32;", "let scale = 1.0 / mu.nrows().max(1) as f32;", "VAE: β dropped from the KL gradient"),
 ("src/model.rs", "dmu += &sampling.d_mu_kl.slice(s![..rows, ..]);", "let _ = &sampling.d_mu_kl;", "VAE: the KL term's dμ never reaches dμ"),
 # The convolutions (issue 26): dW overwritten, dX̃ = Wᵀ·dỸ, col2im adding from 0, db over every image.
 ("src/nn/conv.rs", "matmul(rows.view(), columns.t(), 0.0, weight_matrix_mut(dw)); // dW = dỸ·X̃ᵀ", "matmul(rows.view(), columns.t(), 1.0, weight_matrix_mut(dw)); // dW = dỸ·X̃ᵀ", "conv: dW added to instead of overwritten"),
 ("src/nn/conv.rs", "            padded.phases.fill(start(c));\n", "", "conv: col2im's sums not started from 0 (dx not zeroed)"),
 ("src/nn/conv.rs", "*x += f;", "*x = f;", "conv: col2im overwrites instead of adding"),
 ("src/nn/conv.rs", ".map(|image| image[c * plane..][..plane].iter().sum::<f32>())", ".skip(1).map(|image| image[c * plane..][..plane].iter().sum::<f32>())", "conv: db misses the first image"),
 # The convolutional model (--arch conv): its layers wired into the chain's backward pass.
 ("src/model/backbone.rs", "let dx = dx.map(|dx| images!(dx, x_dims));", "let dx = dx.map(|dx| images!(dx, x_dims)).filter(|_| false);", "conv model: the convolutions' input gradient dropped"),
 ("src/nn/conv.rs", "matmul(w, dy_columns, 0.0, rows.view_mut()); // dX̂ = W·dỸ", "matmul(w, dy_columns, 0.0, rows.view_mut()); rows.mapv_inplace(|v| -v); // dX̂ = W·dỸ", "conv transpose: dx sign"),
 # The diffusion prior (issue 25): SiLU's derivative, the ε-network's backward pass, the forward process.
 ("src/nn/silu.rs", "*g *= s * (1.0 + z * (1.0 - s));", "*g *= s;", "diffusion: SiLU derivative without its z·σ′ term"),
 ("src/prior/diffusion.rs", "Nonlinearity::Silu => silu_backward(grad, ws.pre[l].slice(s![..rows, ..])),", "Nonlinearity::Silu => drop(grad),", "diffusion: the ε-network's f′ dropped"),
 ("src/prior/diffusion.rs", "grad.assign(&ws.d_inputs[l + 1].slice(s![..rows, ..width]));", "grad.assign(&ws.d_inputs[l + 1].slice(s![..rows, 1..width + 1]));", "diffusion: dA read from the wrong columns"),
 ("src/prior/diffusion.rs", "*x = signal * x0 + spread * e", "*x = signal * x0 + e", "diffusion: xₜ's noise not scaled by √(1 − ᾱₜ)"),
]
only = sys.argv[1] if len(sys.argv) > 1 else ""
for f, old, new, name in muts:
    if only not in name:
        continue
    s = open(f).read()
    assert old in s, (f, old)
    open(f, 'w').write(s.replace(old, new, 1))
    r = subprocess.run("cargo test --lib 2>&1; cargo test --test all -- gradcheck:: torch_reference:: torch_conv:: torch_diffusion:: conv_model::whole_conv 2>&1", shell=True, capture_output=True, text=True)
    failed = [l for l in r.stdout.splitlines() if l.startswith("test ") and "FAILED" in l]
    compile_err = "error[" in r.stdout or "error:" in r.stdout and not failed
    verdict = 'CAUGHT' if failed else ('COMPILE ERROR' if compile_err else 'MISSED')
    print(f"{name:45s} -> {verdict}: {[l.split()[1] for l in failed if l.split()[1] != 'result:'][:3]}")
    subprocess.run(["git", "checkout", f])
