// Latent explorer for report.html: this run's own decoder, run in the browser.
// Plain JavaScript, no library, no network. It reads the JSON in
// <script type="application/json" id="explorer-data"> and draws into the
// elements of explorer.html (ids starting with "ex-", and "parity").
//
// The JSON (written by explorer.rs): kind, image {rows, cols}, latent Z,
// decoder [{name, op, inputs, outputs, conv, activation, weight, bias}]
// (base64 f32; op "dense" with W (inputs, outputs), or "conv_transpose2d" with
// conv {in_channels, out_channels, in_side, out_side, kernel, stride, padding,
// output_padding} and W (C, O, K, K) as PyTorch stores it),
// classes, points {count, labels, codes}, sliders {names, unit, origin,
// directions, scales}, gaussian {mean, cholesky}, parity {codes, outputs},
// diffusion (null without a diffusion prior): {walk, network, latent Z, embed E,
// nonlinearity, frequencies (E/2 ωₖ), layers [{inputs, outputs, weight, bias}]
// (W (wₗ + E, Oₗ) row-major, the input [Aₗ, emb(t)]), mean, std, low, high (Z
// each), steps (τ_S … τ₁), alpha_bars (ᾱ at each τ), eta, parity {count n,
// noise x_T (n, Z), step_noise z (S, n, Z), outputs (n, D)}} (see section 3b).
// Slider k reads (code − origin)·directions[k] / scales[k]; the map's x and y
// are sliders 0 and 1, so what the map shows is what those sliders move.
//
// With #selftest at the end of the page's address (or the "run the self-test"
// link) it runs its own checks as a user would, with real events, and writes
// one PASS/FAIL line with the parity, a list of the checks, and the full report
// as JSON in a script element of type application/json with the id selftest-json
// (tests/browser.rs reads it).
(function () {
  'use strict';

  // ---- 0. Record every error and blocked request, before anything can fail ----
  const errors = [];
  const violations = [];
  window.addEventListener('error', function (event) {
    if (event.target && event.target !== window) {
      // In the capture phase this also sees elements (img, script) that failed to load.
      errors.push('failed to load: ' + (event.target.src || event.target.href || event.target.tagName));
    } else {
      errors.push('error: ' + event.message + ' (' + event.filename + ':' + event.lineno + ')');
    }
  }, true);
  window.addEventListener('unhandledrejection', function (event) {
    errors.push('unhandled rejection: ' + String(event.reason));
  });
  const consoleError = console.error;
  console.error = function (...args) {
    errors.push('console.error: ' + args.map(String).join(' '));
    consoleError.apply(console, args);
  };
  document.addEventListener('securitypolicyviolation', function (event) {
    violations.push(event.blockedURI || event.violatedDirective);
  });
  function selfTestLater() { setTimeout(selfTest, 50); }
  if (location.hash === '#selftest') {
    if (document.readyState === 'complete') selfTestLater(); else window.addEventListener('load', selfTestLater);
  }
  window.addEventListener('hashchange', function () { if (location.hash === '#selftest') selfTestLater(); });

  const K_NEAREST = 8;     // test codes blended into a map point's code
  const STEPS = 10;        // digits in the interpolation row
  const MAP_SIZE = 440;    // the map's drawing units (CSS pixels at full size)
  const TABLEAU = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
                   '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  let data = null;         // everything read from the page, see readData()
  let parity = null;       // largest |page decoder − Rust decoder| over the parity codes
  let diffusionParity = null;  // largest |page sampler − Rust sampler| over the diffusion parity samples

  const byId = (id) => document.getElementById(id);
  function expect(ok, message) { if (!ok) throw new Error('explorer data: ' + message); }

  // ---- 1. Reading the data -------------------------------------------------
  // Base64 of little-endian f32 values → Float32Array. DataView reads
  // little-endian explicitly, so this is right on any machine.
  function floats(base64, count, what) {
    const bytes = atob(base64);
    expect(bytes.length === 4 * count, what + ' holds ' + bytes.length / 4 + ' floats, expected ' + count);
    const view = new DataView(new ArrayBuffer(bytes.length));
    for (let i = 0; i < bytes.length; i++) view.setUint8(i, bytes.charCodeAt(i));
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  const f32 = (list) => Float32Array.from(list);

  function readData() {
    const d = JSON.parse(byId('explorer-data').textContent);
    expect(d.weights_encoding === 'base64 little-endian f32', 'unknown weights_encoding ' + d.weights_encoding);
    const Z = d.latent, rows = d.image.rows, cols = d.image.cols, D = rows * cols;
    const N = d.points.count;
    let width = Z;
    const layers = d.decoder.map(function (l) {
      const op = l.op || 'dense';  // pages written before the convolutional model
      expect(op in OPERATIONS, l.name + ': unknown operation ' + op);
      expect(l.inputs === width, l.name + ' takes ' + l.inputs + ' inputs after a layer of ' + width);
      expect(l.activation in ACTIVATIONS, l.name + ': unknown activation ' + l.activation);
      width = l.outputs;
      const c = l.conv;
      const conv = op === 'dense' ? null : c;
      if (conv) {
        expect(c.in_channels * c.in_side * c.in_side === l.inputs && c.out_channels * c.out_side * c.out_side === l.outputs &&
               (c.in_side - 1) * c.stride - 2 * c.padding + c.kernel + c.output_padding === c.out_side,
               l.name + ': its convolution does not fit its sizes');
      }
      const weights = conv ? c.in_channels * c.out_channels * c.kernel * c.kernel : l.inputs * l.outputs;
      const biases = conv ? c.out_channels : l.outputs;
      return { name: l.name, op: op, conv: conv, I: l.inputs, O: l.outputs, activation: l.activation,
               W: floats(l.weight, weights, l.name + '.weight'),
               b: floats(l.bias, biases, l.name + '.bias') };
    });
    expect(width === D, 'the decoder ends with ' + width + ' outputs, the image has ' + D);
    const s = d.sliders;
    const vectors = [s.origin, d.gaussian.mean, ...s.directions, ...d.gaussian.cholesky, ...d.parity.codes];
    expect(vectors.every((v) => v.length === Z), 'sliders, gaussian or parity holds a vector not of length Z');
    expect(s.directions.length >= 1 && s.names.length === s.directions.length && s.scales.length === s.directions.length,
           'sliders: names, directions and scales differ in number');
    expect(s.scales.every((v) => v > 0), 'sliders: a scale is not positive');
    const parityCodes = d.parity.codes.map(f32);
    const diffusion = d.diffusion ? readDiffusion(d.diffusion, Z, D) : null;
    return {
      diffusion: diffusion,
      kind: d.kind, Z: Z, rows: rows, cols: cols, D: D, N: N, layers: layers,
      classes: d.classes, labels: Int32Array.from(d.points.labels),
      codes: floats(d.points.codes, N * Z, 'points.codes'),
      names: s.names, unit: s.unit, origin: f32(s.origin),
      directions: s.directions.map(f32), scales: f32(s.scales),
      gaussMean: f32(d.gaussian.mean), cholesky: d.gaussian.cholesky.map(f32),
      parityCodes: parityCodes,
      parityOutputs: floats(d.parity.outputs, parityCodes.length * D, 'parity.outputs'),
    };
  }

  // The diffusion prior's data (explorer.rs's diffusion_data), checked.
  function readDiffusion(p, Z, D) {
    const E = p.embed, S = p.steps.length, n = p.parity.count;
    expect(p.latent === Z, 'diffusion: codes of ' + p.latent + ' numbers, the decoder reads ' + Z);
    expect(E % 2 === 0 && p.frequencies.length === E / 2, 'diffusion: ' + p.frequencies.length + ' frequencies for an embedding of ' + E);
    expect(p.nonlinearity in NONLINEARITIES, 'diffusion: unknown nonlinearity ' + p.nonlinearity);
    expect(S >= 1 && p.alpha_bars.length === S, 'diffusion: ' + S + ' steps and ' + p.alpha_bars.length + ' values of ᾱ');
    expect([p.mean, p.std, p.low, p.high].every((v) => v.length === Z), 'diffusion: mean, std, low or high is not of length Z');
    let width = Z;
    const layers = p.layers.map(function (l, i) {
      expect(l.inputs === width + E, 'diffusion layer ' + i + ' takes ' + l.inputs + ' inputs after a layer of ' + width + ' and an embedding of ' + E);
      width = l.outputs;
      return { I: l.inputs, O: l.outputs, W: floats(l.weight, l.inputs * l.outputs, 'diffusion layer ' + i + ' weight'),
               b: floats(l.bias, l.outputs, 'diffusion layer ' + i + ' bias') };
    });
    expect(layers.length >= 1 && width === Z, 'diffusion: the ε-network ends with ' + width + ' outputs, not Z');
    return {
      walk: p.walk, network: p.network, E: E, nonlinearity: p.nonlinearity, frequencies: p.frequencies, layers: layers,
      mean: f32(p.mean), std: f32(p.std), low: f32(p.low), high: f32(p.high),
      steps: p.steps, alphaBars: p.alpha_bars, eta: p.eta,
      parity: { count: n, noise: floats(p.parity.noise, n * Z, 'diffusion parity noise'),
                stepNoise: floats(p.parity.step_noise, S * n * Z, 'diffusion parity step_noise'),
                outputs: floats(p.parity.outputs, n * D, 'diffusion parity outputs') },
    };
  }

  // ---- 2. The decoder: the same layers as the Rust model ---------------------
  // y = x·W + b for one input x of length I; W is I×O row-major (W[i][o] at i*O + o).
  // Sums in doubles, then rounds to f32 as the Rust side stores its activations.
  function dense(x, W, b, I, O) {
    const sum = new Float64Array(O);
    for (let i = 0; i < I; i++) {
      const xi = x[i];
      if (xi === 0) continue;                  // a ReLU zero adds nothing: skip its row
      const row = i * O;
      for (let o = 0; o < O; o++) sum[o] += xi * W[row + o];
    }
    const y = new Float32Array(O);
    for (let o = 0; o < O; o++) y[o] = sum[o] + b[o];
    return y;
  }
  // ConvTranspose2d, as src/nn/conv.rs defines it:
  // y[o, s·i+u−p, s·j+v−p] += W[c,o,u,v] · x[c,i,j], plus b[o] once; x is
  // (C, H, H), y (O, OH, OH), W (C, O, K, K), all row-major. Sums in doubles.
  function convTranspose(x, W, b, c) {
    const C = c.in_channels, O = c.out_channels, H = c.in_side, OH = c.out_side;
    const K = c.kernel, s = c.stride, p = c.padding;
    const sum = new Float64Array(O * OH * OH);
    for (let ch = 0; ch < C; ch++) {
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < H; j++) {
          const xv = x[(ch * H + i) * H + j];
          if (xv === 0) continue;              // a ReLU zero adds nothing
          for (let o = 0; o < O; o++) {
            const w = W.subarray(((ch * O + o) * K) * K, ((ch * O + o) * K + K) * K);
            const plane = o * OH * OH;
            for (let u = 0; u < K; u++) {
              const h = s * i + u - p;
              if (h < 0 || h >= OH) continue;
              for (let v = 0; v < K; v++) {
                const col = s * j + v - p;
                if (col >= 0 && col < OH) sum[plane + h * OH + col] += xv * w[u * K + v];
              }
            }
          }
        }
      }
    }
    const y = new Float32Array(O * OH * OH);
    for (let o = 0; o < O; o++) {
      for (let k = o * OH * OH; k < (o + 1) * OH * OH; k++) y[k] = sum[k] + b[o];
    }
    return y;
  }
  const OPERATIONS = {
    dense: (x, l) => dense(x, l.W, l.b, l.I, l.O),
    conv_transpose2d: (x, l) => convTranspose(x, l.W, l.b, l.conv),
  };
  function relu(v) {
    for (let i = 0; i < v.length; i++) if (v[i] < 0) v[i] = 0;
    return v;
  }
  // Written like the Rust sigmoid: exp of a negative number only, never overflows.
  function sigmoid(v) {
    for (let i = 0; i < v.length; i++) {
      const z = v[i];
      if (z >= 0) v[i] = 1 / (1 + Math.exp(-z));
      else { const e = Math.exp(z); v[i] = e / (1 + e); }
    }
    return v;
  }
  // The other activations the Rust model offers, also as the Rust side writes them.
  function leakyRelu(v) {
    for (let i = 0; i < v.length; i++) if (v[i] < 0) v[i] = LEAKY_SLOPE * v[i];
    return v;
  }
  function tanh(v) {
    for (let i = 0; i < v.length; i++) v[i] = Math.tanh(v[i]);
    return v;
  }
  const LEAKY_SLOPE = Math.fround(0.01);     // the Rust constant is an f32
  const ACTIVATIONS = { relu: relu, sigmoid: sigmoid, identity: (v) => v, leaky_relu: leakyRelu, tanh: tanh };
  // SiLU, z·σ(z), the ε-network's hidden activation (src/nn/silu.rs).
  function silu(v) {
    for (let i = 0; i < v.length; i++) v[i] = v[i] * Math.fround(1 / (1 + Math.exp(-v[i])));
    return v;
  }
  const NONLINEARITIES = { silu: silu, relu: relu };

  // A code (length Z) → an image (length D = rows·cols, grey levels in [0, 1]).
  function decode(code) {
    let x = code;
    for (const layer of data.layers) {
      x = ACTIVATIONS[layer.activation](OPERATIONS[layer.op](x, layer));
    }
    return x;
  }

  // ---- 3. Parity: decode the reference codes, compare with Rust's output -----
  function checkParity() {
    let worst = 0;
    data.parityCodes.forEach(function (code, k) {
      const out = decode(code);
      for (let j = 0; j < data.D; j++) {
        worst = Math.max(worst, Math.abs(out[j] - data.parityOutputs[k * data.D + j]));
      }
    });
    const ok = worst <= 1e-4;                  // false for NaN too
    byId('parity').textContent = worst.toExponential(1);
    const verdict = byId('parity-verdict');
    verdict.textContent = ok ? 'OK (≤ 1e-4)' : "MISMATCH: the page's decoder disagrees with Rust's";
    verdict.className = ok ? 'ex-ok' : 'ex-bad';
    return worst;
  }

  // ---- 3b. The diffusion prior's DDIM sampler (src/prior/diffusion.rs) ---------
  // ε̂(x, t) for one row x (length Z) at step t: every layer reads [Aₗ, emb(t)],
  // emb(t) = [sin(t·ωₖ)…, cos(t·ωₖ)…], Aₗ₊₁ = f(Xₗ·Wₗ + bₗ), the last layer linear.
  function epsilon(x, t) {
    const p = data.diffusion, half = p.E / 2, embedding = new Float32Array(p.E);
    for (let k = 0; k < half; k++) {
      const angle = t * p.frequencies[k];
      embedding[k] = Math.sin(angle);
      embedding[half + k] = Math.cos(angle);
    }
    let a = x;
    p.layers.forEach(function (l, i) {
      const input = new Float32Array(l.I);
      input.set(a);
      input.set(embedding, a.length);
      const z = dense(input, l.W, l.b, l.I, l.O);
      a = i < p.layers.length - 1 ? NONLINEARITIES[p.nonlinearity](z) : z;
    });
    return a;
  }
  // DDIM over the steps τ_S … τ₁ (then 0), from x_T (length Z); stepNoise(i)
  // gives z (length Z) of step i, asked for only where σ > 0. Each step, as Rust's
  // sample_ddim_with_noise does it, in f32 where Rust is (Math.fround):
  //   x̂₀ = clip((x_τ − √(1 − ᾱ_τ)·ε̂) / √ᾱ_τ, low, high),  ε̂ ← (x_τ − √ᾱ_τ·x̂₀) / √(1 − ᾱ_τ)
  //   x_τ′ = √ᾱ_τ′·x̂₀ + √(1 − ᾱ_τ′ − σ²)·ε̂ + σ·z,  σ = η·√((1 − ᾱ_τ′)/(1 − ᾱ_τ))·√(1 − ᾱ_τ/ᾱ_τ′)
  // i.e. x_{t−1} = √ᾱ_{t−1}·x̂₀ + √(1 − ᾱ_{t−1} − σ²)·ε̂ + σ·z with t − 1 the next step
  // visited. Returns the code mean + std ⊙ x₀. The button and the parity check
  // both come here: the button with fresh noise, the check with Rust's.
  function diffusionSample(xT, stepNoise) {
    const p = data.diffusion, Z = data.Z, fr = Math.fround, S = p.steps.length;
    const x = Float32Array.from(xT), x0 = new Float32Array(Z);
    for (let i = 0; i < S; i++) {
      const now = p.alphaBars[i], then = i + 1 < S ? p.alphaBars[i + 1] : 1;
      const eps = epsilon(x, p.steps[i]);
      const scale = fr(1 / Math.sqrt(now)), epsScale = fr(Math.sqrt((1 - now) / now));
      const root = fr(Math.sqrt(now)), inverse = fr(1 / Math.sqrt(1 - now));
      for (let z = 0; z < Z; z++) {
        x0[z] = Math.min(Math.max(fr(fr(scale * x[z]) - fr(epsScale * eps[z])), p.low[z]), p.high[z]);
        eps[z] = fr(inverse * fr(x[z] - fr(root * x0[z])));
      }
      const sigma = p.eta * Math.sqrt((1 - then) / (1 - now)) * Math.sqrt(1 - now / then);
      const a = fr(Math.sqrt(then)), b = fr(Math.sqrt(Math.max(0, 1 - then - sigma * sigma)));
      for (let z = 0; z < Z; z++) x[z] = fr(fr(a * x0[z]) + fr(b * eps[z]));
      if (sigma > 0) {
        const noise = stepNoise(i), s = fr(sigma);
        for (let z = 0; z < Z; z++) x[z] = fr(x[z] + fr(s * noise[z]));
      }
    }
    const code = new Float32Array(Z);
    for (let z = 0; z < Z; z++) code[z] = fr(fr(x[z] * p.std[z]) + p.mean[z]);
    return code;
  }
  // The decoded pixels of the DDIM sample from given noise: xT (length Z) and
  // stepNoise (S·Z, step i's z at i·Z). Exposed as window.mnistExplorer.diffusionPixels.
  function diffusionPixels(xT, stepNoise) {
    const Z = data.Z;
    return decode(diffusionSample(xT, (i) => stepNoise.subarray(i * Z, (i + 1) * Z)));
  }
  // Largest |page − Rust| over the pixels of the parity samples (Rust's noise
  // and Rust's decoded samples, embedded), shown beside the button.
  function checkDiffusionParity() {
    const { Z, D } = data, p = data.diffusion.parity, S = data.diffusion.steps.length, n = p.count;
    let worst = 0;
    for (let k = 0; k < n; k++) {
      const steps = new Float32Array(S * Z);
      for (let i = 0; i < S; i++) steps.set(p.stepNoise.subarray((i * n + k) * Z, (i * n + k + 1) * Z), i * Z);
      const out = diffusionPixels(p.noise.subarray(k * Z, (k + 1) * Z), steps);
      for (let j = 0; j < D; j++) worst = Math.max(worst, Math.abs(out[j] - p.outputs[k * D + j]));
    }
    if (Number.isNaN(worst)) worst = Infinity;
    const ok = worst <= 1e-4;
    byId('ex-diffusion-parity-value').textContent = worst.toExponential(1) + ' on ' + n + ' samples';
    const verdict = byId('ex-diffusion-parity-verdict');
    verdict.textContent = ok ? 'OK (≤ 1e-4)' : "MISMATCH: the page's sampler disagrees with Rust's";
    verdict.className = ok ? 'ex-ok' : 'ex-bad';
    byId('ex-diffusion-parity').hidden = false;
    return worst;
  }

  // ---- 4. Slider coordinates, the map, and from a map point to a full code ----
  // Slider k reads t_k = (code − origin)·d_k / s_k. The map shows the code at
  // (t_0, t_1): the map's axes are the first two sliders' axes.
  function reading(code, k) {
    const d = data.directions[k], o = data.origin;
    let t = 0;
    for (let z = 0; z < data.Z; z++) t += (code[z] - o[z]) * d[z];
    return t / data.scales[k];
  }
  const MAP_AXES = () => Math.min(2, data.directions.length);
  const project = (code) => [reading(code, 0), MAP_AXES() > 1 ? reading(code, 1) : 0];

  // The part of each test code the map cannot show: r_i = code_i − origin − Σ_k t_ik·s_k·d_k
  // over the map's axes (zero when the map is the whole code, Z ≤ 2).
  function residuals() {
    const { N, Z, codes, origin, map, directions, scales } = data;
    const r = new Float32Array(N * Z);
    for (let i = 0; i < N; i++) {
      for (let z = 0; z < Z; z++) {
        let v = codes[i * Z + z] - origin[z];
        for (let k = 0; k < MAP_AXES(); k++) v -= map[2 * i + k] * scales[k] * directions[k][z];
        r[i * Z + z] = v;
      }
    }
    return r;
  }

  // The k test points nearest p on the map, nearest first: [{i, d2}] (d2 = squared distance).
  function nearest(p, k) {
    const best = [];
    for (let i = 0; i < data.N; i++) {
      const dx = data.map[2 * i] - p[0], dy = data.map[2 * i + 1] - p[1];
      const d2 = dx * dx + dy * dy;
      if (best.length === k && d2 >= best[k - 1].d2) continue;
      best.push({ i: i, d2: d2 });
      best.sort((a, b) => a.d2 - b.d2);
      if (best.length > k) best.pop();
    }
    return best;
  }

  // code(p) = origin + Σ_k p_k·s_k·d_k + Σ wᵢrᵢ / Σ wᵢ over the K_NEAREST nearest
  // test points, wᵢ = 1 / distance. Residuals are orthogonal to the map's axes,
  // so the code still lands on p, and reads p on the first two sliders; on a
  // test point it is that point's own code. With Z ≤ 2 the code is p itself.
  function mapToCode(p) {
    const { Z, origin, directions, scales, residual } = data;
    const blend = new Float64Array(Z);
    if (Z > MAP_AXES()) {
      const near = nearest(p, K_NEAREST);
      if (near[0].d2 < 1e-12) {
        for (let z = 0; z < Z; z++) blend[z] = residual[near[0].i * Z + z];
      } else {
        let total = 0;
        for (const n of near) {
          const w = 1 / Math.sqrt(n.d2);
          total += w;
          for (let z = 0; z < Z; z++) blend[z] += w * residual[n.i * Z + z];
        }
        for (let z = 0; z < Z; z++) blend[z] /= total;
      }
    }
    const code = new Float32Array(Z);
    for (let z = 0; z < Z; z++) {
      let v = origin[z] + blend[z];
      for (let k = 0; k < MAP_AXES(); k++) v += p[k] * scales[k] * directions[k][z];
      code[z] = v;
    }
    return code;
  }

  // A round step near x: 1, 2 or 5 times a power of ten, not above x.
  function roundStep(x) {
    const power = Math.pow(10, Math.floor(Math.log10(x)));
    return [5, 2, 1].map((m) => m * power).find((s) => s <= x * (1 + 1e-9)) || power;
  }
  // Each slider's range and step. The map's two axes get one scale (a square view
  // of equal units, the larger spread deciding); every range holds all test
  // points with a margin and ends on a whole step, and a VAE's own code units
  // also hold ±2, about manifold.png's extent of its N(0, I) prior. Steps: 0.1σ
  // for principal directions, a round 1/60 of the range (at least 0.01, the
  // readout's last digit) for code units.
  function sliderRanges() {
    const prior = data.unit === '' && data.kind === 'vae';
    return data.directions.map(function (_, k) {
      let lo = prior ? -2 : Infinity, hi = prior ? 2 : -Infinity;
      for (let i = 0; i < data.N; i++) {
        const t = k < 2 ? data.map[2 * i + k] : reading(codeOf(i), k);
        lo = Math.min(lo, t); hi = Math.max(hi, t);
      }
      return { lo: lo, hi: hi };
    }).map(function (r, k, all) {
      let span = Math.max(r.hi - r.lo, 1e-6);
      if (k < 2 && all.length > 1) span = Math.max(all[0].hi - all[0].lo, all[1].hi - all[1].lo, 1e-6);
      span *= 1.1;
      const step = data.unit === 'σ' ? 0.1 : Math.max(0.01, roundStep(span / 60));
      const mid = (r.lo + r.hi) / 2;
      return { min: step * Math.floor((mid - span / 2) / step), max: step * Math.ceil((mid + span / 2) / step), step: step };
    });
  }

  // ---- 5. Drawing ---------------------------------------------------------------
  // Tableau 10 like latent_pca.png; past ten classes the same hues again, darker
  // on odd rounds and lighter on even ones, so any number of classes works.
  function classColour(c) {
    const round = Math.floor(c / TABLEAU.length);
    if (round === 0) return TABLEAU[c];
    const f = round % 2 ? 0.6 : 1.4, hex = TABLEAU[c % TABLEAU.length];
    const rgb = [1, 3, 5].map((k) => Math.min(255, Math.round(f * parseInt(hex.substr(k, 2), 16))));
    return 'rgb(' + rgb.join(',') + ')';
  }
  // Each class is drawn as its own glyph, not only its colour: the class name
  // if it is one character (MNIST's digits), else the class's number.
  const glyph = (c) => (String(data.classes[c]).length === 1 ? String(data.classes[c]) : String(c));

  // Grey levels in [0, 1] (0 black, 1 white, like MNIST) drawn large: every canvas
  // pixel takes the value of the image pixel it falls in (nearest-neighbour scaling).
  function drawDigit(canvas, pixels) {
    const { rows, cols } = data, W = canvas.width, H = canvas.height;
    const ctx = canvas.getContext('2d'), img = ctx.createImageData(W, H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const v = pixels[Math.floor(y * rows / H) * cols + Math.floor(x * cols / W)];
        const k = 4 * (y * W + x);
        img.data[k] = img.data[k + 1] = img.data[k + 2] = Math.round(255 * Math.min(1, Math.max(0, v)));
        img.data[k + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }
  function digitCanvas(canvas, scale) {  // scale × scale canvas pixels per image pixel
    canvas.width = data.cols * scale;
    canvas.height = data.rows * scale;
    return canvas;
  }

  // Map coordinates ↔ drawing units (y upwards on the map): the first two
  // sliders' ranges fill the square inside a margin.
  const view = { size: MAP_SIZE, margin: 14 };
  const axisRange = (k) => (k < data.ranges.length ? data.ranges[k] : { min: -1, max: 1 });
  const scaleOf = (k) => (view.size - 2 * view.margin) / (axisRange(k).max - axisRange(k).min);
  const toPixel = (p) => [view.margin + (p[0] - axisRange(0).min) * scaleOf(0),
                          view.size - view.margin - (p[1] - axisRange(1).min) * scaleOf(1)];
  const toMap = (px) => [axisRange(0).min + (px[0] - view.margin) / scaleOf(0),
                         axisRange(1).min + (view.size - view.margin - px[1]) / scaleOf(1)];
  const mapPoint = (i) => [data.map[2 * i], data.map[2 * i + 1]];

  // Round tick values inside [min, max], about five of them.
  function ticks(range) {
    const step = roundStep((range.max - range.min) / 4);
    const out = [];
    for (let t = Math.ceil(range.min / step) * step; t <= range.max + 1e-9; t += step) out.push(Math.abs(t) < 1e-9 ? 0 : t);
    return out;
  }

  // The points go once onto an off-screen canvas; each frame copies it and adds marks.
  const background = document.createElement('canvas');
  function drawPoints(canvas) {
    const dpr = window.devicePixelRatio || 1;
    canvas.width = canvas.height = background.width = background.height = Math.round(view.size * dpr);
    const ctx = background.getContext('2d');
    ctx.scale(dpr, dpr);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, view.size, view.size);
    // Grid lines and tick values in the sliders' units.
    ctx.strokeStyle = '#e4e4e4'; ctx.fillStyle = '#888'; ctx.lineWidth = 1; ctx.font = '10px sans-serif';
    for (const t of ticks(axisRange(0))) {
      const [x] = toPixel([t, 0]);
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, view.size); ctx.stroke();
      ctx.fillText(String(+t.toPrecision(3)), x + 2, view.size - 3);
    }
    for (const t of ticks(axisRange(1))) {
      const [, y] = toPixel([0, t]);
      ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(view.size, y); ctx.stroke();
      ctx.fillText(String(+t.toPrecision(3)), 2, y - 2);
    }
    ctx.globalAlpha = 0.8;
    ctx.font = 'bold 10px sans-serif'; ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
    for (let i = 0; i < data.N; i++) {
      const [x, y] = toPixel(mapPoint(i));
      ctx.fillStyle = classColour(data.labels[i]);
      ctx.fillText(glyph(data.labels[i]), x, y);
    }
    ctx.globalAlpha = 1;
  }

  // Copies the points, then rings A and B, and the marker of the shown code:
  // a target (black on white) at the code's place on the map, wherever it came from.
  function drawMap() {
    const ctx = byId('ex-map').getContext('2d'), dpr = background.width / view.size;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(background, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = 'bold 13px sans-serif';
    state.picks.forEach(function (i, n) {
      const [x, y] = toPixel(mapPoint(i));
      ctx.lineWidth = 2; ctx.strokeStyle = ctx.fillStyle = '#000';
      ctx.beginPath(); ctx.arc(x, y, 8, 0, 2 * Math.PI); ctx.stroke();
      ctx.fillText(n === state.picks.length - 1 ? 'B' : 'A', x + 10, y - 8);
    });
    if (state.shown) {
      const [x, y] = toPixel(project(state.shown.code)).map((v) => Math.min(view.size - 2, Math.max(2, v)));
      for (const [colour, width] of [['#fff', 5], ['#d00', 2]]) {
        ctx.strokeStyle = colour; ctx.lineWidth = width;
        ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI);
        ctx.moveTo(x - 13, y); ctx.lineTo(x - 6, y); ctx.moveTo(x + 6, y); ctx.lineTo(x + 13, y);
        ctx.moveTo(x, y - 13); ctx.lineTo(x, y - 6); ctx.moveTo(x, y + 6); ctx.lineTo(x, y + 13);
        ctx.stroke();
      }
    }
  }

  // ---- 6. What is shown, and the controls that change it ----------------------
  // state.code is the current code (what a click, a drag, a key, a slider, a
  // sample or an interpolation cell last set); a mouse hovering the map shows
  // other codes for a moment, and leaving the map shows state.code again.
  // Whatever is shown also moves the sliders and the map's marker.
  const state = { code: null, caption: '', shown: null, picks: [], sliders: [], editing: null };
  const className = (i) => 'class ' + data.classes[data.labels[i]];
  const codeOf = (i) => data.codes.slice(i * data.Z, (i + 1) * data.Z);
  const format = (v) => (v >= 0 ? '+' : '−') + Math.abs(v).toFixed(2) + data.unit;
  const where = (p) => data.names.slice(0, MAP_AXES()).map((n, k) => n + ' ' + format(p[k])).join(', ');

  function display(code, caption) {
    const digit = decode(code);
    state.shown = { code: code, digit: digit, caption: caption };
    const canvas = byId('ex-digit');
    drawDigit(canvas, digit);
    canvas.setAttribute('aria-label', 'decoded digit: ' + caption);
    byId('ex-caption').textContent = caption;
    for (const s of state.sliders) s.sync(code);
    drawMap();
    return digit;
  }
  // Sets the current code, and tells a screen reader what it is.
  function commit(code, caption) {
    state.code = code;
    state.caption = caption;
    display(code, caption);
    byId('ex-status').textContent = caption;
  }
  const mapCaption = (p) => 'the code at map point ' + where(p);

  // A click picks the test point nearest to it: its reconstruction goes to the
  // digit and its code to the sliders, and it becomes B of the interpolation
  // (the old B becomes A).
  function pick(i) {
    state.picks = state.picks.concat([i]).slice(-2);
    commit(codeOf(i), 'reconstruction of test digit #' + i + ' (' + className(i) + '): its code, decoded');
    drawInterpolation();
  }

  function setupMap() {
    const canvas = byId('ex-map');
    drawPoints(canvas);
    const at = function (event) {
      const rect = canvas.getBoundingClientRect();
      return toMap([(event.clientX - rect.left) * view.size / rect.width,
                    (event.clientY - rect.top) * view.size / rect.height]);
    };
    // A press starts where it went down; a short press is a click, a longer
    // path is a drag whose last code stays when the pointer (or finger) lifts.
    let down = null;
    const showAt = function (p) { display(mapToCode(p), mapCaption(p)); };
    canvas.addEventListener('pointermove', function (event) {
      if (event.pointerType !== 'mouse' && !down) return;
      if (down && Math.hypot(event.clientX - down.x, event.clientY - down.y) >= 5) down.moved = true;
      showAt(at(event));
    });
    canvas.addEventListener('pointerdown', function (event) {
      down = { x: event.clientX, y: event.clientY, moved: false };
      showAt(at(event));
    });
    canvas.addEventListener('pointerup', function (event) {
      if (!down) return;
      const p = at(event);
      if (down.moved) commit(mapToCode(p), mapCaption(p));
      else pick(nearest(p, 1)[0].i);
      down = null;
    });
    const leave = function () { down = null; display(state.code, state.caption); };
    canvas.addEventListener('pointerleave', leave);
    canvas.addEventListener('pointercancel', leave);
    // Keys: arrows move the code's place on the map one slider step (Shift: ten),
    // Enter or Space picks the test digit nearest to it.
    canvas.addEventListener('keydown', function (event) {
      const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowDown: [0, -1], ArrowUp: [0, 1] };
      const p = project(state.code);
      if (event.key in moves) {
        const times = event.shiftKey ? 10 : 1;
        const q = [0, 1].map((k) => {
          const r = axisRange(k), step = k < data.ranges.length ? r.step : 0;
          return Math.min(r.max, Math.max(r.min, p[k] + times * moves[event.key][k] * step));
        });
        commit(mapToCode(q), mapCaption(q));
      } else if (event.key === 'Enter' || event.key === ' ') {
        pick(nearest(p, 1)[0].i);
      } else {
        return;
      }
      event.preventDefault();
    });
    // The axis labels name the sliders the axes are.
    byId('ex-axis-x').textContent = data.names[0] + (data.unit ? ' (' + data.unit + ')' : '') + ' →';
    byId('ex-axis-y').textContent = MAP_AXES() > 1 ? data.names[1] + (data.unit ? ' (' + data.unit + ')' : '') + ' →' : '(no second axis)';
    const kind = data.unit ? 'principal directions 1 and 2 of the test codes' : 'the code itself';
    canvas.setAttribute('aria-label', 'map of ' + data.N + ' test codes, ' + kind + ': ' + byId('ex-axis-x').textContent +
                        ' to the right, ' + byId('ex-axis-y').textContent + ' up, each drawn as its class. ' +
                        'Arrow keys move the current code on the map, Enter picks the nearest test digit.');
    data.classes.forEach(function (name, c) {  // the legend: the class's glyph in its colour, and its name
      const item = document.createElement('span'), mark = document.createElement('b');
      mark.style.color = classColour(c);
      mark.textContent = glyph(c);
      item.append(mark, glyph(c) === String(name) ? '' : ' ' + name);
      byId('ex-legend').append(item);
    });
  }

  // One slider: reading k of the shown code; moving it moves the current code
  // along direction k only (the directions are orthonormal).
  function addSlider(parent, k, range) {
    const name = data.names[k], d = data.directions[k], s = data.scales[k];
    const row = document.createElement('label');
    row.title = data.unit ? 'principal direction ' + (k + 1) + ' of the test codes, σ = ' + s.toPrecision(3)
                          : 'latent unit ' + (k + 1) + ' of the code';
    const input = document.createElement('input');
    Object.assign(input, { type: 'range', min: range.min, max: range.max, step: range.step });
    const value = document.createElement('output');
    const sync = function (code) {
      const v = reading(code, k);
      if (state.editing !== input) input.value = v;  // not under the user's finger
      value.textContent = format(v);
      input.setAttribute('aria-valuetext', name + ' ' + format(v));
    };
    input.addEventListener('input', function () {
      const step = (Number(input.value) - reading(state.code, k)) * s, out = new Float32Array(data.Z);
      for (let z = 0; z < data.Z; z++) out[z] = state.code[z] + step * d[z];
      state.editing = input;
      commit(out, 'code edited with the sliders (' + name + ' ' + format(Number(input.value)) + ')');
      state.editing = null;
    });
    row.append(name, input, value);
    parent.append(row);
    state.sliders.push({ name: name, input: input, output: value, sync: sync });
  }

  function setupSliders() {
    data.ranges.forEach((range, k) => addSlider(byId('ex-sliders'), k, range));
    byId('ex-slider-hint').textContent = data.unit
      ? 'Each slider shows the shown code\'s coordinate along one principal direction of the test codes, in standard deviations (σ) of the test codes along it, and moves the current code along that direction only; arrow keys move 0.1σ. PC 1 and PC 2 are the map\'s axes.'
      : 'The code has ' + data.Z + (data.Z === 1 ? ' number' : ' numbers') + ', one slider each; the map is the code itself, so the sliders and the map move together. Arrow keys move one step (' + data.ranges[0].step + ').';
  }

  // Seeded PRNG (mulberry32), so the samples are the same on every load.
  let seed = 20240611;
  function random() {
    seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  // A standard normal number by Box-Muller (1 − u keeps the logarithm finite).
  function normal() {
    return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  }
  function setupSamples() {
    const { Z, gaussMean, cholesky } = data;
    byId('ex-sample-fit').addEventListener('click', function () {
      const e = Array.from({ length: Z }, normal), z = new Float32Array(Z);
      for (let r = 0; r < Z; r++) {          // z = μ + L·ε
        let sum = gaussMean[r];
        for (let c = 0; c <= r; c++) sum += cholesky[r][c] * e[c];
        z[r] = sum;
      }
      commit(z, 'a sample from the Gaussian fitted to the training codes, decoded');
    });
    byId('ex-sample-prior').addEventListener('click', function () {
      commit(Float32Array.from({ length: Z }, normal), 'a sample from N(0, I), decoded');
    });
    byId('ex-sample-note').textContent = data.kind === 'vae'
      ? 'A VAE is trained to make its codes look like N(0, I), so both kinds of sample should decode to digits.'
      : 'A plain autoencoder is not trained towards N(0, I): its samples often decode to no digit at all, while the Gaussian fitted to the training codes samples where codes live.';
    if (data.diffusion) {
      const p = data.diffusion, button = byId('ex-sample-diffusion');
      button.hidden = false;
      button.addEventListener('click', function () {
        const fresh = () => Float32Array.from({ length: Z }, normal);
        commit(diffusionSample(fresh(), fresh), 'a sample of the diffusion prior (' + p.walk + ' from fresh noise), decoded');
      });
      byId('ex-sample-note').textContent += ' "sample (diffusion)" runs the diffusion prior fitted in this run here in the page: its ε-network ' +
        p.network + ' (' + p.nonlinearity + '), ' + p.walk + ', from Gaussian noise to a code, then the decoder.';
    }
  }

  // The row of STEPS digits on the straight line from A's code to B's, each a
  // button: it shows its code large (and on the map), and stays highlighted.
  function drawInterpolation() {
    const box = byId('ex-interp');
    box.textContent = '';
    if (state.picks.length < 2) return;
    const [a, b] = state.picks.map(codeOf);
    const names = state.picks.map((i) => 'test digit #' + i + ' (' + className(i) + ')');
    for (let s = 0; s < STEPS; s++) {
      const t = s / (STEPS - 1), code = new Float32Array(data.Z);
      for (let z = 0; z < data.Z; z++) code[z] = (1 - t) * a[z] + t * b[z];
      const cell = document.createElement('button');
      cell.type = 'button';
      cell.className = 'ex-cell';
      cell.setAttribute('aria-pressed', 'false');
      const canvas = digitCanvas(document.createElement('canvas'), 2);
      canvas.setAttribute('aria-hidden', 'true');
      drawDigit(canvas, decode(code));
      const caption = document.createElement('span');
      caption.textContent = s === 0 ? 'A' : s === STEPS - 1 ? 'B' : 't=' + t.toFixed(2);
      const what = 'the code at t = ' + t.toFixed(2) + ' on the line from A, ' + names[0] + ', to B, ' + names[1] + ', decoded';
      cell.setAttribute('aria-label', 'show large: ' + what);
      cell.addEventListener('click', function () {
        for (const other of box.querySelectorAll('.ex-cell')) other.setAttribute('aria-pressed', String(other === cell));
        commit(code, what);
        const big = byId('ex-digit').getBoundingClientRect();
        if (big.top < 0 || big.bottom > window.innerHeight) byId('ex-shown').scrollIntoView({ block: 'nearest' });
      });
      cell.append(canvas, caption);
      box.append(cell);
    }
    const note = document.createElement('p');
    note.className = 'ex-note';
    note.textContent = 'A: ' + names[0] + '; B: ' + names[1] + '.';
    box.append(note);
  }

  // ---- 7. Start, and the self-test --------------------------------------------
  // The first test point whose class differs from point 0's (0 if there is none).
  function firstOfOtherClass() {
    for (let i = 1; i < data.N; i++) if (data.labels[i] !== data.labels[0]) return i;
    return 0;
  }
  // Two map points whose digits differ: the centres (mean map positions) of those two
  // points' classes; with a single class, two points of the map's middle row.
  function probePoints() {
    const other = firstOfOtherClass();
    if (other === 0) return [0.3, 0.7].map((f) => toMap([f * view.size, 0.5 * view.size]));
    return [data.labels[0], data.labels[other]].map(function (c) {
      let x = 0, y = 0, n = 0;
      for (let i = 0; i < data.N; i++) {
        if (data.labels[i] === c) { x += data.map[2 * i]; y += data.map[2 * i + 1]; n++; }
      }
      return [x / n, y / n];
    });
  }

  // A pointer event of `type` at map point p on the map canvas, as a browser sends it.
  function pointerAt(type, p, pointerType) {
    const canvas = byId('ex-map'), rect = canvas.getBoundingClientRect(), px = toPixel(p);
    canvas.dispatchEvent(new PointerEvent(type, {
      bubbles: true, cancelable: true, pointerId: pointerType === 'mouse' ? 1 : 2, isPrimary: true,
      pointerType: pointerType, clientX: rect.left + px[0] * rect.width / view.size,
      clientY: rect.top + px[1] * rect.height / view.size,
    }));
  }
  // The number a slider's readout shows ("−1.23σ" → -1.23).
  const readout = (k) => Number(state.sliders[k].output.textContent.replace('−', '-').replace(data.unit || '\u0000', ''));
  const distance = (a, b) => Math.max(...Array.from(a, (v, j) => Math.abs(v - b[j])));

  // Each check returns [ok, detail]; a check that throws fails with the error.
  function checks() {
    const list = [];
    const check = function (name, run) {
      let result;
      try { result = run(); } catch (e) { result = [false, 'threw ' + (e && e.stack || e)]; }
      list.push({ name: name, ok: !!result[0], detail: String(result[1]) });
    };
    const report = { probes: [] };
    check('parity with the Rust decoder ≤ 1e-4', () => [parity <= 1e-4, 'largest pixel difference ' + parity]);
    if (data.diffusion) {
      check('diffusion sampler parity with the Rust sampler ≤ 1e-4', () => [diffusionParity <= 1e-4,
        'largest pixel difference ' + diffusionParity + ' on ' + data.diffusion.parity.count + ' samples, ' + data.diffusion.walk]);
      check('the sample (diffusion) button decodes a new code', function () {
        const before = state.code;
        byId('ex-sample-diffusion').click();
        const digit = state.shown.digit, code = state.code;
        const fine = Array.from(digit).every((v) => v >= 0 && v <= 1) && Array.from(code).every(Number.isFinite);
        const moved = distance(code, before);
        report.diffusionSample = { code: Array.from(code), digit: Array.from(digit) };
        return [fine && moved > 0 && state.caption.includes('diffusion'),
                'caption "' + state.caption + '"; the code moved by ' + moved.toExponential(2) + (fine ? '' : '; a pixel outside [0, 1] or a code not finite')];
      });
    }
    check('no error, no blocked request, no resource fetched', function () {
      const resources = performance.getEntriesByType('resource').length;
      return [errors.length === 0 && violations.length === 0 && resources === 0,
              errors.length + ' errors, ' + violations.length + ' blocked requests, ' + resources + ' resources'];
    });
    check('a mouse over two class centres decodes two digits', function () {
      report.probes = probePoints().map(function (p) {
        pointerAt('pointermove', p, 'mouse');
        return { point: p, code: Array.from(state.shown.code), digit: Array.from(state.shown.digit) };
      });
      pointerAt('pointerleave', [0, 0], 'mouse');
      const apart = distance(report.probes[0].digit, report.probes[1].digit);
      return [apart > 1e-3, 'largest pixel difference between them ' + apart.toExponential(2)];
    });
    // The map's extreme test points: the pointer over each must give readouts that
    // grow the way the axis labels point (x to the right, y up), equal to the point's own.
    check('the map\'s axes are the sliders named on its axis labels', function () {
      const labels = [byId('ex-axis-x').textContent, byId('ex-axis-y').textContent];
      const named = labels.map((l) => data.names.findIndex((n) => l.startsWith(n + ' ')));
      if (named[0] !== 0 || (MAP_AXES() > 1 && named[1] !== 1)) return [false, 'axis labels ' + labels.join(' / ') + ' name sliders ' + named];
      const extreme = [0, 1].slice(0, MAP_AXES()).map(function (k) {
        let lo = 0, hi = 0;
        for (let i = 1; i < data.N; i++) {
          if (data.map[2 * i + k] < data.map[2 * lo + k]) lo = i;
          if (data.map[2 * i + k] > data.map[2 * hi + k]) hi = i;
        }
        return [lo, hi];
      });
      const tolerance = [0, 1].map((k) => 1 / scaleOf(k) + 0.006);  // a pixel, and the readout's rounding
      const notes = [];
      let ok = true;
      extreme.forEach(function ([lo, hi], k) {
        const read = [lo, hi].map(function (i) {
          pointerAt('pointermove', mapPoint(i), 'mouse');
          return readout(k);
        });
        const own = [lo, hi].map((i) => data.map[2 * i + k]);
        const grows = read[1] > read[0];
        const equal = read.every((v, j) => Math.abs(v - own[j]) <= tolerance[k]);
        // With Z ≤ 2 the map is the code: the readout is the code's own number.
        const isCode = data.unit !== '' || [lo, hi].every((i, j) => Math.abs(read[j] - codeOf(i)[k]) <= tolerance[k]);
        ok = ok && grows && equal && isCode;
        notes.push(data.names[k] + ' reads ' + read.map(format).join(' at the ' + (k ? 'bottom' : 'left') + ' end, ') +
                   ' at the ' + (k ? 'top' : 'right') + ' end (points at ' + own.map(format).join(', ') + ')');
      });
      pointerAt('pointerleave', [0, 0], 'mouse');
      return [ok, notes.join('; ')];
    });
    check('a touch drag\'s last decode stays after the finger lifts', function () {
      const path = [0.3, 0.45, 0.6].map((f) => toMap([f * view.size, (1 - f) * view.size]));
      pointerAt('pointerdown', path[0], 'touch');
      pointerAt('pointermove', path[1], 'touch');
      pointerAt('pointermove', path[2], 'touch');
      pointerAt('pointerup', path[2], 'touch');
      pointerAt('pointerleave', path[2], 'touch');
      const expected = decode(mapToCode(path[2]));
      const drawn = digitCanvas(document.createElement('canvas'), byId('ex-digit').width / data.cols);
      drawDigit(drawn, expected);
      const pixels = (c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const a = pixels(drawn), b = pixels(byId('ex-digit'));
      let same = a.length === b.length;
      for (let j = 0; same && j < a.length; j++) same = a[j] === b[j];
      const kept = distance(state.code, mapToCode(path[2])) < 1e-6;
      return [same && kept, (same ? 'the large digit is' : 'the large digit is NOT') + ' the decode of the drag\'s last point; the current code is ' + (kept ? 'its code' : 'another code')];
    });
    check('arrow keys on the map move the code one visible step', function () {
      const map = byId('ex-map'), before = project(state.code), step = data.ranges[0].step;
      const right = before[0] + step <= data.ranges[0].max, key = right ? 'ArrowRight' : 'ArrowLeft';  // away from the edge
      map.focus();
      map.dispatchEvent(new KeyboardEvent('keydown', { key: key, bubbles: true, cancelable: true }));
      const after = project(state.code);
      const moved = (after[0] - before[0]) * (right ? 1 : -1);
      const focusable = document.activeElement === map;
      const cells = byId('ex-interp').querySelectorAll('button').length;
      // A step is visible: at least 1/200 of its slider's range, and at least 0.01 (the readout's last digit).
      const visible = state.sliders.every((s) => Number(s.input.step) >= Math.max(0.01, (s.input.max - s.input.min) / 200));
      return [focusable && Math.abs(moved - step) < 1e-3 * Math.max(1, step) && Math.abs(after[1] - before[1]) < 1e-3 && cells === STEPS && visible,
              key + ' moved ' + data.names[0] + ' by ' + moved.toFixed(3) + ' (step ' + step + '); the map ' + (focusable ? 'takes' : 'does NOT take') +
              ' focus; ' + cells + ' interpolation buttons; slider steps ' + state.sliders.map((s) => s.input.step).join(', ')];
    });
    check('the map stays square in a 360 px wide window, and nothing is wider', function () {
      const root = document.documentElement, old = root.style.width;
      root.style.width = '360px';
      const rect = byId('ex-map').getBoundingClientRect(), left = root.getBoundingClientRect().left;
      // Everything but the contents of sideways-scrolling boxes (the metrics table, <pre>).
      const widest = Array.from(document.querySelectorAll('body *'))
        .filter((e) => e.parentElement.closest('.scroll-x, pre') === null)
        .reduce((m, e) => Math.max(m, e.getBoundingClientRect().right - left), 0);
      root.style.width = old;
      return [Math.abs(rect.width - rect.height) < 1 && rect.width <= 360 && rect.width >= 200 && widest <= 360.5,
              'map ' + rect.width.toFixed(1) + ' × ' + rect.height.toFixed(1) + ' px; the rightmost element ends at ' + widest.toFixed(1) + ' px'];
    });
    check('every image has a descriptive alt text', function () {
      const bad = [];
      for (const img of document.images) {
        const alt = img.getAttribute('alt') || '';
        if (alt.split(/\s+/).length < 4 || /\.(png|gif|jpe?g)$/i.test(alt.trim())) bad.push('img "' + alt + '"');
      }
      for (const c of document.querySelectorAll('canvas')) {
        if (c.getAttribute('aria-hidden') === 'true' || c.closest('[aria-hidden="true"]')) continue;
        const label = c.getAttribute('aria-label') || '';
        if (label.split(/\s+/).length < 3) bad.push('canvas #' + c.id + ' "' + label + '"');
      }
      return [bad.length === 0, document.images.length + ' images and ' + document.querySelectorAll('canvas').length + ' canvases' + (bad.length ? '; without: ' + bad.join(', ') : '')];
    });
    return { list: list, report: report };
  }

  function selfTest() {
    const saved = { code: state.code, caption: state.caption, picks: state.picks.slice() };
    let outcome;
    try {
      outcome = checks();
    } catch (e) {
      outcome = { list: [{ name: 'the self-test ran', ok: false, detail: String(e && e.stack || e) }], report: { probes: [] } };
    }
    try {  // back to what the user had
      state.picks = saved.picks;
      drawInterpolation();
      commit(saved.code, saved.caption);
    } catch (e) {
      errors.push('self-test restore: ' + e);
    }
    const pass = outcome.list.every((c) => c.ok);
    const report = {
      verdict: pass ? 'PASS' : 'FAIL', parity: parity, diffusionParity: diffusionParity,
      diffusionSample: outcome.report.diffusionSample || null, errors: errors, violations: violations,
      resources: performance.getEntriesByType('resource').length, checks: outcome.list, probes: outcome.report.probes,
    };
    let box = byId('selftest');
    if (!box) {
      box = document.createElement('section');
      box.id = 'selftest';
      box.setAttribute('role', 'status');
      document.body.prepend(box);
    }
    box.textContent = '';
    const line = document.createElement('p');
    line.id = 'selftest-verdict';
    line.className = pass ? 'ex-ok' : 'ex-bad';
    line.textContent = 'SELF-TEST ' + report.verdict + ' · parity ' + (parity === null ? 'none' : parity.toExponential(1)) +
                       ' · ' + outcome.list.filter((c) => c.ok).length + ' of ' + outcome.list.length + ' checks passed';
    const items = document.createElement('ul');
    for (const c of outcome.list) {
      const item = document.createElement('li');
      item.textContent = (c.ok ? 'ok — ' : 'FAIL — ') + c.name + ': ' + c.detail;
      items.append(item);
    }
    const again = document.createElement('button');
    again.type = 'button';
    again.textContent = 'run the self-test again';
    again.addEventListener('click', selfTest);
    const json = document.createElement('script');
    json.type = 'application/json';
    json.id = 'selftest-json';
    json.textContent = JSON.stringify(report).replace(/</g, '\\u003c');
    box.append(line, items, again, json);
    box.scrollIntoView({ block: 'start' });
  }

  function start() {
    data = readData();
    data.map = new Float32Array(2 * data.N);
    for (let i = 0; i < data.N; i++) data.map.set(project(codeOf(i)), 2 * i);
    data.residual = residuals();
    data.ranges = sliderRanges();
    const arch = data.layers.map((l) => (l.conv ? l.conv.out_channels + '×' + l.conv.out_side + '×' + l.conv.out_side +
      ' by transposed convolution' : l.O) + ' (' + l.activation + ')');
    byId('ex-arch').textContent = data.Z + ' → ' + arch.join(' → ');
    byId('ex-map-hint').textContent = data.Z > 2
      ? 'Axes: PC 1 and PC 2, the first two principal directions of these ' + data.N + ' test codes, in standard deviations: the first two sliders ' +
        '(latent_pca.png shows the same codes turned to follow training, so it may face another way). A map point fixes only those two coordinates; ' +
        'the code\'s other ' + (data.Z - 2) + ' directions are an inverse-distance blend of the residuals of the ' + K_NEAREST + ' nearest test codes ' +
        '(the parts the map cannot show), so a test point gives back its own code.'
      : 'The code has ' + data.Z + (data.Z === 1 ? ' number' : ' numbers') + ', so the map is the code itself: z1 to the right' +
        (data.Z === 2 ? ' and z2 up, as in manifold.png' : '') + '. Every map point is a whole code; the sliders are its numbers.';
    const bytes = data.layers.reduce((n, l) => n + 4 * (l.W.length + l.b.length), 0);
    const prior = data.diffusion ? data.diffusion.layers.reduce((n, l) => n + 4 * (l.W.length + l.b.length), 0) : 0;
    byId('ex-weights').textContent = 'base64 little-endian f32, ' + (bytes / 1e6).toFixed(2) + ' MB of weights' +
      (prior ? ', and ' + (prior / 1e6).toFixed(2) + ' MB for the diffusion prior\'s ε-network' : '');
    digitCanvas(byId('ex-digit'), Math.max(1, Math.floor(252 / Math.max(data.rows, data.cols))));
    parity = checkParity();
    if (data.diffusion) {
      diffusionParity = checkDiffusionParity();
      window.mnistExplorer = { diffusionPixels: diffusionPixels };
    }
    setupMap();
    setupSliders();
    setupSamples();
    pick(0);                     // start with A = test point 0, B = one of another class
    pick(firstOfOtherClass());
  }
  function startOrSay() {
    try {
      start();
    } catch (e) {  // say so on the page too; the error still reaches the console
      byId('ex-caption').textContent = 'The explorer failed: ' + e.message;
      throw e;
    }
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', startOrSay);
  else startOrSay();
})();
