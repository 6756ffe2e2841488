package dev.vecnorm.layers;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A layer of several inputs (Keras's merge layers): {@link #call(List, boolean)} and
 * {@link #backwardAll(Tensor)} take and give one tensor per input. The one-input {@code call} and
 * {@code backward} of {@link Layer} throw.
 */
public abstract class Merge extends Layer {
  private List<int[]> lastShapes;

  /**
   * A merge layer.
   *
   * @param name the layer name; not null
   */
  protected Merge(String name) {
    super(name);
  }

  /**
   * The output shape for these input shapes; throws {@code IllegalArgumentException} naming a mismatch.
   *
   * @param inputShapes one shape per input, batch dimension first
   * @return the output shape, batch dimension first
   */
  public abstract int[] computeOutputShape(List<int[]> inputShapes);

  /**
   * The merged tensor; every input must have the batch size of the first.
   *
   * @param inputs at least two tensors; not null
   * @param training unused by merge layers; kept for the shape of Keras's call
   * @return the merged batch
   */
  public final Tensor call(List<Tensor> inputs, boolean training) {
    Objects.requireNonNull(inputs, "inputs");
    if (inputs.size() < 2) throw new IllegalArgumentException(name() + " merges at least 2 inputs, got " + inputs.size());
    List<int[]> shapes = new ArrayList<>();
    for (Tensor t : inputs) shapes.add(Objects.requireNonNull(t, "inputs[i]").shape());
    computeOutputShape(shapes);
    lastShapes = shapes;
    return merge(inputs);
  }

  /**
   * The computation behind {@link #call(List, boolean)}, on inputs whose shapes were checked.
   *
   * @param inputs at least two tensors
   * @return the merged batch
   */
  protected abstract Tensor merge(List<Tensor> inputs);

  /**
   * The gradient of each input of the last call.
   *
   * @param gradOutput gradient of the loss with respect to the last output, of that output's shape
   * @return one gradient per input, in input order
   */
  public final List<Tensor> backwardAll(Tensor gradOutput) {
    checkGradient(lastShapes == null ? null : computeOutputShape(lastShapes), gradOutput);
    return split(gradOutput, lastShapes);
  }

  /**
   * The computation behind {@link #backwardAll}.
   *
   * @param gradOutput gradient with respect to the last output, shape checked
   * @param inputShapes the last call's input shapes
   * @return one gradient per input, of that input's shape
   */
  protected abstract List<Tensor> split(Tensor gradOutput, List<int[]> inputShapes);

  /**
   * Keras's {@code Add()([a, b])}.
   *
   * @param inputs at least two symbolic tensors
   * @return the symbolic output
   */
  public SymbolicTensor apply(SymbolicTensor... inputs) {
    Objects.requireNonNull(inputs, "inputs");
    List<int[]> shapes = new ArrayList<>();
    for (SymbolicTensor t : inputs) shapes.add(Objects.requireNonNull(t, "inputs[i]").batchShape());
    if (inputs.length < 2) throw new IllegalArgumentException(name() + " merges at least 2 inputs, got " + inputs.length);
    return new SymbolicTensor(this, List.of(inputs), computeOutputShape(shapes));
  }

  @Override
  public SymbolicTensor apply(SymbolicTensor input) {
    throw new IllegalArgumentException(name() + " merges several tensors: apply(a, b, ...)");
  }

  @Override
  protected final void doBuild(int[] inputShape) {}

  @Override
  protected final Tensor forward(Tensor input, boolean training) {
    throw new IllegalArgumentException(name() + " merges several tensors: call(List.of(a, b), training)");
  }

  @Override
  public final Tensor backward(Tensor gradOutput) {
    throw new IllegalStateException(name() + " has one gradient per input: backwardAll(gradOutput)");
  }
}
