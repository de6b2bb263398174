// The playground page: one training session per tab, drawn from what the server's engine computes.
// Plain JavaScript, no library, nothing fetched but this server's own API.
"use strict";

const $ = (id) => document.getElementById(id);
const SELECTS = ["dataset", "hidden_activation", "output_activation", "loss", "init", "optimizer"];
// The same diverging colours as the train figures: class 0 blue, class 1 red, white at the 0.5 decision level.
const BLUE = [33, 102, 172], WHITE = [247, 247, 247], RED = [178, 24, 43];
const CLASS_COLOURS = ["#2166ac", "#b2182b"];

const state = { id: null, info: null, view: null, losses: [], playing: false, selected: null, busy: false, rate: [] };

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.error || `HTTP ${response.status}`);
  return payload;
}

function showError(message) {
  const box = $("error");
  box.hidden = !message;
  box.textContent = message || "";
}

// --- settings ----------------------------------------------------------------

function settings() {
  const hidden = $("hidden").value.trim();
  const config = {
    hidden: hidden === "" ? [] : hidden.split(/[\s,]+/).map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
    lr: $("lr").value === "" ? null : Number($("lr").value),
    batch_size: $("batch_size").value === "" ? null : Number($("batch_size").value),
    seed: $("seed").value === "" ? 0 : Number($("seed").value),
  };
  for (const name of SELECTS) config[name] = $(name).value;
  return config;
}

function fillChoices(options) {
  for (const name of SELECTS) {
    const select = $(name);
    for (const value of options.choices[name]) select.add(new Option(value, value));
    select.value = options.defaults[name];
  }
  $("hidden").value = options.defaults.hidden.join(" ");
  $("lr").value = options.defaults.lr;
  $("seed").value = options.defaults.seed;
  $("speed").max = options.limits.max_epochs_per_step;
  $("engine").innerHTML = `engine: <b>backprop_xp</b> on <b>${options.backend}</b> (${options.device}), computed on the server`;
}

// --- sessions ----------------------------------------------------------------

function adopt(payload) {
  state.id = payload.id;
  state.info = payload.info;
  state.losses = [];
  state.rate = [];
  if (state.selected === null || state.selected > payload.info.sizes.length - 1) state.selected = payload.info.sizes.length - 1;
  show(payload.view);
}

async function reset() {
  pause();
  try {
    const payload = state.id === null ? await api("POST", "/api/sessions", settings())
                                      : await api("POST", `/api/sessions/${state.id}/reset`, settings());
    showError(null);
    adopt(payload);
  } catch (error) {
    showError(error.message);
  }
}

function setBusy(busy) {
  state.busy = busy;
  document.body.dataset.busy = busy ? "1" : "0";  // for whoever watches the page (the browser test)
}

async function step(epochs) {
  while (state.busy) await new Promise((resolve) => setTimeout(resolve, 5));  // a step asked mid-step waits its turn
  if (state.id === null) return false;
  setBusy(true);
  const started = performance.now();
  try {
    const payload = await api("POST", `/api/sessions/${state.id}/step`, { epochs });
    state.losses.push(...payload.losses);
    show(payload.view);
    state.rate.push(performance.now() - started);
    if (state.rate.length > 20) state.rate.shift();
    const mean = state.rate.reduce((a, b) => a + b, 0) / state.rate.length;
    $("rate").textContent = (1000 / mean).toFixed(0);
    if (payload.view.diverged) { pause(); showError(`Diverged: ${payload.view.diverged}`); }
    return true;
  } catch (error) {
    pause();
    showError(error.message);
    return false;
  } finally {
    setBusy(false);
  }
}

function speed() {
  const n = Math.round(Number($("speed").value));
  return Number.isFinite(n) && n >= 1 ? n : 1;
}

