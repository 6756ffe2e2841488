package dev.vecnorm.layers;

import dev.vecnorm.MatMul;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Keras's {@code Dense(units, activation)} on 2-D inputs {@code [batch, inputDim]}: {@code y = act(x W + b)},
 * W of shape {@code [inputDim, units]} (Keras's kernel layout), {@code act} one of {@code linear} (the
 * default), {@code relu}, {@code sigmoid}, {@code tanh}, {@code softmax} (computed as {@link Activation}).
 * The matrix products run on the vectorized, cache-blocked {@link MatMul}; backward uses
 * {@code dW = xᵀ dy}, {@code dx = dy Wᵀ}, {@code db = sum dy} on the activation's input gradient.
 *
 * <p>Defaults as Keras: {@code use_bias=true}, Glorot-uniform kernel, zero bias, no regularizers, no
 * constraints. Constraints: {@code NonNeg} on kernel and bias; the norm constraints only on the bias
 * (on the kernel Keras takes norms per unit column, which the flat {@link Constraint} does not).
 * A kernel of more elements than a Java array holds, or than the JVM's maximum heap, is rejected
 * when building, before anything is allocated.
 */
public final class Dense extends Layer {
  private static int counter;
  private final int units;
  private final boolean useBias;
  private final Initializer kernelInitializer, biasInitializer;
  private final Regularizer kernelRegularizer, biasRegularizer;
  private final Constraint kernelConstraint, biasConstraint;
  private final String activationName;
  /** The activation after the affine map, or null for linear. */
  private final Activation activation;
  private Parameter kernel, bias;
  private int inputDim;
  private Tensor lastInput;
  private float[] transposeScratch = new float[0];
  /** Set by {@link WeightNormalization}: the kernel the products use, and where backward adds dW, instead of the kernel weight's. */
  private float[] derivedKernel, derivedKernelGrad;

  /**
   * A dense layer with Keras's defaults (bias, zeros bias) and a Glorot-uniform kernel seeded by a per-class counter.
   *
   * @param units output width, at least 1
   */
  public Dense(int units) {
    this(builder(units).kernelInitializer(Initializer.glorotUniform(counter)));
  }

  /**
   * A dense layer with the most used arguments; {@link #builder(int)} takes all of them.
   *
   * @param units output width, at least 1
   * @param useBias whether the layer adds a bias
   * @param kernelInitializer fills the kernel; not null
   * @param biasInitializer fills the bias; not null
   * @param kernelRegularizer penalty on the kernel, or null for none
   * @param name the layer name; not null
   */
  public Dense(int units, boolean useBias, Initializer kernelInitializer, Initializer biasInitializer,
               Regularizer kernelRegularizer, String name) {
    this(builder(units).useBias(useBias).kernelInitializer(kernelInitializer).biasInitializer(biasInitializer)
        .kernelRegularizer(kernelRegularizer).name(Objects.requireNonNull(name, "name")));
  }

  private Dense(Builder b) {
    super(b.name != null ? b.name : "dense" + (counter++ == 0 ? "" : "_" + (counter - 1)));
    this.units = b.units;
    this.useBias = b.useBias;
    this.kernelInitializer = b.kernelInitializer != null ? b.kernelInitializer : Initializer.glorotUniform(0);
    this.biasInitializer = b.biasInitializer;
    this.kernelRegularizer = b.kernelRegularizer;
    this.biasRegularizer = b.biasRegularizer;
    this.kernelConstraint = b.kernelConstraint;
    this.biasConstraint = b.biasConstraint;
    this.activationName = b.activation;
    this.activation = b.activation.equals("linear") ? null : new Activation(Activation.kindOf(b.activation), name() + "_activation");
    this.trainable = b.trainable;
  }

  /**
   * Dense with a seeded Glorot-uniform kernel, for reproducible models.
   *
   * @param units output width, at least 1
   * @param seed seed of the kernel's initializer
   * @return a new, unbuilt layer named {@code dense_<seed>_<units>}
   */
  public static Dense seeded(int units, long seed) {
    return new Dense(units, true, Initializer.glorotUniform(seed), Initializer.zeros(), null, "dense_" + seed + "_" + units);
  }

  /**
   * A builder with Keras's defaults.
   *
   * @param units output width, at least 1
   * @return a new builder
   */
  public static Builder builder(int units) {
    return new Builder(units);
  }

  /** Keras's arguments by name; {@link #build()} validates them all. */
  public static final class Builder {
    private final int units;
    private boolean useBias = true, trainable = true;
    private String activation = "linear", name;
    private Initializer kernelInitializer, biasInitializer = Initializer.zeros();
    private Regularizer kernelRegularizer, biasRegularizer;
    private Constraint kernelConstraint, biasConstraint;

    private Builder(int units) {
      if (units < 1) throw new IllegalArgumentException("units must be >= 1, got " + units);
      this.units = units;
    }

