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

  protected Merge(String name) {
    super(name);
  }

  /** The output shape for these input shapes; throws {@code IllegalArgumentException} naming a mismatch. */
  public abstract int[] computeOutputShape(List<int[]> inputShapes);

  /** The merged tensor; every input must have the batch size of the first. */
  public final Tensor call(List<Tensor> inputs, boolean training) {
    Objects.requireNonNull(inputs, "inputs");
    if (inputs.size() < 2) throw new IllegalArgumentException(name() + " merges at least 2 inputs, got " + inputs.size());
    List<int[]> shapes = new ArrayList<>();
    for (Tensor t : inputs) shapes.add(Objects.requireNonNull(t, "inputs[i]").shape());
    computeOutputShape(shapes);
    lastShapes = shapes;
    return merge(inputs);
  }

  protected abstract Tensor merge(List<Tensor> inputs);

  /** The gradient of each input of the last call. */
  public final List<Tensor> backwardAll(Tensor gradOutput) {
    checkGradient(lastShapes == null ? null : computeOutputShape(lastShapes), gradOutput);
    return split(gradOutput, lastShapes);
  }

  protected abstract List<Tensor> split(Tensor gradOutput, List<int[]> inputShapes);

  /** Keras's {@code Add()([a, b])}. */
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
