package dev.vecnorm.layers;

import dev.vecnorm.LayerNorm;
import dev.vecnorm.ParallelNorms;
import dev.vecnorm.RmsNorm;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Keras 3's {@code keras.layers.LayerNormalization}: per sample, statistics over the normalized axes,
 * {@code y = (x - mean) / sqrt(var + epsilon) * gamma + beta}, the same in training and inference.
 * Defaults as Keras: {@code axis=-1}, {@code epsilon=1e-3}, {@code center=True}, {@code scale=True},
 * {@code rms_scaling=False}, gamma ones, beta zeros.
 *
 * <p>{@code axis} is an int or a list; the normalized axes must be the trailing ones of the input
 * (e.g. {@code -1}, or {@code [-2, -1]} / {@code [2, 3]} of a rank-4 input), so that every sample's
 * normalized block is contiguous rows of the kernels ({@link LayerNorm}, {@link RmsNorm}); other axes
 * are rejected by name when the layer is built. gamma and beta have the shape of the normalized axes
 * (flattened here).
 *
 * <p>{@code rms_scaling=True} runs the RMSNorm kernel: {@code y = x / sqrt(mean(x^2) + epsilon) * gamma},
 * as {@code torch.nn.RMSNorm} and Keras ≥ 3.9 ({@code ops.rms_normalization}); it has gamma and no beta,
 * as in Keras. (Keras 3.0–3.8 divided by the centered variance there instead.)
 */
public final class LayerNormalization extends AffineNormalization {

  private final int[] axes;
  private final boolean axisIsList;
  private final boolean rmsScaling;

  private int features = -1;

  // The last call, for backward.
  private Tensor lastInput;
  private int lastRows;
  private float[] mean, invStd, dGamma, dBeta;

  private LayerNormalization(Builder b) {
    super(b);
    this.axes = b.axes.clone();
    this.axisIsList = b.axisIsList;
    this.rmsScaling = b.rmsScaling;
  }

  /**
   * A builder with Keras's defaults.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * A layer with every Keras default.
   *
   * @return a new, unbuilt layer
   */
  public static LayerNormalization create() {
    return builder().build();
  }

  /** Builder with Keras's argument names and defaults; {@link #build()} validates. */
  public static final class Builder extends AffineBuilder<Builder> {
    private static int counter;
    private int[] axes = {-1};
    private boolean axisIsList;
    private boolean rmsScaling;

    private Builder() {}

    @Override
    Builder self() { return this; }

    /**
     * One axis, as Keras's {@code axis=-1}.
     *
     * @param axis the normalized axis, negative counting from the end; it must be the input's last axis; default -1
     * @return this builder
     */
    public Builder axis(int axis) { this.axes = new int[] {axis}; this.axisIsList = false; return this; }
    /**
     * Several axes, as Keras's {@code axis=[-2, -1]}: they must be the input's trailing axes.
     *
     * @param axes the normalized axes, negative counting from the end; not null, at least one
     * @return this builder
     * @throws IllegalArgumentException if {@code axes} is empty
     */
    public Builder axis(int... axes) {
      Objects.requireNonNull(axes, "axes");
      if (axes.length == 0) throw new IllegalArgumentException("axis must name at least one axis, got []");
      this.axes = axes.clone();
      this.axisIsList = true;
      return this;
    }
    /**
     * Keras's {@code rms_scaling}
     *
     * @param rmsScaling true for RMS normalization ({@link RmsNorm}: no centering; always gamma, never beta, whatever
     *     {@code scale} and {@code center} say); default false
     * @return this builder
     */
    public Builder rmsScaling(boolean rmsScaling) { this.rmsScaling = rmsScaling; return this; }
    /**
     * Runs this layer's kernels on {@code parallel}'s threads (forward and backward), as
     * {@link BatchNormalization.Builder#parallel} does: y and dx as on the caller's thread (bit for bit,
     * except channels-last group norm split into row ranges: float rounding), gradients of gamma and beta
     * summed per chunk in double (float rounding), the same bits for any thread count. A runtime choice,
     * not part of the config: set it again after fromConfig.
     *
     * @param parallel the threads to run on, or null to run on the caller's thread
     * @return this builder
     */
    public Builder parallel(ParallelNorms parallel) { this.norms = parallel; return this; }
    /**
     * Keras's {@code beta_initializer}
     *
     * @param i not null; default zeros
     * @return this builder
     */
    public Builder betaInitializer(Initializer i) { this.betaInitializer = Objects.requireNonNull(i, "betaInitializer"); return this; }
    /**
     * Keras's {@code gamma_initializer}
     *
     * @param i not null; default ones
     * @return this builder
     */
    public Builder gammaInitializer(Initializer i) { this.gammaInitializer = Objects.requireNonNull(i, "gammaInitializer"); return this; }
    /**
     * Keras's {@code beta_regularizer}
     *
     * @param r the penalty on beta, or null for none
     * @return this builder
     */
    public Builder betaRegularizer(Regularizer r) { this.betaRegularizer = r; return this; }
    /**
     * Keras's {@code gamma_regularizer}
     *
     * @param r the penalty on gamma, or null for none
     * @return this builder
     */
    public Builder gammaRegularizer(Regularizer r) { this.gammaRegularizer = r; return this; }
    /**
     * Keras's {@code beta_constraint}
     *
     * @param c applied to beta after each update, or null for none
     * @return this builder
     */
    public Builder betaConstraint(Constraint c) { this.betaConstraint = c; return this; }
    /**
     * Keras's {@code gamma_constraint}
     *
     * @param c applied to gamma after each update, or null for none
     * @return this builder
     */
    public Builder gammaConstraint(Constraint c) { this.gammaConstraint = c; return this; }
    /**
     * Validates every argument and builds the layer (its weights are created on the first build or call;
     * the axes are checked against the input shape then).
     *
     * @return the layer
     * @throws IllegalArgumentException naming the first invalid argument
     */
    public LayerNormalization build() {
      checkOptions();
      if (name == null) name = "layer_normalization" + (counter++ == 0 ? "" : "_" + (counter - 1));
      return new LayerNormalization(this);
    }
  }

