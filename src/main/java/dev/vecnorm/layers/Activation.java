package dev.vecnorm.layers;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Element-wise activations as Keras's {@code Activation(name)} / {@code ReLU()} / {@code Softmax()}:
 * {@code relu}, {@code sigmoid}, {@code tanh}, and {@code softmax} over the last axis.
 */
public final class Activation extends Layer {
  /** The activation function. */
  public enum Kind {
    /** {@code max(0, x)}. */
    RELU,
    /** {@code 1 / (1 + exp(-x))}. */
    SIGMOID,
    /** {@code tanh(x)}. */
    TANH,
    /** {@code exp(x) / sum(exp(x))} over the last axis. */
    SOFTMAX
  }

  private static int counter;
  private final Kind kind;
  private Tensor lastOutput, lastInput;

  /**
   * An activation layer with a generated name ({@code relu}, {@code relu_1}, ...).
   *
   * @param kind the function; not null
   */
  public Activation(Kind kind) {
    this(kind, kind.name().toLowerCase(java.util.Locale.ROOT) + (counter++ == 0 ? "" : "_" + (counter - 1)));
  }

  /**
   * An activation layer.
   *
   * @param kind the function; not null
   * @param name the layer name; not null
   */
  public Activation(Kind kind, String name) {
    super(name);
    this.kind = java.util.Objects.requireNonNull(kind, "kind");
  }

  /**
   * Keras's {@code ReLU()}: {@code max(0, x)}.
   *
   * @return a new layer
   */
  public static Activation relu() {
    return new Activation(Kind.RELU);
  }

  /**
   * Keras's {@code Activation("sigmoid")}: {@code 1 / (1 + exp(-x))}.
   *
   * @return a new layer
   */
  public static Activation sigmoid() {
    return new Activation(Kind.SIGMOID);
  }

  /**
   * Keras's {@code Activation("tanh")}.
   *
   * @return a new layer
   */
  public static Activation tanh() {
    return new Activation(Kind.TANH);
  }

  /**
   * Keras's {@code Softmax()} over the last axis.
   *
   * @return a new layer
   */
  public static Activation softmax() {
    return new Activation(Kind.SOFTMAX);
  }

  /**
   * The function this layer applies.
   *
   * @return the kind
   */
  public Kind kind() {
    return kind;
  }

  /**
   * The kind for Keras's activation name ({@code relu}, {@code sigmoid}, {@code tanh}, {@code softmax}).
   *
   * @param name the Keras activation name; not null
   * @return the kind
   */
  public static Kind kindOf(String name) {
    Objects.requireNonNull(name, "activation");
    for (Kind k : Kind.values()) if (k.name().toLowerCase(Locale.ROOT).equals(name)) return k;
    throw new IllegalArgumentException("unknown activation '" + name + "' (expected linear, relu, sigmoid, tanh or softmax)");
  }

  private static final List<String> ACTIVATION_KEYS = Configs.keys(Configs.BASE_KEYS, "activation");
  private static final List<String> RELU_KEYS = Configs.keys(Configs.BASE_KEYS, "max_value", "negative_slope", "threshold");
  private static final List<String> SOFTMAX_KEYS = Configs.keys(Configs.BASE_KEYS, "axis");

