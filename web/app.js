// tfkit browser demo: the TF.js graph models (cpu backend) side by side with TF Serving's REST API.
// Plain script, no build step: `tf` is the UMD global composed by tf-core + tf-backend-cpu + tf-converter.
// Settings come from config.json (written by web/serve_demo.py) and the query string
// (?variant=float16&server=http://127.0.0.1:8501), which wins.
'use strict';

(() => {
  const MODELS = ['linear', 'ctr'];
  const FEATURE_SIZE = 121;
  const MAX_ID = 2 ** 31 - 1; // TF.js runs int64 ids as int32
  const DEFAULTS = {tfjsBase: 'tfjs', variants: ['float32'], variant: 'float32', server: '',
    samples: 'samples.json', gates: {}, modelVariants: {}};

  const state = {config: DEFAULTS, variant: 'float32', server: '', models: {}, samples: {ctr: [], linear: []}};
  const $ = (id) => document.getElementById(id);

  async function fetchJson(url) {
    const response = await fetch(url, {cache: 'no-store'});
    if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
    return response.json();
  }

  async function loadConfig() {
    let config = DEFAULTS;
    try {
      config = {...DEFAULTS, ...(await fetchJson('config.json'))};
    } catch (err) {
      // A plain static server has no config.json: use the defaults.
    }
    const query = new URLSearchParams(window.location.search);
    state.config = config;
    state.variant = query.get('variant') || config.variant;
    state.server = (query.get('server') ?? config.server ?? '').replace(/\/+$/, '');
  }

  // Signature keys may carry a tensor suffix ("user_id:0") when two inputs share dtype and shape.
  const stripSuffix = (key) => key.replace(/:\d+$/, '');

  function inputSpecs(model) {
    return Object.entries(model.modelSignature.inputs).map(([key, info]) => ({
      key: stripSuffix(key),
      dtype: info.dtype === 'DT_FLOAT' ? 'float32' : 'int32',
      shape: (info.tensorShape?.dim ?? []).map((d) => Number(d.size)),
    }));
  }

  function outputSpecs(model) {
    return Object.entries(model.modelSignature.outputs).map(([key, info]) => ({key, node: info.name}));
  }

  function shapeOf(value) {
    const shape = [];
    for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
    return shape;
  }

  function toTensor(spec, value) {
    const shape = shapeOf(value);
    const ok = shape.length === spec.shape.length && shape.every((n, i) => spec.shape[i] < 0 || spec.shape[i] === n);
    if (!ok) throw new Error(`input '${spec.key}': shape [${shape}] does not match [${spec.shape}]`);
    const flat = value.flat(Infinity);
    if (!flat.every(Number.isFinite)) throw new Error(`input '${spec.key}': every value must be a finite number`);
    if (spec.dtype === 'int32' && !flat.every((v) => Number.isInteger(v) && v >= 0 && v <= MAX_ID)) {
      throw new Error(`input '${spec.key}': ids must be integers in [0, ${MAX_ID}]`);
    }
    return tf.tensor(flat, shape, spec.dtype);
  }

  async function predictTfjs(name, feed) {
    const {model} = state.models[name];
    const specs = inputSpecs(model);
    const missing = specs.filter((s) => !(s.key in feed)).map((s) => s.key);
    if (missing.length) throw new Error(`${name}: missing input(s) ${missing.join(', ')}`);
    const outputs = outputSpecs(model);
    const tensors = {};
    try {
      for (const spec of specs) tensors[spec.key] = toTensor(spec, feed[spec.key]);
      const start = performance.now();
      let result = await model.executeAsync(tensors, outputs.map((o) => o.node));
      result = Array.isArray(result) ? result : [result];
      const values = await Promise.all(result.map((t) => t.data()));
      const ms = performance.now() - start;
      tf.dispose(result);
      return {ms, outputs: Object.fromEntries(outputs.map((o, i) => [o.key, Array.from(values[i])]))};
    } finally {
      tf.dispose(Object.values(tensors));
    }
  }

  // TF Serving writes non-finite floats as bare NaN / Infinity tokens, which JSON.parse rejects.
  function parseServingJson(text) {
    return JSON.parse(text.replace(/(?<=[[,:]\s*)(-?Infinity|NaN)(?=\s*[\],}])/g, '"$1"'));
  }

  async function predictServer(name, feed) {
    const url = `${state.server}/v1/models/${encodeURIComponent(name)}:predict`;
    const start = performance.now();
    const response = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({signature_name: 'serving_default', inputs: feed})});
    const body = parseServingJson(await response.text());
    const ms = performance.now() - start;
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}: ${body.error ?? ''}`);
    const outputs = Array.isArray(body.outputs) || typeof body.outputs !== 'object'
      ? {[outputSpecs(state.models[name].model)[0].key]: body.outputs} : body.outputs;
    const flat = Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, [v].flat(Infinity).map(Number)]));
    return {ms, outputs: flat};
  }

  function showValue(id, value, digits = 8) {
    const cell = $(id);
    cell.textContent = value === null ? '—' : value.toPrecision(digits);
    cell.dataset.value = value === null ? '' : String(value);
  }

  function showMs(id, ms) {
    $(id).textContent = ms === null ? '—' : `${ms.toFixed(2)} ms`;
  }

  function showDiff(name, tfjsValue, serverValue) {
    const cell = $(`${name}-diff`);
    cell.className = '';
    if (serverValue === null) {
      cell.textContent = state.server ? '—' : 'no server configured';
      cell.dataset.value = '';
      return;
    }
    const diff = Math.abs(tfjsValue - serverValue);
    const gate = state.config.gates?.[name]?.[state.models[name].variant];
    cell.dataset.value = String(diff);
    cell.textContent = diff.toExponential(2) + (gate === undefined ? '' : ` (gate ${gate.toExponential(0)}: ${diff <= gate ? 'within' : 'OVER'})`);
    if (gate !== undefined) cell.className = diff <= gate ? 'ok' : 'over';
  }

  async function run(name, feed) {
    const card = $(name);
    const error = $(`${name}-error`);
    card.dataset.state = 'running';
    error.hidden = true;
    const messages = [];
    const attempt = (promise, label) => promise.catch((err) => {
      messages.push(`${label}: ${err.message}`);
      return null;
    });
    const local = await attempt(predictTfjs(name, feed), 'TF.js');
    const key = outputSpecs(state.models[name].model)[0].key;
    const tfjsValue = local?.outputs ? local.outputs[key][0] : null;
    showValue(`${name}-tfjs`, tfjsValue);
    showMs(`${name}-tfjs-ms`, local?.ms ?? null);
    let serverValue = null;
    if (state.server && tfjsValue !== null) {
      const remote = await attempt(predictServer(name, feed), 'server');
      serverValue = remote?.outputs?.[key]?.[0] ?? null;
      showMs(`${name}-server-ms`, remote?.ms ?? null);
    } else {
      showMs(`${name}-server-ms`, null);
    }
    showValue(`${name}-server`, serverValue);
    showDiff(name, tfjsValue, serverValue);
    if (messages.length) {
      error.textContent = messages.join(' | ');
      error.hidden = false;
    }
    card.dataset.state = messages.length ? 'error' : 'done';
    card.dataset.runs = String(Number(card.dataset.runs) + 1);
  }

  function linearFeed() {
    return {x: [[Number.parseFloat($('linear-x').value)]]};
  }

  function ctrFeed() {
    const text = $('ctr-feature').value.trim();
    const feature = text ? text.split(/[\s,]+/).map(Number) : [];
    if (feature.length !== FEATURE_SIZE) {
      throw new Error(`feature: expected ${FEATURE_SIZE} numbers, got ${feature.length}`);
    }
    const id = (inputId) => Number($(inputId).value === '' ? Number.NaN : $(inputId).value);
    return {feature: [feature], user_id: [id('ctr-user')], article_id: [id('ctr-article')]};
  }

  function fillCtrRow(choice) {
    const rows = state.samples.ctr;
    let feature = new Array(FEATURE_SIZE).fill(0);
    if (choice.startsWith('row:')) {
      const row = rows[Number(choice.slice(4))];
      feature = row.feature;
      $('ctr-user').value = String(row.user_id);
      $('ctr-article').value = String(row.article_id);
    } else if (choice === 'custom') {
      return; // keep what was typed
    } else if (choice === 'mean' && rows.length) {
      feature = feature.map((_, i) => rows.reduce((sum, r) => sum + r.feature[i], 0) / rows.length);
    }
    $('ctr-feature').value = feature.map(String).join(', ');
  }

  function fillCtrChoices() {
    const select = $('ctr-row');
    select.replaceChildren();
    state.samples.ctr.forEach((row, i) => {
      select.add(new Option(`sample row ${i} (user ${row.user_id}, article ${row.article_id})`, `row:${i}`));
    });
    select.add(new Option('preset: all zeros', 'zeros'));
    if (state.samples.ctr.length) select.add(new Option('preset: mean of the sample rows', 'mean'));
    select.add(new Option('custom (edited below)', 'custom'));
    fillCtrRow(select.value);
  }

  function zeroFeed(model) {
    return Object.fromEntries(inputSpecs(model).map((spec) => {
      const shape = spec.shape.map((n) => (n < 0 ? 1 : n));
      return [spec.key, tf.zeros(shape, spec.dtype).arraySync()];
    }));
  }

  async function loadModels() {
    for (const name of MODELS) {
      state.models[name]?.model.dispose();
      delete state.models[name];
      $(`${name}-run`).disabled = true;
    }
    document.body.dataset.ready = 'false';
    for (const name of MODELS) {
      // Models may ship different variants (linear: float32 only): fall back to the model's first.
      const available = state.config.modelVariants?.[name] ?? [state.variant];
      const variant = available.includes(state.variant) ? state.variant : available[0];
      const url = `${state.config.tfjsBase}/${name}/${variant}/model.json`;
      $('status').textContent = `Loading ${url}…`;
      const start = performance.now();
      const model = await tf.loadGraphModel(url);
      const loadMs = performance.now() - start;
      state.models[name] = {model, url, variant};
      await predictTfjs(name, zeroFeed(model)); // warm-up: the first call allocates and compiles
      const note = variant === state.variant ? '' : ` (no ${state.variant} bundle)`;
      $(`${name}-info`).textContent = `${variant}${note} · ${url} · loaded in ${loadMs.toFixed(0)} ms`;
      $(`${name}-run`).disabled = false;
    }
    showStatus();
    document.body.dataset.ready = 'true';
  }

  function showStatus() {
    $('status').textContent = `TF.js ${tf.version_core} (${tf.getBackend()} backend) · variant ${state.variant} · `
      + (state.server ? `server ${state.server}` : 'no server configured');
  }

  function guarded(name, feedOf) {
    return (event) => {
      event.preventDefault();
      let feed;
      try {
        feed = feedOf();
      } catch (err) {
        $(`${name}-error`).textContent = err.message;
        $(`${name}-error`).hidden = false;
        $(name).dataset.state = 'error';
        return;
      }
      run(name, feed);
    };
  }

  function fillSettings() {
    const select = $('variant');
    select.replaceChildren(...state.config.variants.map((v) => new Option(v, v, false, v === state.variant)));
    $('server-url').value = state.server;
  }

  async function applySettings(event) {
    event.preventDefault();
    state.server = $('server-url').value.trim().replace(/\/+$/, '');
    const variant = $('variant').value;
    const query = new URLSearchParams({variant, server: state.server});
    window.history.replaceState(null, '', `?${query}`);
    if (variant !== state.variant || !Object.keys(state.models).length) {
      state.variant = variant;
      await loadModels().catch(failed);
    } else {
      showStatus();
    }
  }

  function failed(err) {
    $('status').textContent = `Error: ${err.message}`;
    document.body.dataset.ready = 'error';
  }

  async function main() {
    await tf.setBackend('cpu'); // WebGL textures may be fp16: parity is defined on the cpu backend
    await tf.ready();
    await loadConfig();
    try {
      state.samples = {ctr: [], linear: [], ...(await fetchJson(state.config.samples))};
    } catch (err) {
      // No sample rows (plain static server): presets only.
    }
    fillSettings();
    fillCtrChoices();
    if (state.samples.linear.length) $('linear-x').value = String(state.samples.linear[0].x);
    $('ctr-row').addEventListener('change', (e) => fillCtrRow(e.target.value));
    for (const id of ['ctr-feature', 'ctr-user', 'ctr-article']) {
      $(id).addEventListener('input', () => { $('ctr-row').value = 'custom'; });
    }
    $('linear-form').addEventListener('submit', guarded('linear', linearFeed));
    $('ctr-form').addEventListener('submit', guarded('ctr', ctrFeed));
    $('settings').addEventListener('submit', applySettings);
    await loadModels();
  }

  main().catch(failed);
})();
