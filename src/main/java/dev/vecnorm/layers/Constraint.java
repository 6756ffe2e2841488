package dev.vecnorm.layers;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Keras weight constraints, applied to a weight after each optimizer update. On the 1-D weights of
 * batch normalization Keras's {@code axis=0} means the norm of the whole vector.
 */
public sealed interface Constraint {
  /** Keras's backend epsilon in the norm constraints. */
  double EPSILON = 1e-7;

  /**
   * Applies the constraint to a weight, in place.
   *
   * @param w the weight's values
   */
  void apply(float[] w);

  /**
   * Keras serialization: {@code {"class_name": ..., "config": {...}}}.
   *
   * @return the serialized form
   */
  Map<String, Object> toConfig();

  /**
   * Keras's {@code NonNeg()}.
   *
   * @return the constraint
   */
  static Constraint nonNeg() {
    return new NonNeg();
  }

  /**
   * Keras's {@code MaxNorm(max_value)}.
   *
   * @param maxValue highest norm, at least 0
   * @return the constraint
   */
  static Constraint maxNorm(double maxValue) {
    return new MaxNorm(maxValue);
  }

  /**
   * Keras's {@code MinMaxNorm(min_value, max_value, rate)}.
   *
   * @param minValue lowest norm, at least 0
   * @param maxValue highest norm, at least {@code minValue}
   * @param rate how far to move the norm into the range per application, in [0, 1]
   * @return the constraint
   */
  static Constraint minMaxNorm(double minValue, double maxValue, double rate) {
    return new MinMaxNorm(minValue, maxValue, rate);
  }

  /**
   * Keras's {@code UnitNorm()}.
   *
   * @return the constraint
   */
  static Constraint unitNorm() {
    return new UnitNorm();
  }

  /** Negative weights become 0. */
  record NonNeg() implements Constraint {
    public void apply(float[] w) {
      for (int i = 0; i < w.length; i++) if (w[i] < 0) w[i] = 0;
    }

    public Map<String, Object> toConfig() {
      return serialized("NonNeg", Map.of());
    }
  }

  /**
   * {@code w * clip(norm, 0, maxValue) / (eps + norm)}.
   *
   * @param maxValue highest norm, at least 0
   */
  record MaxNorm(double maxValue) implements Constraint {
    /**
     * Checks the bound.
     *
     * @throws IllegalArgumentException if {@code maxValue} is negative or NaN
     */
    public MaxNorm {
      if (!(maxValue >= 0)) throw new IllegalArgumentException("maxValue must be >= 0, got " + maxValue);
    }

    public void apply(float[] w) {
      double norm = norm(w);
      scale(w, Math.min(norm, maxValue) / (EPSILON + norm));
    }

    public Map<String, Object> toConfig() {
      return serialized("MaxNorm", Map.of("max_value", maxValue, "axis", 0.0));
    }
  }

  /**
   * {@code w * (rate * clip(norm, min, max) + (1 - rate) * norm) / (eps + norm)}.
   *
   * @param minValue lowest norm, at least 0
   * @param maxValue highest norm, at least {@code minValue}
   * @param rate how far to move the norm into the range per application, in [0, 1]
   */
  record MinMaxNorm(double minValue, double maxValue, double rate) implements Constraint {
    /**
     * Checks the bounds.
     *
     * @throws IllegalArgumentException unless {@code 0 <= minValue <= maxValue} and {@code rate} is in [0, 1]
     */
    public MinMaxNorm {
      if (!(minValue >= 0 && minValue <= maxValue)) {
        throw new IllegalArgumentException("need 0 <= minValue <= maxValue, got " + minValue + ", " + maxValue);
      }
      if (!(rate >= 0 && rate <= 1)) throw new IllegalArgumentException("rate must be in [0, 1], got " + rate);
    }

    public void apply(float[] w) {
      double norm = norm(w);
      double desired = rate * Math.min(Math.max(norm, minValue), maxValue) + (1 - rate) * norm;
      scale(w, desired / (EPSILON + norm));
    }

    public Map<String, Object> toConfig() {
      return serialized("MinMaxNorm", Map.of("min_value", minValue, "max_value", maxValue, "rate", rate, "axis", 0.0));
    }
  }

  /** {@code w / (eps + norm)}. */
  record UnitNorm() implements Constraint {
    public void apply(float[] w) {
      scale(w, 1 / (EPSILON + norm(w)));
    }

    public Map<String, Object> toConfig() {
      return serialized("UnitNorm", Map.of("axis", 0.0));
    }
  }

  private static double norm(float[] w) {
    double s = 0;
    for (float v : w) s += (double) v * v;
    return Math.sqrt(s);
  }

  private static void scale(float[] w, double f) {
    for (int i = 0; i < w.length; i++) w[i] = (float) (w[i] * f);
  }

  private static Map<String, Object> serialized(String cls, Map<String, Object> config) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("class_name", cls);
    m.put("config", new LinkedHashMap<>(new java.util.TreeMap<>(config)));
    return m;
  }

  /**
   * Inverse of {@link #toConfig()}; unknown classes and keys are rejected by name, and so is an
   * {@code axis} other than 0 (the norm of the whole weight vector, all that is implemented).
   *
   * @param o a Keras-serialized constraint ({@code class_name} and {@code config}), or null
   * @return the constraint, or null for null
   */
  static Constraint fromConfig(Object o) {
    if (o == null) return null;
    Configs.Serialized m = Configs.serialized(o, "constraint");
    Map<?, ?> c = m.config();
    String cls = m.className();
    java.util.List<String> keys = switch (cls) {
      case "NonNeg" -> java.util.List.of();
      case "MaxNorm" -> java.util.List.of("max_value", "axis");
      case "MinMaxNorm" -> java.util.List.of("min_value", "max_value", "rate", "axis");
      case "UnitNorm" -> java.util.List.of("axis");
      default -> throw new IllegalArgumentException("unknown constraint " + cls
          + " (expected NonNeg, MaxNorm, MinMaxNorm or UnitNorm)");
    };
    Configs.checkKeys(c, cls + " constraint", keys);
    if (Configs.integer(c, "axis", 0, 0, 0) != 0) throw new IllegalArgumentException(cls + ": only axis 0 is supported");
    return switch (cls) {
      case "NonNeg" -> nonNeg();
      case "MaxNorm" -> maxNorm(Configs.num(c, "max_value", 2));
      case "MinMaxNorm" -> minMaxNorm(Configs.num(c, "min_value", 0), Configs.num(c, "max_value", 1), Configs.num(c, "rate", 1));
      default -> unitNorm();
    };
  }
}