    /**
     * {@code linear} (default), {@code relu}, {@code sigmoid}, {@code tanh} or {@code softmax}.
     *
     * @param activation the activation name; not null
     * @return this builder
     */
    public Builder activation(String activation) {
      Objects.requireNonNull(activation, "activation");
      if (!activation.equals("linear")) Activation.kindOf(activation);
      this.activation = activation;
      return this;
    }

    /**
     * Keras's {@code use_bias}
     *
     * @param useBias false for no bias; default true
     * @return this builder
     */
    public Builder useBias(boolean useBias) { this.useBias = useBias; return this; }
    /**
     * Keras's {@code kernel_initializer}
     *
     * @param i not null; default Glorot uniform with seed 0
     * @return this builder
     */
    public Builder kernelInitializer(Initializer i) { this.kernelInitializer = Objects.requireNonNull(i, "kernelInitializer"); return this; }
    /**
     * Keras's {@code bias_initializer}
     *
     * @param i not null; default zeros
     * @return this builder
     */
    public Builder biasInitializer(Initializer i) { this.biasInitializer = Objects.requireNonNull(i, "biasInitializer"); return this; }
    /**
     * Keras's {@code kernel_regularizer}
     *
     * @param r the penalty on the kernel, or null for none
     * @return this builder
     */
    public Builder kernelRegularizer(Regularizer r) { this.kernelRegularizer = r; return this; }
    /**
     * Keras's {@code bias_regularizer}
     *
     * @param r the penalty on the bias, or null for none
     * @return this builder
     */
    public Builder biasRegularizer(Regularizer r) { this.biasRegularizer = r; return this; }

    /**
     * Only {@link Constraint#nonNeg()}: Keras's norm constraints on a kernel work per unit column.
     *
     * @param c {@link Constraint#nonNeg()} or null for none
     * @return this builder
     */
    public Builder kernelConstraint(Constraint c) {
      if (c != null && !(c instanceof Constraint.NonNeg)) {
        throw new IllegalArgumentException("kernelConstraint " + c + " is not supported on a Dense kernel (Keras takes its norms per unit"
            + " column); only NonNeg");
      }
      this.kernelConstraint = c;
      return this;
    }

    /**
     * Keras's {@code bias_constraint}
     *
     * @param c applied to the bias after each update, or null for none
     * @return this builder
     */
    public Builder biasConstraint(Constraint c) { this.biasConstraint = c; return this; }
    /**
     * Keras's {@code trainable}
     *
     * @param trainable false to freeze the weights (for BatchNormalization also inference mode); default true
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
     * Builds the layer (its weights are created on the first build or call).
     *
     * @return the layer
     */
    public Dense build() {
      return new Dense(this);
    }
  }

  /**
   * Output width.
   *
   * @return the number of units
   */
  public int units() {
    return units;
  }

  /**
   * Keras's activation name: {@code linear}, {@code relu}, {@code sigmoid}, {@code tanh} or {@code softmax}.
   *
   * @return the name; {@code linear} when none
   */
  public String activation() {
    return activationName;
  }

  @Override
  protected void checkBuildable(int[] inputShape) {
    if (inputShape.length != 2) {
      throw new IllegalArgumentException(name() + ": Dense takes [batch, features] input, got rank " + inputShape.length
          + " " + Arrays.toString(inputShape));
    }
    // Both factors < 2^31: the long product cannot overflow. The kernel and its gradient.
    checkAllocation("a kernel of " + inputShape[1] + " x " + units, (long) inputShape[1] * units, 2);
  }

  @Override
  protected void doBuild(int[] inputShape) {
    inputDim = inputShape[1];
    float[] w = new float[inputDim * units];
    kernelInitializer.fill(w, inputDim, units);
    kernel = new Parameter("kernel", w, true, kernelRegularizer, kernelConstraint);
    if (useBias) {
      float[] b = new float[units];
      biasInitializer.fill(b, inputDim, units);
      bias = new Parameter("bias", b, true, biasRegularizer, biasConstraint);
    }
  }

  @Override
  protected void checkCompatible(int[] inputShape) {
    if (inputShape.length != 2 || inputShape[1] != inputDim) {
      throw new IllegalArgumentException(name() + " was built for [batch, " + inputDim + "] input (ndim=2), got shape "
          + Arrays.toString(inputShape));
    }
  }

  /** rows * width as an array length, or a clear error. */
  private int elements(int rows, int width, String what) {
    long n = (long) rows * width;
    if (n > MAX_ARRAY_LENGTH) throw new IllegalArgumentException(name() + ": " + what + " of " + rows + " x " + width + " is larger than a Java array");
    return (int) n;
  }

