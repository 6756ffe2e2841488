package dev.vecnorm.layers;

import dev.vecnorm.LayerNorm;
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
public final class LayerNormalization extends Layer {

  private final int[] axes;
  private final boolean axisIsList;
  private final double epsilon;
  private final float epsilonF;
  private final boolean center, scale, rmsScaling;
  private final Initializer betaInitializer, gammaInitializer;
  private final Regularizer betaRegularizer, gammaRegularizer;
  private final Constraint betaConstraint, gammaConstraint;

  private int features = -1;
  private Parameter gamma, beta;

  // The last call, for backward.
  private Tensor lastInput;
  private int lastRows;
  private float[] mean, invStd, dGamma, dBeta;

  private LayerNormalization(Builder b) {
    super(b.name);
    this.axes = b.axes.clone();
    this.axisIsList = b.axisIsList;
    this.epsilon = b.epsilon;
    this.epsilonF = (float) b.epsilon;
    this.center = b.center;
    this.scale = b.scale;
    this.rmsScaling = b.rmsScaling;
    this.betaInitializer = b.betaInitializer;
    this.gammaInitializer = b.gammaInitializer;
    this.betaRegularizer = b.betaRegularizer;
    this.gammaRegularizer = b.gammaRegularizer;
    this.betaConstraint = b.betaConstraint;
    this.gammaConstraint = b.gammaConstraint;
    this.trainable = b.trainable;
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
  public static final class Builder {
    private static int counter;
    private String name;
    private int[] axes = {-1};
    private boolean axisIsList;
    private double epsilon = 1e-3;
    private boolean center = true, scale = true, rmsScaling;
    private Initializer betaInitializer = Initializer.zeros(), gammaInitializer = Initializer.ones();
    private Regularizer betaRegularizer, gammaRegularizer;
    private Constraint betaConstraint, gammaConstraint;
    private boolean trainable = true;
    private String dtype = "float32";

    private Builder() {}

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
     * Keras's {@code epsilon}
     *
     * @param epsilon added to the variance (or mean square), greater than 0 and finite as a float; default 1e-3
     * @return this builder
     */
    public Builder epsilon(double epsilon) { this.epsilon = epsilon; return this; }
    /**
     * Keras's {@code center}
     *
     * @param center false for no beta (beta = 0); default true; ignored with {@code rmsScaling}, which has no beta
     * @return this builder
     */
    public Builder center(boolean center) { this.center = center; return this; }
    /**
     * Keras's {@code scale}
     *
     * @param scale false for no gamma (gamma = 1), unless {@code rmsScaling}, which always has gamma; default true
     * @return this builder
     */
    public Builder scale(boolean scale) { this.scale = scale; return this; }
    /**
     * Keras's {@code rms_scaling}
     *
     * @param rmsScaling true for RMS normalization ({@link RmsNorm}: no centering, no beta); default false
     * @return this builder
     */
    public Builder rmsScaling(boolean rmsScaling) { this.rmsScaling = rmsScaling; return this; }
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
     * Keras's {@code trainable}
     *
     * @param trainable false to freeze gamma and beta; default true
     * @return this builder
     */
    public Builder trainable(boolean trainable) { this.trainable = trainable; return this; }
    /**
     * The layer name
     *
     * @param name the name, or null for a generated one
     * @return this builder
     */
    public Builder name(String name) { this.name = name; return this; }
    /**
     * Keras's {@code dtype}
     *
     * @param dtype only {@code "float32"} is accepted by {@link #build()}
     * @return this builder
     */
    public Builder dtype(String dtype) { this.dtype = dtype; return this; }

    /**
     * Validates every argument and builds the layer (its weights are created on the first build or call;
     * the axes are checked against the input shape then).
     *
     * @return the layer
     * @throws IllegalArgumentException naming the first invalid argument
     */
    public LayerNormalization build() {
      // As a float too: the kernels compute in float, and an epsilon that rounds to 0 would divide by 0.
      if (!(epsilon > 0) || !((float) epsilon > 0) || Float.isInfinite((float) epsilon)) {
        throw new IllegalArgumentException("epsilon must be > 0 and finite as a float32, got " + epsilon);
      }
      if (!"float32".equals(dtype)) {
        throw new IllegalArgumentException("dtype must be float32, got " + dtype + " (float16/bfloat16 storage is not supported)");
      }
      if (name == null) name = "layer_normalization" + (counter++ == 0 ? "" : "_" + (counter - 1));
      return new LayerNormalization(this);
    }
  }

  /**
   * Epsilon as configured; the kernels add {@code (float) epsilon}.
   *
   * @return epsilon
   */
  public double epsilon() { return epsilon; }
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
  /**
   * The live scale weight, flattened over the normalized axes.
   *
   * @return {@code float[features()]}, or null before build or with {@code scale=false} and {@code rms_scaling=false}
   */
  public float[] gamma() { return gamma == null ? null : gamma.value(); }
  /**
   * The live offset weight, flattened over the normalized axes.
   *
   * @return {@code float[features()]}, or null before build, with {@code center=false} or with {@code rms_scaling=true}
   */
  public float[] beta() { return beta == null ? null : beta.value(); }

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
    int builtRank = builtShape().length;
    if (inputShape.length != builtRank) {
      throw new IllegalArgumentException(name() + " was built for inputs of rank " + builtRank + ", expected ndim=" + builtRank
          + ", found ndim=" + inputShape.length + " (shape " + Arrays.toString(inputShape) + ")");
    }
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
    if (scale || rmsScaling) gamma = param("gamma", gammaInitializer, gammaRegularizer, gammaConstraint);
    if (center && !rmsScaling) beta = param("beta", betaInitializer, betaRegularizer, betaConstraint);
    dGamma = new float[features];
    dBeta = new float[features];
  }