async function play() {
  if (state.playing) return;
  state.playing = true;
  $("play").disabled = true;
  $("pause").disabled = false;
  showError(null);
  while (state.playing) {
    if (!(await step(speed()))) break;
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
}

function pause() {
  state.playing = false;
  $("play").disabled = false;
  $("pause").disabled = true;
}

// --- drawing -----------------------------------------------------------------

function show(view) {
  state.view = view;
  $("epoch").textContent = view.epoch;
  const last = state.losses.length ? state.losses[state.losses.length - 1] : view.loss;
  $("loss-value").textContent = last === null ? "not finite" : last.toPrecision(4);
  drawBoundary();
  drawLosses();
  drawLayers();
  drawNetwork();
  drawEquation();
}

// The colour scale is fixed by the output activation, never stretched to the values the network
// happens to output: sigmoid and softmax [0, 1], tanh [-1, 1]; relu and identity [0, 1], clipped.
function scaleRange() {
  return state.info.activations[state.info.activations.length - 1] === "tanh" ? [-1, 1] : [0, 1];
}

function colour(value) {
  if (value === null) return [150, 150, 150];  // not finite: the server sends null
  const [low, high] = scaleRange();
  const v = Math.min(high, Math.max(low, value));
  const [from, to, t] = v < 0.5 ? [BLUE, WHITE, (v - low) / (0.5 - low)] : [WHITE, RED, (v - 0.5) / (high - 0.5)];
  return from.map((c, i) => Math.round(c + (to[i] - c) * t));
}

function drawScale() {
  const canvas = $("scale"), ctx = canvas.getContext("2d");
  const [low, high] = scaleRange();
  for (let x = 0; x < canvas.width; x++) {
    const value = low + (high - low) * (x / (canvas.width - 1));
    ctx.fillStyle = `rgb(${colour(value).join(",")})`;
    ctx.fillRect(x, 0, 1, canvas.height);
  }
  const half = ((0.5 - low) / (high - low)) * canvas.width;
  ctx.fillStyle = "#111";
  ctx.fillRect(half - 1, 0, 2, canvas.height);
  $("scale-low").textContent = low;
  $("scale-high").textContent = high;
  const act = state.info.activations[state.info.activations.length - 1];
  $("scale-what").textContent = act === "softmax" ? "softmax, P(class 1)" : ["relu", "identity"].includes(act) ? `${act}, clipped to [0, 1]` : act;
}

function drawBoundary() {
  const canvas = $("boundary"), ctx = canvas.getContext("2d");
  const n = state.info.config.grid, grid = state.view.grid;
  const [x0, x1, y0, y1] = state.info.extent;
  // The grid's row i is the i-th y from the bottom; the canvas counts rows from the top.
  const image = new ImageData(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const [r, g, b] = colour(grid[i * n + j]);
      const k = 4 * ((n - 1 - i) * n + j);
      image.data[k] = r; image.data[k + 1] = g; image.data[k + 2] = b; image.data[k + 3] = 255;
    }
  }
  const small = document.createElement("canvas");
  small.width = n; small.height = n;
  small.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  // Each grid value is the colour at a pixel centre: the image spans half a cell beyond the grid's ends.
  const cell = canvas.width / (n - 1);
  ctx.drawImage(small, -cell / 2, -cell / 2, canvas.width + cell, canvas.height + cell);

  const px = (x) => ((x - x0) / (x1 - x0)) * canvas.width;
  const py = (y) => canvas.height - ((y - y0) / (y1 - y0)) * canvas.height;
  const crossings = drawLevel(ctx, grid, n, 0.5, (j) => (j / (n - 1)) * canvas.width, (i) => canvas.height - (i / (n - 1)) * canvas.height);
  $("level-note").textContent = crossings ? "" : "The output does not reach 0.5 anywhere in this window yet: no decision level to draw.";

  state.info.points.forEach(([x, y], k) => {
    const label = state.info.labels[k];
    ctx.beginPath();
    if (label === 0) ctx.arc(px(x), py(y), 5, 0, 2 * Math.PI);
    else ctx.rect(px(x) - 4.5, py(y) - 4.5, 9, 9);
    // A white halo, the class colour, then a dark rim: readable on any colour of the plane.
    ctx.lineWidth = 5; ctx.strokeStyle = "#fff"; ctx.stroke();
    ctx.fillStyle = CLASS_COLOURS[label]; ctx.fill();
    ctx.lineWidth = 1.2; ctx.strokeStyle = "#111"; ctx.stroke();
  });
  drawScale();
}

// Marching squares: the segments where the grid crosses `level`, linearly interpolated along cell edges.
function drawLevel(ctx, grid, n, level, X, Y) {
  let count = 0;
  ctx.beginPath();
  const at = (i, j) => grid[i * n + j];
  const lerp = (a, b) => (level - a) / (b - a);
  for (let i = 0; i < n - 1; i++) {
    for (let j = 0; j < n - 1; j++) {
      const a = at(i, j), b = at(i, j + 1), c = at(i + 1, j + 1), d = at(i + 1, j);
      const points = [];
      if ((a < level) !== (b < level)) points.push([X(j + lerp(a, b)), Y(i)]);
      if ((b < level) !== (c < level)) points.push([X(j + 1), Y(i + lerp(b, c))]);
      if ((d < level) !== (c < level)) points.push([X(j + lerp(d, c)), Y(i + 1)]);
      if ((a < level) !== (d < level)) points.push([X(j), Y(i + lerp(a, d))]);
      for (let k = 0; k + 1 < points.length; k += 2) {
        ctx.moveTo(...points[k]); ctx.lineTo(...points[k + 1]);
        count++;
      }
    }
  }
  ctx.lineWidth = 2; ctx.strokeStyle = "#111"; ctx.stroke();
  return count;
}

