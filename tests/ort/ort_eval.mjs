// Evaluates ONNX models with ONNX Runtime (npm onnxruntime-node, CPU) on a
// file of input points, so that the tests can compare what leo writes with
// what the engine people deploy with computes.
//
//   node tests/ort/ort_eval.mjs POINTS MODEL OUT [MODEL OUT ...]
//
// POINTS (little-endian): the 8 bytes "LEOPTS01", n and d as uint64, then the
// n points of d features each as float64, point after point.
// OUT, one per MODEL (little-endian): "LEOOUT01", n and k as uint64, then the
// n outputs of k values each as float64 (ORT's values, widened exactly when
// the model computes in float32).
//
// Each point is converted to the model's input element type (float32:
// Math.fround, round to nearest) and reshaped to the model's input shape: a
// first dimension that is symbolic (a batch) takes many points per run; a
// fixed first dimension of 1 (e.g. [1,1,1,5], [1,784,1]) or a rank-1 shape
// takes one point per run. Other symbolic dimensions are taken as 1.
//
// onnxruntime-node is loaded from $LEO_NPM_DIR/node_modules, by default
// third_party/npm/node_modules of the source tree (scripts/setup installs it).
// Exit status: 0 on success, 1 with one line on stderr on any error.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const npmDir = process.env.LEO_NPM_DIR ? resolve(process.env.LEO_NPM_DIR) : join(here, '..', '..', 'third_party', 'npm');

function fail(message) {
  process.stderr.write(`ort_eval: ${message}\n`);
  process.exit(1);
}

let ort;
try {
  ort = createRequire(join(npmDir, 'package.json'))('onnxruntime-node');
} catch (e) {
  fail(`cannot load onnxruntime-node from ${npmDir}/node_modules (run scripts/setup): ${e.message}`);
}

function readPoints(path) {
  const buf = readFileSync(path);
  if (buf.length < 24 || buf.toString('latin1', 0, 8) !== 'LEOPTS01') fail(`${path}: not a LEOPTS01 file`);
  const n = Number(buf.readBigUInt64LE(8));
  const d = Number(buf.readBigUInt64LE(16));
  if (buf.length !== 24 + 8 * n * d) fail(`${path}: expected ${24 + 8 * n * d} bytes, found ${buf.length}`);
  const values = new Float64Array(n * d);
  for (let i = 0; i < n * d; ++i) values[i] = buf.readDoubleLE(24 + 8 * i);
  return { n, d, values };
}

function writeOutputs(path, n, k, values) {
  const buf = Buffer.alloc(24 + 8 * n * k);
  buf.write('LEOOUT01', 0, 'latin1');
  buf.writeBigUInt64LE(BigInt(n), 8);
  buf.writeBigUInt64LE(BigInt(k), 16);
  for (let i = 0; i < n * k; ++i) buf.writeDoubleLE(values[i], 24 + 8 * i);
  writeFileSync(path, buf);
}

async function evaluate(modelPath, points) {
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
  if (session.inputNames.length !== 1) fail(`${modelPath}: ${session.inputNames.length} inputs, expected 1`);
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const meta = session.inputMetadata.find ? session.inputMetadata.find((m) => m.name === inputName)
                                          : session.inputMetadata[0];
  const type = meta.type;
  if (type !== 'float32' && type !== 'float64') fail(`${modelPath}: input element type ${type}, expected float or double`);
  const shape = meta.shape;
  const symbolic = (s) => typeof s !== 'number' || s < 0;
  // Points per run and the shape of one run's tensor.
  let batch, featureShape;
  if (shape.length === 1) {
    batch = 1;
    featureShape = [];
  } else if (symbolic(shape[0])) {
    batch = 1024;
    featureShape = shape.slice(1).map((s) => (symbolic(s) ? 1 : s));
  } else if (shape[0] === 1) {
    batch = 1;
    featureShape = shape.slice(1).map((s) => (symbolic(s) ? 1 : s));
  } else {
    fail(`${modelPath}: fixed batch dimension ${shape[0]} is not supported`);
  }
  const features = shape.length === 1 ? (symbolic(shape[0]) ? points.d : shape[0])
                                      : featureShape.reduce((a, b) => a * b, 1);
  if (features !== points.d) fail(`${modelPath}: the model takes ${features} features, the points have ${points.d}`);
  const Array_ = type === 'float32' ? Float32Array : Float64Array;
  let k = -1;
  let out = null;
  for (let start = 0; start < points.n; start += batch) {
    const m = Math.min(batch, points.n - start);
    const data = new Array_(m * points.d);
    for (let i = 0; i < m * points.d; ++i) data[i] = points.values[start * points.d + i];
    const dims = shape.length === 1 ? [points.d] : [shape[0] === 1 && !symbolic(shape[0]) ? 1 : m, ...featureShape];
    const result = await session.run({ [inputName]: new ort.Tensor(type, data, dims) });
    const y = result[outputName];
    if (y.type !== 'float32' && y.type !== 'float64') fail(`${modelPath}: output element type ${y.type}`);
    const perPoint = y.data.length / m;
    if (!Number.isInteger(perPoint)) fail(`${modelPath}: ${y.data.length} output values for ${m} points`);
    if (k < 0) {
      k = perPoint;
      out = new Float64Array(points.n * k);
    } else if (k !== perPoint) {
      fail(`${modelPath}: output size changes from ${k} to ${perPoint}`);
    }
    for (let i = 0; i < m * k; ++i) out[start * k + i] = y.data[i];
  }
  return { k: Math.max(k, 0), out: out ?? new Float64Array(0) };
}

const args = process.argv.slice(2);
if (args.length < 3 || args.length % 2 !== 1) fail('usage: ort_eval.mjs POINTS MODEL OUT [MODEL OUT ...]');
const points = readPoints(args[0]);
for (let i = 1; i < args.length; i += 2) {
  try {
    const { k, out } = await evaluate(args[i], points);
    writeOutputs(args[i + 1], points.n, k, out);
  } catch (e) {
    fail(`${args[i]}: ${e.message}`);
  }
}
