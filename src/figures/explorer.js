// Latent explorer for report.html: this run's own decoder, run in the browser.
// Plain JavaScript, no library, no network. It reads the JSON in
// <script type="application/json" id="explorer-data"> and draws into the
// elements of explorer.html (ids starting with "ex-", and "parity").
// With #selftest at the end of the page's address it also writes a JSON report
// of its own checks into a <pre> element with id "selftest" (tests/browser.rs).
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
  if (location.hash === '#selftest') {
    const later = function () { setTimeout(selfTest, 50); };
    if (document.readyState === 'complete') later(); else window.addEventListener('load', later);
  }

  const K_NEAREST = 8;     // test codes blended into a map point's code
  const STEPS = 10;        // digits in the interpolation row
  const TABLEAU = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
                   '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  let data = null;         // everything read from the page, see readData()
  let parity = null;       // largest |page decoder − Rust decoder| over the parity codes

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
      expect(l.inputs === width, l.name + ' takes ' + l.inputs + ' inputs after a layer of ' + width);
      expect(l.activation in ACTIVATIONS, l.name + ': unknown activation ' + l.activation);
      width = l.outputs;
      return { name: l.name, I: l.inputs, O: l.outputs, activation: l.activation,
               W: floats(l.weight, l.inputs * l.outputs, l.name + '.weight'),
               b: floats(l.bias, l.outputs, l.name + '.bias') };
    });
    expect(width === D, 'the decoder ends with ' + width + ' outputs, the image has ' + D);
    const vectors = [d.mean, d.gaussian.mean, ...d.map_axes, ...d.directions, ...d.gaussian.cholesky, ...d.parity.codes];
    expect(vectors.every((v) => v.length === Z), 'mean, map_axes, directions, gaussian or parity holds a vector not of length Z');
    expect(d.map_axes.length === 2 && d.direction_scales.length === d.directions.length, 'map_axes or direction_scales');
    const parityCodes = d.parity.codes.map(f32);
    return {
      kind: d.kind, Z: Z, rows: rows, cols: cols, D: D, N: N, layers: layers,
      classes: d.classes, labels: Int32Array.from(d.points.labels),
      codes: floats(d.points.codes, N * Z, 'points.codes'),
      map: floats(d.points.map, N * 2, 'points.map'),
      axes: d.map_axes.map(f32), mean: f32(d.mean),
      directions: d.directions.map(f32), scales: f32(d.direction_scales),
      gaussMean: f32(d.gaussian.mean), cholesky: d.gaussian.cholesky.map(f32),
      parityCodes: parityCodes,
      parityOutputs: floats(d.parity.outputs, parityCodes.length * D, 'parity.outputs'),
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

  // A code (length Z) → an image (length D = rows·cols, grey levels in [0, 1]).
  function decode(code) {
    let x = code;
    for (const layer of data.layers) {
      x = ACTIVATIONS[layer.activation](dense(x, layer.W, layer.b, layer.I, layer.O));
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

  // ---- 4. From a point of the 2-D map to a full code --------------------------
  // The map shows code_i as map_i = (code_i − mean)·Aᵀ (A = map_axes, 2×Z). The
  // residual r_i = code_i − mean − map_i·A is the part of the code the map cannot show.
  function residuals() {
    const { N, Z, codes, map, mean, axes } = data;
    const r = new Float32Array(N * Z);
    for (let i = 0; i < N; i++) {
      for (let z = 0; z < Z; z++) {
        r[i * Z + z] = codes[i * Z + z] - mean[z] - map[2 * i] * axes[0][z] - map[2 * i + 1] * axes[1][z];
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

  // code(p) = mean + p₁a₁ + p₂a₂ + Σ wᵢrᵢ / Σ wᵢ over the K_NEAREST nearest test
  // points, wᵢ = 1 / distance. Residuals are orthogonal to the map axes, so the
  // code still lands on p; on a test point it is that point's own code.
  function mapToCode(p) {
    const { Z, mean, axes, residual } = data;
    const near = nearest(p, K_NEAREST);
    const blend = new Float64Array(Z);
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
    const code = new Float32Array(Z);
    for (let z = 0; z < Z; z++) code[z] = mean[z] + p[0] * axes[0][z] + p[1] * axes[1][z] + blend[z];
    return code;
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

  // Map coordinates ↔ canvas pixels (CSS pixels, y upwards on the map): the points'
  // bounding box, 4% bigger, fills the canvas inside a margin.
  const view = { size: 440, margin: 14, x0: 0, y0: 0, sx: 1, sy: 1 };
  function setView(size) {
    const xs = data.map.filter((_, k) => k % 2 === 0), ys = data.map.filter((_, k) => k % 2 === 1);
    const min = (v) => v.reduce((a, b) => Math.min(a, b)), max = (v) => v.reduce((a, b) => Math.max(a, b));
    const box = [min(xs), max(xs), min(ys), max(ys)];
    const padX = 0.04 * (box[1] - box[0] || 1), padY = 0.04 * (box[3] - box[2] || 1);
    const inner = size - 2 * view.margin;
    Object.assign(view, { size: size, x0: box[0] - padX, y0: box[2] - padY,
                          sx: inner / (box[1] - box[0] + 2 * padX), sy: inner / (box[3] - box[2] + 2 * padY) });
  }
  const toPixel = (p) => [view.margin + (p[0] - view.x0) * view.sx, view.size - view.margin - (p[1] - view.y0) * view.sy];
  const toMap = (px) => [view.x0 + (px[0] - view.margin) / view.sx, view.y0 + (view.size - view.margin - px[1]) / view.sy];
  const mapPoint = (i) => [data.map[2 * i], data.map[2 * i + 1]];

  // The points go once onto an off-screen canvas; each frame copies it and adds marks.
  const background = document.createElement('canvas');
  function drawPoints(canvas) {
    const dpr = window.devicePixelRatio || 1;
    setView(canvas.width);
    canvas.width = canvas.height = background.width = background.height = Math.round(view.size * dpr);
    const ctx = background.getContext('2d');
    ctx.scale(dpr, dpr);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, view.size, view.size);
    ctx.globalAlpha = 0.75;
    for (let i = 0; i < data.N; i++) {
      const [x, y] = toPixel(mapPoint(i));
      ctx.fillStyle = classColour(data.labels[i]);
      ctx.beginPath(); ctx.arc(x, y, 2.5, 0, 2 * Math.PI); ctx.fill();
    }
    ctx.globalAlpha = 1;
    ctx.fillStyle = '#777';
    ctx.font = '12px sans-serif';
    ctx.fillText('PC 1 →', view.size - 52, view.size - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText('PC 2 →', -52, 11);
  }

  // Copies the points, then rings A and B, and a cross at the pointer (if any).
  function drawMap(pointer) {
    const ctx = byId('ex-map').getContext('2d'), dpr = background.width / view.size;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(background, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.lineWidth = 2;
    ctx.font = 'bold 13px sans-serif';
    ctx.strokeStyle = ctx.fillStyle = '#000';
    state.picks.forEach(function (i, n) {
      const [x, y] = toPixel(mapPoint(i));
      ctx.beginPath(); ctx.arc(x, y, 7, 0, 2 * Math.PI); ctx.stroke();
      ctx.fillText(n === state.picks.length - 1 ? 'B' : 'A', x + 9, y - 7);
    });
    if (pointer) {
      const [x, y] = toPixel(pointer);
      ctx.strokeStyle = '#d00';
      ctx.beginPath(); ctx.moveTo(x - 10, y); ctx.lineTo(x + 10, y); ctx.moveTo(x, y - 10); ctx.lineTo(x, y + 10); ctx.stroke();
    }
  }

  // ---- 6. What is shown, and the controls that change it ----------------------
  // state.code is the code the sliders edit; hovering the map shows other codes
  // for a moment, and leaving the map shows state.code again.
  const state = { code: null, caption: '', picks: [], sliders: [], editing: null };
  const label = (i) => 'test digit #' + i + ' (class ' + data.classes[data.labels[i]] + ')';
  const codeOf = (i) => data.codes.slice(i * data.Z, (i + 1) * data.Z);

  function show(code, caption) {
    state.code = code;
    state.caption = caption;
    drawDigit(byId('ex-digit'), decode(code));
    byId('ex-caption').textContent = caption;
    for (const s of state.sliders) s.sync();
  }

  // The pointer's path: decode map point p and draw it. The self-test calls this too.
  function hoverAt(p) {
    const code = mapToCode(p);
    const digit = decode(code);
    drawDigit(byId('ex-digit'), digit);
    byId('ex-caption').textContent = 'map point (' + p[0].toFixed(2) + ', ' + p[1].toFixed(2) + ')';
    drawMap(p);
    return { point: p, code: Array.from(code), digit: Array.from(digit) };
  }

  // A click picks the test point nearest to it: its code goes to the digit and
  // the sliders, and it becomes B of the interpolation (the old B becomes A).
  function pick(i) {
    state.picks = state.picks.concat([i]).slice(-2);
    show(codeOf(i), label(i));
    drawMap(null);
    drawInterpolation();
  }

  function setupMap() {
    const canvas = byId('ex-map');
    drawPoints(canvas);
    drawMap(null);
    const at = function (event) {
      const rect = canvas.getBoundingClientRect();
      return toMap([(event.clientX - rect.left) * view.size / rect.width,
                    (event.clientY - rect.top) * view.size / rect.height]);
    };
    let down = null;   // where a press started, to tell a click from a drag
    canvas.addEventListener('pointermove', function (event) { hoverAt(at(event)); });
    canvas.addEventListener('pointerdown', function (event) { down = [event.clientX, event.clientY]; });
    canvas.addEventListener('pointerup', function (event) {
      if (down && Math.hypot(event.clientX - down[0], event.clientY - down[1]) < 5) {
        pick(nearest(at(event), 1)[0].i);
      }
      down = null;
    });
    canvas.addEventListener('pointerleave', function () {
      drawMap(null);
      show(state.code, state.caption);
    });
    data.classes.forEach(function (name, c) {  // the legend: a coloured dot and the name
      const item = document.createElement('span'), dot = document.createElement('i');
      dot.style.background = classColour(c);
      item.append(dot, name);
      byId('ex-legend').append(item);
    });
  }

  // One slider: get(code) reads its value off a code, set(code, v) returns a new code.
  function addSlider(parent, name, title, unit, get, set) {
    const row = document.createElement('label');
    row.title = title;
    const input = document.createElement('input');
    Object.assign(input, { type: 'range', min: -3, max: 3, step: 0.01 });
    const value = document.createElement('output');
    const sync = function () {
      const v = get(state.code);
      if (state.editing !== input) input.value = v;  // not under the user's finger
      value.textContent = (v >= 0 ? '+' : '') + v.toFixed(2) + unit;
    };
    input.addEventListener('input', function () {
      state.editing = input;
      show(set(state.code, Number(input.value)), 'code edited with the sliders');
      state.editing = null;
    });
    row.append(name, input, value);
    parent.append(row);
    state.sliders.push({ sync: sync });
  }

  function setupSliders() {
    const box = byId('ex-sliders');
    const { Z, mean, directions, scales } = data;
    directions.forEach(function (d, j) {
      const s = scales[j] > 0 ? scales[j] : 1;
      // Coordinate along direction j in standard deviations: (code − mean)·d / s.
      const get = function (code) {
        let t = 0;
        for (let z = 0; z < Z; z++) t += (code[z] - mean[z]) * d[z];
        return t / s;
      };
      // Moves the code along d only (the directions are orthonormal).
      const set = function (code, t) {
        const step = (t - get(code)) * s, out = new Float32Array(Z);
        for (let z = 0; z < Z; z++) out[z] = code[z] + step * d[z];
        return out;
      };
      addSlider(box, 'PC ' + (j + 1), 'principal direction ' + (j + 1) + ' of the test codes, σ = ' + s.toPrecision(3), 'σ', get, set);
    });
    if (data.kind === 'vae' && Z <= 8) {  // a VAE's prior is N(0, I): each unit on its own
      for (let u = 0; u < Z; u++) {
        addSlider(box, 'z' + (u + 1), 'latent unit ' + (u + 1), '', (code) => code[u], function (code, v) {
          const out = Float32Array.from(code);
          out[u] = v;
          return out;
        });
      }
    }
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
      show(z, 'sample from the Gaussian fitted to the test codes');
    });
    byId('ex-sample-prior').addEventListener('click', function () {
      show(Float32Array.from({ length: Z }, normal), 'sample from N(0, I)');
    });
    byId('ex-sample-note').textContent = data.kind === 'vae'
      ? 'A VAE is trained to make its codes look like N(0, I), so both kinds of sample should decode to digits.'
      : 'A plain autoencoder is not trained towards N(0, I): its samples often decode to no digit at all, while the fitted Gaussian follows the test codes.';
  }

  // The row of STEPS digits on the straight line from A's code to B's.
  function drawInterpolation() {
    const box = byId('ex-interp');
    box.textContent = '';
    if (state.picks.length < 2) return;
    const [a, b] = state.picks.map(codeOf);
    for (let s = 0; s < STEPS; s++) {
      const t = s / (STEPS - 1), code = new Float32Array(data.Z);
      for (let z = 0; z < data.Z; z++) code[z] = (1 - t) * a[z] + t * b[z];
      const cell = document.createElement('figure');
      const canvas = digitCanvas(document.createElement('canvas'), 2);
      drawDigit(canvas, decode(code));
      const caption = document.createElement('figcaption');
      caption.textContent = s === 0 ? 'A' : s === STEPS - 1 ? 'B' : 't=' + t.toFixed(2);
      cell.title = 'click to show it large';
      cell.addEventListener('click', () => show(code, 'interpolation, t = ' + t.toFixed(2) + ' from A to B'));
      cell.append(canvas, caption);
      box.append(cell);
    }
    const note = document.createElement('p');
    note.className = 'ex-note';
    note.textContent = 'A: ' + label(state.picks[0]) + ', B: ' + label(state.picks[1]);
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

  function selfTest() {
    const report = { parity: parity, errors: errors, violations: violations, resources: 0, probes: [] };
    try {
      report.resources = performance.getEntriesByType('resource').length;
      report.probes = probePoints().map(hoverAt);
    } catch (e) {
      errors.push('self-test: ' + (e && e.stack || e));
    }
    const pre = byId('selftest') || document.body.appendChild(document.createElement('pre'));
    pre.id = 'selftest';
    pre.textContent = JSON.stringify(report);
  }

  function start() {
    data = readData();
    data.residual = residuals();
    const arch = data.layers.map((l) => l.O + ' (' + l.activation + ')');
    byId('ex-arch').textContent = data.Z + ' → ' + arch.join(' → ');
    byId('ex-rest').textContent = String(Math.max(0, data.Z - 2));
    const bytes = data.layers.reduce((n, l) => n + 4 * (l.W.length + l.b.length), 0);
    byId('ex-weights').textContent = 'base64 little-endian f32, ' + (bytes / 1e6).toFixed(2) + ' MB of weights';
    digitCanvas(byId('ex-digit'), Math.max(1, Math.floor(252 / Math.max(data.rows, data.cols))));
    parity = checkParity();
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
