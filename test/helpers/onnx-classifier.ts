import fs from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { tempDir } from './models.js';

const { onnx } = onnxProto;

/**
 * Writes a small ONNX image classifier (two classes, "normal" and "nsfw", in a config.json beside it as a
 * Hugging Face export has them): the mean of each colour channel, times `weights` (3 x 2) plus `bias`, as logits.
 * With the default weights an image scores "nsfw" by how much redder than green it is.
 */
export function writeTestClassifier(weights = [[-4, 4], [4, -4], [0, 0]], bias = [0, 0]): string {
  const dir = tempDir();
  const file = path.join(dir, 'model.onnx');
  const floats = (name: string, dims: number[], values: number[]) =>
    onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: values });
  const valueInfo = (name: string, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
  const graph = onnx.GraphProto.create({
    name: 'test-classifier',
    input: [valueInfo('pixel_values', ['batch', 3, 'height', 'width'])],
    output: [valueInfo('logits', ['batch', 2])],
    initializer: [floats('W', [3, 2], weights.flat()), floats('b', [2], bias)],
    node: [
      onnx.NodeProto.create({ opType: 'ReduceMean', input: ['pixel_values'], output: ['means'], attribute: [{ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [2, 3] }, { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] }),
      onnx.NodeProto.create({ opType: 'Gemm', input: ['means', 'W', 'b'], output: ['logits'] }),
    ],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'diffusekit-tests', graph });
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ id2label: { 0: 'normal', 1: 'nsfw' } }));
  return file;
}
