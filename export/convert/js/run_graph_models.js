'use strict';
// Runs TF.js graph models in Node with pure tfjs-core + tfjs-converter + tfjs-backend-cpu (no tfjs-node).
// Usage: node run_graph_models.js JOB.json
// JOB: {inputs: {name: {file, dtype: float32|int32|bool, shape}}, out_dir,
//       models: [{id, model_json, feeds: {input name: graph node}, fetches: {output name: tensor name}}],
//       bench: null | {warmup, iterations, row}}
// Writes out_dir/<id>.json: {outputs: {name: {file, dtype, shape}}, bench_ms: [...]} and the raw output files.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const { loadGraphModel } = require('@tensorflow/tfjs-converter');

const TYPED = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

function diskHandler(modelJsonPath) {
  // tf.io.fileSystem / file:// exist only in tfjs-node: read model.json and shards ourselves.
  return {
    load: async () => {
      const modelJson = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8'));
      const dir = path.dirname(modelJsonPath);
      const specs = modelJson.weightsManifest.flatMap((group) => group.weights);
      const buffers = modelJson.weightsManifest.flatMap((group) =>
        group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
      const all = Buffer.concat(buffers);
      const weights = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return tf.io.getModelArtifactsForJSON(modelJson, async () => [specs, weights]);
    },
  };
}

function readInputs(inputs) {
  const out = {};
  for (const [name, spec] of Object.entries(inputs)) {
    const raw = fs.readFileSync(spec.file);
    const Typed = TYPED[spec.dtype];
    if (!Typed) throw new Error(`input ${name}: unsupported dtype ${spec.dtype}`);
    const copy = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    out[name] = { values: new Typed(copy), dtype: spec.dtype, shape: spec.shape };
  }
  return out;
}

function sliceRow(arr, row) {
  const width = arr.shape.slice(1).reduce((a, b) => a * b, 1);
  return { values: arr.values.subarray(row * width, (row + 1) * width), dtype: arr.dtype,
    shape: [1, ...arr.shape.slice(1)] };
}

function feedFor(arrays, feeds) {
  const feed = {};
  for (const [name, node] of Object.entries(feeds)) {
    const a = arrays[name];
    feed[node] = tf.tensor(a.values, a.shape, a.dtype);
  }
  return feed;
}

async function runOnce(model, arrays, spec) {
  const fetchNames = Object.values(spec.fetches);
  const feed = feedFor(arrays, spec.feeds);
  let result = await model.executeAsync(feed, fetchNames);
  if (!Array.isArray(result)) result = [result];
  Object.values(feed).forEach((t) => t.dispose());
  return result;
}

async function runModel(spec, arrays, job) {
  const model = await loadGraphModel(diskHandler(spec.model_json));
  const result = await runOnce(model, arrays, spec);
  const outputs = {};
  const names = Object.keys(spec.fetches);
  for (let i = 0; i < names.length; i += 1) {
    const tensor = result[i];
    const data = await tensor.data();
    const file = path.join(job.out_dir, `${spec.id}.${names[i]}.bin`);
    fs.writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    outputs[names[i]] = { file, dtype: tensor.dtype, shape: tensor.shape };
    tensor.dispose();
  }
  const benchMs = [];
  if (job.bench) {
    const one = {};
    for (const [name, arr] of Object.entries(arrays)) one[name] = sliceRow(arr, job.bench.row || 0);
    const total = job.bench.warmup + job.bench.iterations;
    for (let i = 0; i < total; i += 1) {
      const start = process.hrtime.bigint();
      const out = await runOnce(model, one, spec);
      await Promise.all(out.map((t) => t.data()));
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      out.forEach((t) => t.dispose());
      if (i >= job.bench.warmup) benchMs.push(ms);
    }
  }
  model.dispose();
  fs.writeFileSync(path.join(job.out_dir, `${spec.id}.json`), JSON.stringify({ outputs, bench_ms: benchMs }));
}

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  await tf.setBackend('cpu');
  await tf.ready();
  const arrays = readInputs(job.inputs);
  for (const spec of job.models) {
    try {
      await runModel(spec, arrays, job);
    } catch (err) {
      throw new Error(`model ${spec.id} (${spec.model_json}): ${err && err.message ? err.message : err}`);
    }
  }
}

main().catch((err) => {
  process.stderr.write(`tfjs runner error: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
