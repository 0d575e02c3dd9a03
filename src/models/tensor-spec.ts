/** How a synthetic tensor is filled. */
export type TensorInit =
  | 'ones' // normalization scales
  | 'zeros' // biases
  | 'fan-in' // weights: uniform with unit variance, scaled by 1/sqrt(fan_in)
  | 'embedding'; // embedding tables: small uniform values

/** One tensor of a checkpoint layout: name and shape exactly as the real file has them (PyTorch order). */
export interface TensorSpec {
  name: string;
  shape: number[];
  init: TensorInit;
}

/** Collects tensor specs under a name prefix, with helpers for the layer kinds the layouts use. */
export class LayoutBuilder {
  readonly tensors: TensorSpec[] = [];

  add(name: string, shape: number[], init: TensorInit): void {
    this.tensors.push({ name, shape, init });
  }

  linear(name: string, inFeatures: number, outFeatures: number, bias = true): void {
    this.add(`${name}.weight`, [outFeatures, inFeatures], 'fan-in');
    if (bias) this.add(`${name}.bias`, [outFeatures], 'zeros');
  }

  conv(name: string, inChannels: number, outChannels: number, kernel: number, bias = true): void {
    this.add(`${name}.weight`, [outChannels, inChannels, kernel, kernel], 'fan-in');
    if (bias) this.add(`${name}.bias`, [outChannels], 'zeros');
  }

  norm(name: string, channels: number): void {
    this.add(`${name}.weight`, [channels], 'ones');
    this.add(`${name}.bias`, [channels], 'zeros');
  }

  embedding(name: string, count: number, dim: number): void {
    this.add(`${name}.weight`, [count, dim], 'embedding');
  }

  /** Runs `build` with names relative to `prefix`. */
  scoped(prefix: string, build: (scope: LayoutBuilder) => void): void {
    const scope = new LayoutBuilder();
    build(scope);
    for (const t of scope.tensors) this.tensors.push({ ...t, name: `${prefix}.${t.name}` });
  }
}

export function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