  /**
   * Inverse of {@link #className()} and {@link #getConfig()} for {@code Activation}, {@code ReLU} and
   * {@code Softmax}; options this layer does not implement (a ReLU's max_value, negative_slope or
   * threshold, a softmax axis other than -1) are rejected by name unless at Keras's default.
   *
   * @param className {@code "Activation"}, {@code "ReLU"} or {@code "Softmax"}
   * @param c the layer's Keras config; not null
   * @return the layer
   */
  public static Activation fromConfig(String className, Map<String, ?> c) {
    Objects.requireNonNull(c, "config");
    Kind kind;
    switch (className) {
      case "Activation" -> {
        Configs.checkKeys(c, "Activation", ACTIVATION_KEYS);
        kind = kindOf(Configs.str(c, "activation", null));
      }
      case "ReLU" -> {
        Configs.checkKeys(c, "ReLU", RELU_KEYS);
        Configs.requireNull(c, "ReLU", "max_value");
        if (Configs.num(c, "negative_slope", 0) != 0 || Configs.num(c, "threshold", 0) != 0) {
          throw new IllegalArgumentException("ReLU: only negative_slope = 0 and threshold = 0 are supported, got "
              + c.get("negative_slope") + " and " + c.get("threshold"));
        }
        kind = Kind.RELU;
      }
      case "Softmax" -> {
        Configs.checkKeys(c, "Softmax", SOFTMAX_KEYS);
        if (Configs.integer(c, "axis", -1, -1, -1) != -1) throw new IllegalArgumentException("Softmax: only axis -1 is supported");
        kind = Kind.SOFTMAX;
      }
      default -> throw new IllegalArgumentException("not an activation layer class: " + className);
    }
    return Configs.layer(c, () -> new Activation(kind), name -> new Activation(kind, name));
  }

  @Override
  protected void doBuild(int[] inputShape) {}

  @Override
  protected Tensor forward(Tensor input, boolean training) {
    float[] x = input.data(), y = new float[x.length];
    switch (kind) {
      case RELU -> { for (int i = 0; i < x.length; i++) y[i] = Math.max(x[i], 0f); }
      case SIGMOID -> { for (int i = 0; i < x.length; i++) y[i] = (float) (1 / (1 + Math.exp(-x[i]))); }
      case TANH -> { for (int i = 0; i < x.length; i++) y[i] = (float) Math.tanh(x[i]); }
      case SOFTMAX -> softmax(x, y, input.dim(-1));
    }
    lastInput = input;
    lastOutput = new Tensor(input.shape(), y);
    return lastOutput;
  }

  /** Row-wise softmax, shifted by the row maximum so exp never overflows. */
  static void softmax(float[] x, float[] y, int width) {
    for (int r = 0; r < x.length / width; r++) {
      int o = r * width;
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < width; j++) max = Math.max(max, x[o + j]);
      double sum = 0;
      for (int j = 0; j < width; j++) sum += (y[o + j] = (float) Math.exp(x[o + j] - max));
      for (int j = 0; j < width; j++) y[o + j] = (float) (y[o + j] / sum);
    }
  }

  @Override
  public Tensor backward(Tensor gradOutput) {
    checkGradient(lastOutput == null ? null : lastOutput.shape(), gradOutput);
    float[] dy = gradOutput.data(), y = lastOutput.data(), x = lastInput.data(), dx = new float[dy.length];
    switch (kind) {
      case RELU -> { for (int i = 0; i < dy.length; i++) dx[i] = x[i] > 0 ? dy[i] : 0f; }
      case SIGMOID -> { for (int i = 0; i < dy.length; i++) dx[i] = dy[i] * y[i] * (1 - y[i]); }
      case TANH -> { for (int i = 0; i < dy.length; i++) dx[i] = dy[i] * (1 - y[i] * y[i]); }
      case SOFTMAX -> {
        int width = lastOutput.dim(-1);
        for (int r = 0; r < dy.length / width; r++) {
          int o = r * width;
          double dot = 0;
          for (int j = 0; j < width; j++) dot += dy[o + j] * y[o + j];
          for (int j = 0; j < width; j++) dx[o + j] = (float) (y[o + j] * (dy[o + j] - dot));
        }
      }
    }
    return new Tensor(gradOutput.shape(), dx);
  }

  @Override
  public String className() {
    return kind == Kind.RELU ? "ReLU" : kind == Kind.SOFTMAX ? "Softmax" : "Activation";
  }

  @Override
  public Map<String, Object> getConfig() {
    Map<String, Object> m = new LinkedHashMap<>(super.getConfig());
    if (kind != Kind.RELU && kind != Kind.SOFTMAX) m.put("activation", kind.name().toLowerCase(java.util.Locale.ROOT));
    if (kind == Kind.SOFTMAX) m.put("axis", -1.0);
    return m;
  }
}
