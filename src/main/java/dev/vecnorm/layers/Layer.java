package dev.vecnorm.layers;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A layer as in Keras 3: the constructor stores configuration, {@link #build(int[])} creates the weights
 * for an input shape (batch dimension first, any size), {@link #call(Tensor, boolean)} computes, and
 * {@link #backward(Tensor)} returns the input gradient of the most recent training call while adding
 * to the gradients of its parameters. {@link #getConfig()} returns Keras's config keys.
 */
public abstract class Layer {
  private final String name;
  /** Whether the weights are updated (Keras's {@code trainable}); see {@link #setTrainable}. */
  protected boolean trainable = true;
  private int[] builtShape;

  /**
   * A layer.
   *
   * @param name the layer name; not null
   */
  protected Layer(String name) {
    this.name = Objects.requireNonNull(name, "name");
  }

  /**
   * The layer name, unique within a model.
   *
   * @return the name
   */
  public String name() {
    return name;
  }

  /**
   * Keras's {@code trainable}.
   *
   * @return false when frozen
   */
  public boolean isTrainable() {
    return trainable;
  }

  /**
   * Keras's {@code layer.trainable = False}: frozen weights; for BatchNormalization also inference mode.
   *
   * @param trainable false to freeze the weights
   */
  public void setTrainable(boolean trainable) {
    this.trainable = trainable;
  }

  /**
   * Whether {@link #build} has created the weights.
   *
   * @return true once built
   */
  public boolean isBuilt() {
    return builtShape != null;
  }

  /**
   * Creates the weights for inputs of this shape (batch dimension first). A built layer only checks
   * that the shape is compatible; a shape this layer cannot take throws before anything is allocated.
   *
   * @param inputShape an input shape, batch dimension first, each dimension at least 0; not null
   */
  public final void build(int[] inputShape) {
    checkInputShape(inputShape);
    if (builtShape != null) return;
    doBuild(inputShape.clone());
    builtShape = inputShape.clone();
  }

  /**
   * Throws {@code IllegalArgumentException} naming the problem if this layer cannot take inputs of
   * this shape: for a built layer, a rank or feature size other than it was built for (Keras's
   * "expected ndim=..."); for an unbuilt one, a shape it could not build for (wrong rank, weights too
   * large to allocate). Allocates and changes nothing, so a model can check its whole stack first.
   *
   * @param inputShape an input shape, batch dimension first, each dimension at least 0; not null
   */
  public final void checkInputShape(int[] inputShape) {
    Objects.requireNonNull(inputShape, "inputShape");
    for (int i = 0; i < inputShape.length; i++) {
      if (inputShape[i] < 0) throw new IllegalArgumentException(name + ": inputShape[" + i + "] must be >= 0, got " + Arrays.toString(inputShape));
    }
    if (builtShape != null) checkCompatible(inputShape);
    else checkBuildable(inputShape);
  }

  /**
   * Shape of the input this layer was built for (batch dimension as first seen).
   *
   * @return a copy of the shape
   */
  protected int[] builtShape() {
    return builtShape.clone();
  }

  /** The largest Java array the JVMs in use allocate. */
  static final long MAX_ARRAY_LENGTH = Integer.MAX_VALUE - 8;

  /**
   * For checkBuildable: {@code arrays} float arrays of {@code length} elements each must fit a Java
   * array and, together, the JVM's maximum heap; else a clear error instead of an OutOfMemoryError
   * or a NegativeArraySizeException half-way through building.
   */
  final void checkAllocation(String what, long length, int arrays) {
    if (length > MAX_ARRAY_LENGTH) {
      throw new IllegalArgumentException(name + ": " + what + " has " + length + " elements, more than a Java array holds (" + MAX_ARRAY_LENGTH + ")");
    }
    long bytes = 4 * length * arrays, heap = Runtime.getRuntime().maxMemory();
    if (bytes > heap) {
      throw new IllegalArgumentException(name + ": " + what + " needs " + bytes + " bytes for its " + arrays + " arrays, more than the JVM's"
          + " maximum heap (" + heap + " bytes)");
    }
  }

  /**
   * Creates the weights; {@link #checkBuildable(int[])} has accepted the shape.
   *
   * @param inputShape an input shape, batch dimension first, each dimension at least 0 (a copy the layer may keep)
   */
  protected abstract void doBuild(int[] inputShape);

  /**
   * Before the first build: reject shapes this layer cannot build for, without allocating.
   *
   * @param inputShape an input shape, batch dimension first, each dimension at least 0
   */
  protected void checkBuildable(int[] inputShape) {}

  /**
   * A rebuild with another shape: layers with weights reject incompatible ones, naming both sizes.
   *
   * @param inputShape an input shape, batch dimension first, each dimension at least 0
   */
  protected void checkCompatible(int[] inputShape) {}

  /**
   * Keras's {@code layer(x)} on a symbolic tensor: builds this layer for x's shape (Keras builds on
   * the first symbolic call) and returns the symbolic output, for a functional
   * {@link dev.vecnorm.model.Model}. A shape this layer cannot take throws here, naming it.
   *
   * @param x the symbolic input; not null
   * @return the symbolic output
   */
  public SymbolicTensor apply(SymbolicTensor x) {
    Objects.requireNonNull(x, "x");
    int[] s = x.batchShape();
    build(s);
    return new SymbolicTensor(this, List.of(x), computeOutputShape(s));
  }

  /**
   * Forward pass; builds on first use. {@code training} selects batch statistics, dropout and so on.
   *
   * @param input the input batch; not null
   * @param training true for training mode (batch statistics, dropout active), false for inference
   * @return the output batch
   */
  public final Tensor call(Tensor input, boolean training) {
    Objects.requireNonNull(input, "input");
    build(input.shape());
    return forward(input, training);
  }

  /**
   * The computation behind {@link #call}, on a built layer and a shape it accepts.
   *
   * @param input the input batch
   * @param training true for training mode
   * @return the output batch
   */
  protected abstract Tensor forward(Tensor input, boolean training);

  /**
   * Input gradient of the last {@code call(input, true)}; parameter gradients are added to {@link Parameter#grad()}.
   * Before any call it throws {@code IllegalStateException}; a gradient of another shape than that
   * call's output throws {@code IllegalArgumentException} before anything is written.
   *
   * @param gradOutput gradient of the loss with respect to the last output, of that output's shape
   * @return gradient of the loss with respect to the last input
   */
  public abstract Tensor backward(Tensor gradOutput);

  /**
   * backward's argument check: a prior call ({@code outputShape} not null) and a gradient of its output's shape.
   *
   * @param outputShape shape of the last call's output, or null if there was none
   * @param gradOutput the gradient backward received
   */
  protected final void checkGradient(int[] outputShape, Tensor gradOutput) {
    Objects.requireNonNull(gradOutput, "gradOutput");
    if (outputShape == null) throw new IllegalStateException(name + ": backward before any call");
    if (!Arrays.equals(outputShape, gradOutput.shape())) {
      throw new IllegalArgumentException(name + ": gradOutput must have the shape of the last output " + Arrays.toString(outputShape)
          + ", got " + Arrays.toString(gradOutput.shape()));
    }
  }

  /**
   * The output shape for an input shape; the input shape by default.
   *
   * @param inputShape an input shape, batch dimension first, each dimension at least 0
   * @return the output shape, batch dimension first
   */
  public int[] computeOutputShape(int[] inputShape) {
    return inputShape.clone();
  }

  /**
   * All weights, trainable and not, in Keras's order.
   *
   * @return the parameters; empty for layers without weights
   */
  public List<Parameter> parameters() {
    return List.of();
  }

  /**
   * The parameters an optimizer updates.
   *
   * @return the trainable parameters, empty when this layer is frozen
   */
  public List<Parameter> trainableParameters() {
    List<Parameter> out = new ArrayList<>();
    if (!trainable) return out;
    for (Parameter p : parameters()) if (p.trainable()) out.add(p);
    return out;
  }

  /**
   * Copies of the weights, in Keras's {@code get_weights()} order.
   *
   * @return one new array per weight
   */
  public List<float[]> getWeights() {
    List<float[]> out = new ArrayList<>();
    for (Parameter p : parameters()) out.add(p.value().clone());
    return out;
  }

  /**
   * Sets every weight; an unbuilt layer, a wrong count or wrong sizes throw and change nothing.
   *
   * @param weights one array per weight, in {@link #getWeights()} order and lengths; not null
   */
  public void setWeights(List<float[]> weights) {
    Objects.requireNonNull(weights, "weights");
    List<Parameter> params = parameters();
    if (!isBuilt() && !weights.isEmpty()) {
      throw new IllegalArgumentException(name + " is not built yet, so it has no weights to set; build it (or its model) first");
    }
    if (weights.size() != params.size()) {
      throw new IllegalArgumentException(name + ": expected " + params.size() + " weight arrays " + names(params) + ", got " + weights.size());
    }
    for (int i = 0; i < params.size(); i++) {
      float[] w = Objects.requireNonNull(weights.get(i), "weights[" + i + "]");
      if (w.length != params.get(i).value().length) {
        throw new IllegalArgumentException(name + ": weight " + params.get(i).name() + " must have length "
            + params.get(i).value().length + ", got " + w.length);
      }
    }
    for (int i = 0; i < params.size(); i++) System.arraycopy(weights.get(i), 0, params.get(i).value(), 0, weights.get(i).length);
  }

  private static List<String> names(List<Parameter> params) {
    List<String> n = new ArrayList<>();
    for (Parameter p : params) n.add(p.name());
    return n;
  }

  /**
   * Keras's {@code get_config()}: every constructor argument under Keras's key names.
   *
   * @return a new map from Keras key to value
   */
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", name);
    m.put("trainable", trainable);
    m.put("dtype", "float32");
    return m;
  }

  /**
   * The config to write into a Keras file: {@link #getConfig()}, unless this layer uses a vecnorm-only
   * feature Keras lacks, which throws {@code IllegalStateException} naming it.
   *
   * @return the Keras config
   */
  public Map<String, Object> kerasConfig() {
    return getConfig();
  }

  /**
   * Keras class name used in saved configs.
   *
   * @return for example {@code "Dense"}
   */
  public String className() {
    return getClass().getSimpleName();
  }

  @Override
  public String toString() {
    return className() + "(" + name + (builtShape == null ? "" : ", built for " + Arrays.toString(builtShape)) + ")";
  }
}
