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

  void apply(float[] w);

  Map<String, Object> toConfig();

  static Constraint nonNeg() {
    return new NonNeg();
  }

  static Constraint maxNorm(double maxValue) {
    return new MaxNorm(maxValue);
  }

  static Constraint minMaxNorm(double minValue, double maxValue, double rate) {
    return new MinMaxNorm(minValue, maxValue, rate);
  }

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

  /** {@code w * clip(norm, 0, maxValue) / (eps + norm)}. */
  record MaxNorm(double maxValue) implements Constraint {
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

  /** {@code w * (rate * clip(norm, min, max) + (1 - rate) * norm) / (eps + norm)}. */
  record MinMaxNorm(double minValue, double maxValue, double rate) implements Constraint {
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
   */
  static Constraint fromConfig(Object o) {
    if (o == null) return null;
    Map<?, ?> m = Configs.map(o, "constraint");
    Configs.checkKeys(m, "constraint", java.util.List.of("class_name", "config"));
    Map<?, ?> c = m.get("config") == null ? Map.of() : Configs.map(m.get("config"), "constraint config");
    String cls = String.valueOf(m.get("class_name"));
    java.util.List<String> keys = switch (cls) {
      case "NonNeg" -> java.util.List.of();
      case "MaxNorm" -> java.util.List.of("max_value", "axis");
      case "MinMaxNorm" -> java.util.List.of("min_value", "max_value", "rate", "axis");
      case "UnitNorm" -> java.util.List.of("axis");
      default -> throw new IllegalArgumentException("unknown constraint " + m.get("class_name")
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