  /**
   * Whether the layer runs RMS normalization (Keras's {@code rms_scaling}).
   *
   * @return {@code rms_scaling}
   */
  public boolean rmsScaling() { return rmsScaling; }
  /**
   * The axes as configured (negative allowed).
   *
   * @return a copy of the axes
   */
  public int[] axes() { return axes.clone(); }
  /**
   * Elements normalized together per sample: the product of the normalized axes' sizes.
   *
   * @return the feature count, or -1 before build
   */
  public int features() { return features; }
  /** Product of the normalized (trailing) axes; rejects axes out of range, repeated, or not the trailing block. */
  private int featuresOf(int[] inputShape) {
    int rank = inputShape.length;
    if (rank < 1) throw new IllegalArgumentException(name() + ": input must have rank >= 1");
    boolean[] seen = new boolean[rank];
    for (int a : axes) {
      if (a < -rank || a >= rank) {
        throw new IllegalArgumentException(name() + ": axis " + a + " is out of range for input rank " + rank + " " + Arrays.toString(inputShape));
      }
      int p = a < 0 ? a + rank : a;
      if (seen[p]) throw new IllegalArgumentException(name() + ": axis " + Arrays.toString(axes) + " names axis " + p + " twice");
      seen[p] = true;
    }
    int first = rank - axes.length;
    for (int p = first; p < rank; p++) {
      if (!seen[p]) {
        throw new IllegalArgumentException(name() + ": axis " + (axisIsList ? Arrays.toString(axes) : String.valueOf(axes[0]))
            + " is not supported for input rank " + rank + ": only the trailing axes (e.g. -1, or [" + (first - rank) + ", ..., -1]) can be normalized");
      }
    }
    if (first == 0) {
      throw new IllegalArgumentException(name() + ": axis " + Arrays.toString(axes) + " includes the batch axis 0; normalize over the "
          + "feature axes only");
    }
    long f = 1;
    for (int p = first; p < rank; p++) f *= inputShape[p];
    if (f > Integer.MAX_VALUE) throw new IllegalArgumentException(name() + ": the normalized axes hold " + f + " elements, more than an array holds");
    if (f < 1) throw new IllegalArgumentException(name() + ": the normalized axes of " + Arrays.toString(inputShape) + " are empty");
    return (int) f;
  }

  @Override
  protected void checkBuildable(int[] inputShape) {
    int f = featuresOf(inputShape);
    checkAllocation(f + " features", f, 6); // gamma, beta, their gradients and gradient scratch
  }

  @Override
  protected void checkCompatible(int[] inputShape) {
    checkBuiltRank(inputShape);
    int f = featuresOf(inputShape);
    if (f != features) {
      throw new IllegalArgumentException(name() + " was built for " + features + " normalized elements per sample, but the input "
          + Arrays.toString(inputShape) + " has " + f);
    }
  }