function drawLosses() {
  const canvas = $("losses"), ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, left = 52, right = 10, top = 10, bottom = 30;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui, sans-serif";
  const losses = state.losses.filter((v) => v > 0);
  let lo = -4, hi = 0;
  if (losses.length) {
    lo = Math.floor(Math.log10(Math.min(...losses)));
    hi = Math.ceil(Math.log10(Math.max(...losses)));
    if (hi === lo) hi = lo + 1;
  }
  const epochs = Math.max(state.losses.length, 10);
  const x = (e) => left + ((e - 1) / Math.max(epochs - 1, 1)) * (W - left - right);
  const y = (v) => top + ((hi - Math.log10(v)) / (hi - lo)) * (H - top - bottom);
  ctx.strokeStyle = "#e3e7eb"; ctx.fillStyle = "#5b6570"; ctx.lineWidth = 1;
  for (let p = lo; p <= hi; p++) {
    ctx.beginPath(); ctx.moveTo(left, y(10 ** p)); ctx.lineTo(W - right, y(10 ** p)); ctx.stroke();
    ctx.textAlign = "right"; ctx.fillText(`1e${p}`, left - 6, y(10 ** p) + 4);
  }
  ctx.textAlign = "center";
  ctx.fillText("1", x(1), H - bottom + 16);
  ctx.fillText(String(epochs), x(epochs), H - bottom + 16);
  ctx.fillText("epoch", (left + W - right) / 2, H - 4);
  if (!losses.length) return;
  // At most one point per pixel column: the curve of 100 000 epochs costs what 400 do.
  const stride = Math.max(1, Math.floor(state.losses.length / (W - left - right)));
  ctx.beginPath();
  for (let e = 0; e < state.losses.length; e += stride) {
    const v = state.losses[e];
    if (v > 0) ctx.lineTo(x(e + 1), y(v));
  }
  ctx.lineTo(x(state.losses.length), y(state.losses[state.losses.length - 1]));
  ctx.strokeStyle = "#2166ac"; ctx.lineWidth = 1.8; ctx.stroke();
}

const BAR_LOW = -8, BAR_HIGH = 1;  // log10 range of the norm bars

const fmt = (value) => (value === null ? "not finite" : value.toExponential(2));

function bar(value) {
  if (value === null) return "not finite";
  const t = value > 0 ? (Math.log10(value) - BAR_LOW) / (BAR_HIGH - BAR_LOW) : 0;
  const width = Math.round(60 * Math.min(1, Math.max(0, t)));
  return `<span class="bar" style="width:${width}px"></span>${value.toExponential(2)}`;
}

function drawLayers() {
  const body = $("layers").tBodies[0];
  body.innerHTML = "";
  for (const layer of state.view.layers) {
    const row = body.insertRow();
    row.className = layer.layer === state.selected ? "selected" : "";
    row.innerHTML = `<td>${layer.layer} (${layer.activation})</td><td>${layer.n_in}&times;${layer.n_out}</td>` +
      `<td>${bar(layer.delta_norm)}</td><td>${bar(layer.dW_norm)}</td><td>${bar(layer.db_norm)}</td>`;
    row.addEventListener("click", () => select(layer.layer));
  }
}

function select(layer) {
  state.selected = layer;
  drawLayers();
  drawNetwork();
  drawEquation();
}

function drawNetwork() {
  const svg = $("network"), NS = "http://www.w3.org/2000/svg";
  const sizes = state.info.sizes, layers = state.view.layers;
  const W = 1180, H = 250, top = 16, bottom = 34;
  const gap = W / sizes.length;
  const cx = (l) => gap * (l + 0.5);
  const cy = (l, k) => top + ((k + 1) / (sizes[l] + 1)) * (H - top - bottom);
  const make = (tag, attrs) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    return el;
  };
  svg.innerHTML = "";
  // A clickable column per layer with weights (1..L), drawn first so that it sits behind the edges.
  for (let l = 1; l < sizes.length; l++) {
    const column = make("rect", { x: cx(l - 1), y: 2, width: gap, height: H - 4, rx: 6, class: "column" + (l === state.selected ? " selected" : "") });
    column.addEventListener("click", () => select(l));
    svg.appendChild(column);
  }
  const largest = Math.max(1e-12, ...layers.flatMap((layer) => layer.W.flat().map((w) => Math.abs(w ?? 0))));
  layers.forEach((layer, l) => {
    layer.W.forEach((row, i) => row.forEach((w, j) => {
      if (w === null) return;
      const line = make("line", {
        x1: cx(l), y1: cy(l, i), x2: cx(l + 1), y2: cy(l + 1, j),
        stroke: w >= 0 ? "#e08214" : "#5e3c99", "stroke-width": (0.4 + 5 * Math.abs(w) / largest).toFixed(2),
        "stroke-opacity": (0.25 + 0.75 * Math.abs(w) / largest).toFixed(2), "pointer-events": "none",
      });
      line.appendChild(make("title", {})).textContent = `W${l + 1}[${i},${j}] = ${w}`;
      svg.appendChild(line);
    }));
  });
  sizes.forEach((size, l) => {
    const r = Math.min(8, 0.4 * (H - top - bottom) / (size + 1));  // wide layers: nodes small enough not to touch
    for (let k = 0; k < size; k++) svg.appendChild(make("circle", { cx: cx(l), cy: cy(l, k), r: r.toFixed(1), class: "node", "pointer-events": "none" }));
    const name = l === 0 ? "input" : l === sizes.length - 1 ? `output, ${state.info.activations[l - 1]}` : state.info.activations[l - 1];
    const label = make("text", { x: cx(l), y: H - 14 });
    label.textContent = `A${l} (${size}): ${name}`;
    svg.appendChild(label);
  });
}