  @Override
  protected Tensor forward(Tensor input, boolean training) {
    int n = input.dim(0);
    float[] y = new float[elements(n, units, "the output")];
    if (useBias) {
      for (int i = 0; i < n; i++) System.arraycopy(bias.value(), 0, y, i * units, units);
    }
    MatMul.multiply(input.data(), derivedKernel != null ? derivedKernel : kernel.value(), y, n, inputDim, units, useBias);
    lastInput = input;
    Tensor out = new Tensor(new int[] {n, units}, y);
    return activation == null ? out : activation.forward(out, training);
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    checkGradient(lastInput == null ? null : new int[] {lastInput.dim(0), units}, gradOutput);
    int n = lastInput.dim(0);
    float[] dy = activation == null ? gradOutput.data() : activation.backward(gradOutput).data();
    ensureScratch(Math.max(n * inputDim, inputDim * units));
    if (trainable) {
      MatMul.transpose(lastInput.data(), n, inputDim, transposeScratch);               // xᵀ: [in, n]
      MatMul.multiply(transposeScratch, dy, derivedKernelGrad != null ? derivedKernelGrad : kernel.grad(), inputDim, n, units, true); // dW += xᵀ dy
      if (useBias) {
        float[] db = bias.grad();
        for (int i = 0; i < n; i++) for (int j = 0; j < units; j++) db[j] += dy[i * units + j];
      }
    }
    MatMul.transpose(derivedKernel != null ? derivedKernel : kernel.value(), inputDim, units, transposeScratch); // Wᵀ: [units, in]
    float[] dx = new float[n * inputDim];
    MatMul.multiply(dy, transposeScratch, dx, n, units, inputDim, false);
    return new Tensor(new int[] {n, inputDim}, dx);
  }

  /**
   * For {@link WeightNormalization}: compute with {@code kernel} ({@code [inputDim, units]}, refreshed by
   * the wrapper before each call) and add backward's dW into {@code kernelGrad}; the kernel weight then
   * holds the direction v and is not read by the products.
   */
  void useDerivedKernel(float[] kernel, float[] kernelGrad) {
    this.derivedKernel = kernel;
    this.derivedKernelGrad = kernelGrad;
  }

  private void ensureScratch(int size) {
    if (transposeScratch.length < size) transposeScratch = new float[size];
  }

  @Override
  public int[] computeOutputShape(int[] inputShape) {
    return new int[] {inputShape[0], units};
  }

  @Override
  public List<Parameter> parameters() {
    List<Parameter> p = new ArrayList<>();
    if (kernel != null) p.add(kernel);
    if (bias != null) p.add(bias);
    return p;
  }

  /**
   * Kernel and bias regularization losses, with their gradients added.
   *
   * @return the sum of the penalties, 0 when frozen or unregularized
   */
  public double regularizationLoss() {
    if (!trainable) return 0;
    return (kernel != null ? kernel.addRegularization() : 0) + (bias != null ? bias.addRegularization() : 0);
  }

  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    m.put("units", (double) units);
    m.put("activation", activationName);
    m.put("use_bias", useBias);
    m.put("kernel_initializer", kernelInitializer.toConfig());
    m.put("bias_initializer", biasInitializer.toConfig());
    m.put("kernel_regularizer", kernelRegularizer == null ? null : kernelRegularizer.toConfig());
    m.put("bias_regularizer", biasRegularizer == null ? null : biasRegularizer.toConfig());
    m.put("kernel_constraint", kernelConstraint == null ? null : kernelConstraint.toConfig());
    m.put("bias_constraint", biasConstraint == null ? null : biasConstraint.toConfig());
    return m;
  }

  private static final List<String> CONFIG_KEYS = Configs.keys(Configs.BASE_KEYS, "units", "activation", "use_bias",
      "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint",
      "activity_regularizer", "lora_rank", "quantization_config");

  /**
   * Inverse of {@link #getConfig()}: every key is honoured or rejected by name; {@code units} must be an integer.
   *
   * @param c the layer's Keras config; not null
   * @return the layer, not built
   */
  public static Dense fromConfig(Map<String, ?> c) {
    Objects.requireNonNull(c, "config");
    Configs.checkKeys(c, "Dense", CONFIG_KEYS);
    Configs.requireNull(c, "Dense", "activity_regularizer", "lora_rank", "quantization_config");
    Configs.checkDtype(c);
    Builder b = builder((int) Configs.integer(c, "units", 1, Integer.MAX_VALUE))
        .activation(Configs.str(c, "activation", "linear"))
        .useBias(Configs.bool(c, "use_bias", true))
        .kernelRegularizer(Regularizer.fromConfig(c.get("kernel_regularizer")))
        .biasRegularizer(Regularizer.fromConfig(c.get("bias_regularizer")))
        .kernelConstraint(Constraint.fromConfig(c.get("kernel_constraint")))
        .biasConstraint(Constraint.fromConfig(c.get("bias_constraint")))
        .trainable(Configs.bool(c, "trainable", true))
        .name(Configs.str(c, "name", null));
    if (c.get("kernel_initializer") != null) b.kernelInitializer(Initializer.fromConfig(c.get("kernel_initializer")));
    if (c.get("bias_initializer") != null) b.biasInitializer(Initializer.fromConfig(c.get("bias_initializer")));
    return b.build();
  }
}
