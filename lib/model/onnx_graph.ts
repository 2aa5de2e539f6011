/**
 * Writing an ONNX graph node by node: fresh value names, float and integer weights as raw
 * little-endian initializers, inputs and outputs with a free batch axis, and the encoded model
 * (protobuf, through `npm:onnx-proto`). Shared by the inference graphs (`onnx.ts`) and the
 * training step (`onnx_step.ts`).
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
const FLOAT = 1;
const INT64 = 7;

/** A dimension: a size, or "batch" for the free batch axis. */
export type Dim = number | "batch";

type Attribute = number | number[] | { float: number };

export class OnnxGraph {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  readonly #inputs: onnxProto.onnx.IValueInfoProto[] = [];
  readonly #outputs: onnxProto.onnx.IValueInfoProto[] = [];
  #count = 0;

  /** A fresh value name. */
  name(hint: string): string {
    return `${hint.replace(/[^\w]/g, "_")}_${this.#count++}`;
  }

  /** A float32 constant. */
  weight(hint: string, values: Float32Array, dims: number[]): string {
    const name = this.name(hint);
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
    this.initializers.push({ name, dims, dataType: FLOAT, rawData: bytes });
    return name;
  }

  /** A float32 scalar constant. */
  scalar(value: number): string {
    return this.weight("c", new Float32Array([value]), []);
  }

  /** An int64 vector constant (shapes, axes, pads). */
  integers(hint: string, values: number[]): string {
    const name = this.name(hint);
    const bytes = new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer);
    this.initializers.push({ name, dims: [values.length], dataType: INT64, rawData: bytes });
    return name;
  }

  /** A node with one output; returns the output's name. */
  node(opType: string, inputs: string[], attributes: Record<string, Attribute> = {}): string {
    const output = this.name(opType);
    this.nodeTo(output, opType, inputs, attributes);
    return output;
  }

  /** A node writing a value of a given name (a graph output). */
  nodeTo(
    output: string,
    opType: string,
    inputs: string[],
    attributes: Record<string, Attribute> = {},
  ): void {
    this.nodes.push({
      opType,
      input: inputs,
      output: [output],
      attribute: Object.entries(attributes).map(([name, value]) =>
        Array.isArray(value)
          ? { name, ints: value, type: onnx.AttributeProto.AttributeType.INTS }
          : typeof value === "number"
          ? { name, i: value, type: onnx.AttributeProto.AttributeType.INT }
          : { name, f: value.float, type: onnx.AttributeProto.AttributeType.FLOAT }
      ),
    });
  }

  /** A float32 input of the graph. */
  input(name: string, dims: Dim[]): string {
    this.#inputs.push({ name, type: tensorType(dims) });
    return name;
  }

  /** Makes `value` a graph output named `name`. */
  output(value: string, name: string, dims: Dim[]): void {
    this.nodeTo(name, "Identity", [value]);
    this.#outputs.push({ name, type: tensorType(dims) });
  }

  /** The encoded ONNX model (opset 13). */
  encode(name: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: "dog-breeds",
      opsetImport: [{ domain: "", version: 13 }],
      graph: {
        name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.#inputs,
        output: this.#outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function tensorType(dims: Dim[]) {
  return {
    tensorType: {
      elemType: FLOAT,
      shape: {
        dim: dims.map((d) => (d === "batch" ? { dimParam: "batch" } : { dimValue: d })),
      },
    },
  };
}