  @Override
  protected void doBuild(int[] inputShape) {
    features = featuresOf(inputShape);
    // Keras 3: gamma when scale or rms_scaling, beta when center and not rms_scaling; gamma first.
    buildAffine(features, affine.scale() || rmsScaling, affine.center() && !rmsScaling);
    dGamma = new float[features];
    dBeta = new float[features];
  }

  /** Same computation in training and inference (no moving statistics), as Keras. */
  @Override
  protected Tensor forward(Tensor input, boolean training) {
    checkCompatible(input.shape());
    float[] x = input.data(), y = new float[x.length];
    int rows = x.length / features;
    if (rows == 0) { // an empty batch: nothing to normalize
      lastInput = input;
      lastRows = 0;
      return new Tensor(input.shape(), y);
    }
    if (invStd == null || invStd.length != rows) {
      invStd = new float[rows];
      mean = rmsScaling ? null : new float[rows];
    }
    if (norms != null && rmsScaling) norms.rmsNormForward(rows, features, x, 0, gamma(), epsilonF, y, 0, invStd);
    else if (norms != null) norms.layerNormForward(rows, features, x, 0, gamma(), beta(), epsilonF, y, 0, mean, invStd);
    else if (rmsScaling) RmsNorm.forward(rows, features, x, 0, gamma(), epsilonF, y, 0, invStd);
    else LayerNorm.forward(rows, features, x, 0, gamma(), beta(), epsilonF, y, 0, mean, invStd);
    lastInput = input;
    lastRows = rows;
    return new Tensor(input.shape(), y);
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    checkGradient(lastInput == null ? null : lastInput.shape(), gradOutput);
    float[] x = lastInput.data(), dy = gradOutput.data(), dx = new float[x.length];
    if (lastRows == 0) return new Tensor(lastInput.shape(), dx);
    if (norms != null && rmsScaling) norms.rmsNormBackward(lastRows, features, x, 0, dy, 0, gamma(), invStd, dx, 0, dGamma);
    else if (norms != null) norms.layerNormBackward(lastRows, features, x, 0, dy, 0, gamma(), mean, invStd, dx, 0, dGamma, dBeta);
    else if (rmsScaling) RmsNorm.backward(lastRows, features, x, 0, dy, 0, gamma(), invStd, dx, 0, dGamma);
    else LayerNorm.backward(lastRows, features, x, 0, dy, 0, gamma(), mean, invStd, dx, 0, dGamma, dBeta);
    addAffineGradients(features, dGamma, dBeta);
    return new Tensor(lastInput.shape(), dx);
  }

  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    if (axisIsList) {
      List<Object> l = new ArrayList<>();
      for (int a : axes) l.add((double) a);
      m.put("axis", l);
    } else {
      m.put("axis", (double) axes[0]);
    }
    affine.putHead(m);
    m.put("rms_scaling", rmsScaling); // where Keras writes it
    affine.putInitializers(m);
    affine.putTail(m);
    return m;
  }

  private static final List<String> CONFIG_KEYS = Configs.keys(List.of("name", "trainable", "dtype", "axis"), AffineOptions.KEYS, "rms_scaling",
      "activity_regularizer");

  /**
   * Inverse of {@link #getConfig()}: {@code axis} as an int or a list, {@code dtype} as a string or a
   * {@code DTypePolicy} object, initializer, regularizer and constraint objects as Keras writes them.
   * Unknown keys are rejected by name; {@code activity_regularizer} only as null.
   *
   * @param config the layer's Keras config; not null
   * @return the layer, not built
   * @throws IllegalArgumentException naming an unknown key or invalid value
   */
  public static LayerNormalization fromConfig(Map<String, ?> config) {
    Objects.requireNonNull(config, "config");
    Configs.checkKeys(config, "LayerNormalization", CONFIG_KEYS);
    Configs.requireNull(config, "LayerNormalization", "activity_regularizer");
    Builder b = builder().readConfig(config)
        .rmsScaling(Configs.bool(config, "rms_scaling", false));
    Object axis = config.get("axis");
    if (axis instanceof List<?> l) {
      int[] a = new int[l.size()];
      for (int i = 0; i < a.length; i++) a[i] = (int) Configs.integer(Map.of("axis", l.get(i)), "axis", Integer.MIN_VALUE, Integer.MAX_VALUE);
      b.axis(a);
    } else {
      b.axis((int) Configs.integer(config, "axis", Integer.MIN_VALUE, Integer.MAX_VALUE, -1));
    }
    return b.build();
  }
}
