package dev.vecnorm.layers;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Element-wise activations as Keras's {@code Activation(name)} / {@code ReLU()} / {@code Softmax()}:
 * {@code relu}, {@code sigmoid}, {@code tanh}, and {@code softmax} over the last axis.
 */
public final class Activation extends Layer {
  public enum Kind { RELU, SIGMOID, TANH, SOFTMAX }

  private static int counter;
  private final Kind kind;
  private Tensor lastOutput, lastInput;

  public Activation(Kind kind) {
    this(kind, kind.name().toLowerCase(java.util.Locale.ROOT) + (counter++ == 0 ? "" : "_" + (counter - 1)));
  }

  public Activation(Kind kind, String name) {
    super(name);
    this.kind = java.util.Objects.requireNonNull(kind, "kind");
  }

  public static Activation relu() {
    return new Activation(Kind.RELU);
  }

  public static Activation sigmoid() {
    return new Activation(Kind.SIGMOID);
  }

  public static Activation tanh() {
    return new Activation(Kind.TANH);
  }

  public static Activation softmax() {
    return new Activation(Kind.SOFTMAX);
  }

  public Kind kind() {
    return kind;
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
    if (lastOutput == null) throw new IllegalStateException(name() + ": backward before call");
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