function drawEquation() {
  const l = state.selected, sizes = state.info.sizes, L = sizes.length - 1;
  const layer = state.view.layers[l - 1];
  const n = state.info.batch, h = (k) => sizes[k];
  const sub = (name, k) => `${name}<sub>${k}</sub>`;
  const shape = (...dims) => `<span class="shape">${dims.join(" ")}</span>`;
  const act = state.info.activations[l - 1];
  const fused = (act === "sigmoid" && state.info.loss_name === "binary_crossentropy") ||
                (act === "softmax" && state.info.loss_name === "categorical_crossentropy");
  const rows = [
    `<div class="eq">${sub("Z", l)} = ${sub("A", l - 1)} ${sub("W", l)} + ${sub("b", l)},&nbsp; ${sub("A", l)} = ${act}(${sub("Z", l)})` +
      shape(`(${n}&times;${h(l - 1)})(${h(l - 1)}&times;${h(l)}) + (${h(l)}) &rarr; (${n}&times;${h(l)})`) + "</div>",
    l === L
      ? `<div class="eq">${sub("&Delta;", l)} = ${fused ? `(${sub("A", l)} &minus; Y) / n` : `&part;Loss/&part;${sub("A", l)} &odot; ${act}&prime;(${sub("Z", l)})`}` +
        shape(`(${n}&times;${h(l)})`) + ` <span class="shape">the output layer (${state.info.loss_name})</span></div>`
      : `<div class="eq">${sub("&Delta;", l)} = (${sub("&Delta;", l + 1)} ${sub("W", l + 1)}<sup>T</sup>) &odot; ${act}&prime;(${sub("Z", l)})` +
        shape(`(${n}&times;${h(l + 1)})(${h(l + 1)}&times;${h(l)}) &rarr; (${n}&times;${h(l)})`) + "</div>",
    `<div class="eq">${sub("dW", l)} = ${sub("A", l - 1)}<sup>T</sup> ${sub("&Delta;", l)}` +
      shape(`(${h(l - 1)}&times;${n})(${n}&times;${h(l)}) &rarr; (${h(l - 1)}&times;${h(l)})`) + "</div>",
    `<div class="eq">${sub("db", l)} = &Sigma;<sub>rows</sub> ${sub("&Delta;", l)}` + shape(`(${n}&times;${h(l)}) &rarr; (${h(l)})`) + "</div>",
  ];
  const batch = n === state.info.n_samples ? `the full batch of ${n}` : `minibatches of ${n} of the ${state.info.n_samples} samples`;
  $("equation").innerHTML = `<b>Layer ${l} of ${L}</b> (n = ${batch}); now &#8214;${sub("&Delta;", l)}&#8214; = ${fmt(layer.delta_norm)}, ` +
    `&#8214;${sub("dW", l)}&#8214; = ${fmt(layer.dW_norm)}, &#8214;${sub("db", l)}&#8214; = ${fmt(layer.db_norm)}` + rows.join("");
}

// --- wiring ------------------------------------------------------------------

async function start() {
  try {
    fillChoices(await api("GET", "/api/options"));
  } catch (error) {
    showError(`Cannot reach the playground server: ${error.message}`);
    return;
  }
  $("play").addEventListener("click", play);
  $("pause").addEventListener("click", pause);
  $("step").addEventListener("click", () => { pause(); step(1); });
  $("reset").addEventListener("click", reset);
  for (const id of [...SELECTS, "hidden", "lr", "batch_size", "seed"]) $(id).addEventListener("change", reset);
  // Each tab is a session of its own; closing the tab closes it on the server.
  addEventListener("pagehide", () => {
    if (state.id !== null) fetch(`/api/sessions/${state.id}`, { method: "DELETE", keepalive: true });
  });
  await reset();
}

start();
