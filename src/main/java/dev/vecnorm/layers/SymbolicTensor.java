package dev.vecnorm.layers;

import java.util.Arrays;
import java.util.List;

/**
 * Keras's symbolic {@code KerasTensor}: the output of {@link Input#shape(int...)} or of a layer applied
 * to symbolic tensors ({@link Layer#apply(SymbolicTensor)}, {@link Merge#apply(SymbolicTensor...)}).
 * It holds no data, only the layer that produces it, that layer's inputs and the shape; a
 * {@link dev.vecnorm.model.Model} is built from the graph these links describe.
 */
public final class SymbolicTensor {
  private final Layer layer;
  private final List<SymbolicTensor> inputs;
  private final int[] batchShape;

  SymbolicTensor(Layer layer, List<SymbolicTensor> inputs, int[] batchShape) {
    this.layer = layer;
    this.inputs = List.copyOf(inputs);
    this.batchShape = batchShape.clone();
  }

  /**
   * The layer computing this tensor, or null for an {@link Input}.
   *
   * @return the producing layer, or null
   */
  public Layer layer() {
    return layer;
  }

  /**
   * The tensors the layer takes (empty for an Input).
   *
   * @return the input tensors, unmodifiable
   */
  public List<SymbolicTensor> inputs() {
    return inputs;
  }

  /**
   * The shape of one sample (without the batch dimension), as Keras's {@code shape[1:]}.
   *
   * @return a copy of the sample shape
   */
  public int[] shape() {
    return Arrays.copyOfRange(batchShape, 1, batchShape.length);
  }

  /** The shape with a batch dimension of 1: what layers are built with. */
  int[] batchShape() {
    return batchShape.clone();
  }

  @Override
  public String toString() {
    return "SymbolicTensor(shape=(None, " + Arrays.toString(shape()).replace("[", "").replace("]", "") + "), from "
        + (layer == null ? "Input" : layer.name()) + ")";
  }
}