  private Parameter param(String name, Initializer init, Regularizer r, Constraint c) {
    float[] w = new float[features];
    init.fill(w, features, features);
    return new Parameter(name, w, true, r, c);
  }

  @Override
  public List<Parameter> parameters() {
    List<Parameter> p = new ArrayList<>();
    if (gamma != null) p.add(gamma);
    if (beta != null) p.add(beta);
    return p;
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
    float[] g = gamma == null ? null : gamma.value();
    if (rmsScaling) RmsNorm.forward(rows, features, x, 0, g, epsilonF, y, 0, invStd);
    else LayerNorm.forward(rows, features, x, 0, g, beta == null ? null : beta.value(), epsilonF, y, 0, mean, invStd);
    lastInput = input;
    lastRows = rows;
    return new Tensor(input.shape(), y);
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    checkGradient(lastInput == null ? null : lastInput.shape(), gradOutput);
    float[] x = lastInput.data(), dy = gradOutput.data(), dx = new float[x.length];
    if (lastRows == 0) return new Tensor(lastInput.shape(), dx);
    float[] g = gamma == null ? null : gamma.value();
    if (rmsScaling) RmsNorm.backward(lastRows, features, x, 0, dy, 0, g, invStd, dx, 0, dGamma);
    else LayerNorm.backward(lastRows, features, x, 0, dy, 0, g, mean, invStd, dx, 0, dGamma, dBeta);
    if (trainable) {
      for (int f = 0; f < features; f++) {
        if (gamma != null) gamma.grad()[f] += dGamma[f];
        if (beta != null) beta.grad()[f] += dBeta[f];
      }
    }
    return new Tensor(lastInput.shape(), dx);
  }

  /**
   * Regularization losses of gamma and beta, with their gradients added.
   *
   * @return the sum of the penalties, 0 when frozen or unregularized
   */
  public double regularizationLoss() {
    if (!trainable) return 0;
    double loss = 0;
    if (gamma != null) loss += gamma.addRegularization();
    if (beta != null) loss += beta.addRegularization();
    return loss;
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
    m.put("epsilon", epsilon);
    m.put("center", center);
    m.put("scale", scale);
    m.put("rms_scaling", rmsScaling);
    m.put("beta_initializer", betaInitializer.toConfig());
    m.put("gamma_initializer", gammaInitializer.toConfig());
    m.put("beta_regularizer", betaRegularizer == null ? null : betaRegularizer.toConfig());
    m.put("gamma_regularizer", gammaRegularizer == null ? null : gammaRegularizer.toConfig());
    m.put("beta_constraint", betaConstraint == null ? null : betaConstraint.toConfig());
    m.put("gamma_constraint", gammaConstraint == null ? null : gammaConstraint.toConfig());
    return m;
  }

  private static final List<String> CONFIG_KEYS = Configs.keys(Configs.BASE_KEYS, "axis", "epsilon", "center", "scale", "rms_scaling",
      "beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint",
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
    Builder b = builder()
        .name(Configs.str(config, "name", null))
        .trainable(Configs.bool(config, "trainable", true))
        .dtype(Configs.dtype(config))
        .epsilon(Configs.num(config, "epsilon", 1e-3))
        .center(Configs.bool(config, "center", true))
        .scale(Configs.bool(config, "scale", true))
        .rmsScaling(Configs.bool(config, "rms_scaling", false));
    Object axis = config.get("axis");
    if (axis instanceof List<?> l) {
      int[] a = new int[l.size()];
      for (int i = 0; i < a.length; i++) a[i] = (int) Configs.integer(Map.of("axis", l.get(i)), "axis", Integer.MIN_VALUE, Integer.MAX_VALUE);
      b.axis(a);
    } else {
      b.axis((int) Configs.integer(config, "axis", Integer.MIN_VALUE, Integer.MAX_VALUE, -1));
    }
    if (config.get("beta_initializer") != null) b.betaInitializer(Initializer.fromConfig(config.get("beta_initializer")));
    if (config.get("gamma_initializer") != null) b.gammaInitializer(Initializer.fromConfig(config.get("gamma_initializer")));
    b.betaRegularizer(Regularizer.fromConfig(config.get("beta_regularizer")));
    b.gammaRegularizer(Regularizer.fromConfig(config.get("gamma_regularizer")));
    b.betaConstraint(Constraint.fromConfig(config.get("beta_constraint")));
    b.gammaConstraint(Constraint.fromConfig(config.get("gamma_constraint")));
    return b.build();
  }
}
