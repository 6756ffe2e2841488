package dev.vecnorm.layers;

import dev.vecnorm.MatMul;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Keras's {@code Dense(units)} on 2-D inputs {@code [batch, inputDim]}: {@code y = x W + b}, W of shape
 * {@code [inputDim, units]} (Keras's kernel layout). The matrix products run on the vectorized,
 * cache-blocked {@link MatMul}; backward uses {@code dW = xᵀ dy}, {@code dx = dy Wᵀ}, {@code db = sum dy}.
 */
public final class Dense extends Layer {
  private static int counter;
  private final int units;
  private final boolean useBias;
  private final Initializer kernelInitializer, biasInitializer;
  private final Regularizer kernelRegularizer;
  private Parameter kernel, bias;
  private int inputDim;
  private Tensor lastInput;
  private float[] transposeScratch = new float[0];

  public Dense(int units) {
    this(units, true, Initializer.glorotUniform(counter), Initializer.zeros(), null, "dense" + (counter++ == 0 ? "" : "_" + (counter - 1)));
  }

  public Dense(int units, boolean useBias, Initializer kernelInitializer, Initializer biasInitializer,
               Regularizer kernelRegularizer, String name) {
    super(name);
    if (units < 1) throw new IllegalArgumentException("units must be >= 1, got " + units);
    this.units = units;
    this.useBias = useBias;
    this.kernelInitializer = Objects.requireNonNull(kernelInitializer, "kernelInitializer");
    this.biasInitializer = Objects.requireNonNull(biasInitializer, "biasInitializer");
    this.kernelRegularizer = kernelRegularizer;
  }

  /** Dense with a seeded Glorot-uniform kernel, for reproducible models. */
  public static Dense seeded(int units, long seed) {
    return new Dense(units, true, Initializer.glorotUniform(seed), Initializer.zeros(), null, "dense_" + seed + "_" + units);
  }

  public int units() {
    return units;
  }

  @Override
  protected void doBuild(int[] inputShape) {
    if (inputShape.length != 2) throw new IllegalArgumentException(name() + ": Dense takes [batch, features] input, got rank " + inputShape.length);
    inputDim = inputShape[1];
    float[] w = new float[inputDim * units];
    kernelInitializer.fill(w, inputDim, units);
    kernel = new Parameter("kernel", w, true, kernelRegularizer, null);
    if (useBias) {
      float[] b = new float[units];
      biasInitializer.fill(b, inputDim, units);
      bias = new Parameter("bias", b, true, null, null);
    }
  }

  @Override
  protected void checkCompatible(int[] inputShape) {
    if (inputShape.length != 2 || inputShape[1] != inputDim) {
      throw new IllegalArgumentException(name() + " was built for " + inputDim + " input features, got shape " + java.util.Arrays.toString(inputShape));
    }
  }

  @Override
  protected Tensor forward(Tensor input, boolean training) {
    int n = input.dim(0);
    float[] y = new float[n * units];
    if (useBias) {
      for (int i = 0; i < n; i++) System.arraycopy(bias.value(), 0, y, i * units, units);
    }
    MatMul.multiply(input.data(), kernel.value(), y, n, inputDim, units, useBias);
    lastInput = input;
    return new Tensor(new int[] {n, units}, y);
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    if (lastInput == null) throw new IllegalStateException(name() + ": backward before call");
    int n = lastInput.dim(0);
    float[] dy = gradOutput.data();
    if (dy.length != n * units) throw new IllegalArgumentException(name() + ": gradOutput must be [" + n + ", " + units + "]");
    ensureScratch(Math.max(n * inputDim, inputDim * units));
    if (trainable) {
      MatMul.transpose(lastInput.data(), n, inputDim, transposeScratch);               // xᵀ: [in, n]
      MatMul.multiply(transposeScratch, dy, kernel.grad(), inputDim, n, units, true);  // dW += xᵀ dy
      if (useBias) {
        float[] db = bias.grad();
        for (int i = 0; i < n; i++) for (int j = 0; j < units; j++) db[j] += dy[i * units + j];
      }
    }
    MatMul.transpose(kernel.value(), inputDim, units, transposeScratch);               // Wᵀ: [units, in]
    float[] dx = new float[n * inputDim];
    MatMul.multiply(dy, transposeScratch, dx, n, units, inputDim, false);
    return new Tensor(new int[] {n, inputDim}, dx);
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

  public double regularizationLoss() {
    return trainable && kernel != null ? kernel.addRegularization() : 0;
  }

  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    m.put("units", (double) units);
    m.put("activation", "linear");
    m.put("use_bias", useBias);
    m.put("kernel_initializer", kernelInitializer.toConfig());
    m.put("bias_initializer", biasInitializer.toConfig());
    m.put("kernel_regularizer", kernelRegularizer == null ? null : kernelRegularizer.toConfig());
    return m;
  }

  public static Dense fromConfig(Map<String, ?> c) {
    Dense d = new Dense((int) Configs.num(c, "units"), Configs.bool(c, "use_bias", true),
        c.get("kernel_initializer") == null ? Initializer.glorotUniform(0) : Initializer.fromConfig(c.get("kernel_initializer")),
        c.get("bias_initializer") == null ? Initializer.zeros() : Initializer.fromConfig(c.get("bias_initializer")),
        Regularizer.fromConfig(c.get("kernel_regularizer")), Configs.str(c, "name", "dense"));
    d.setTrainable(Configs.bool(c, "trainable", true));
    return d;
  }
}
