package dev.vecnorm.layers;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Keras's {@code L1}, {@code L2} and {@code L1L2}: {@code loss = l1 * sum|w| + l2 * sum w^2} (no 1/2,
 * as Keras), added to the training loss; its gradient is added to the weight's gradient.
 */
public record Regularizer(double l1, double l2) {

  public Regularizer {
    if (!(l1 >= 0) || !(l2 >= 0) || Double.isInfinite(l1) || Double.isInfinite(l2)) {
      throw new IllegalArgumentException("l1 and l2 must be finite and >= 0, got l1=" + l1 + ", l2=" + l2);
    }
  }

  public static Regularizer l1(double l1) {
    return new Regularizer(l1, 0);
  }

  public static Regularizer l2(double l2) {
    return new Regularizer(0, l2);
  }

  public static Regularizer l1l2(double l1, double l2) {
    return new Regularizer(l1, l2);
  }

  public double loss(float[] w) {
    double a = 0, b = 0;
    for (float v : w) {
      a += Math.abs(v);
      b += (double) v * v;
    }
    return l1 * a + l2 * b;
  }

  public void addGradient(float[] w, float[] grad) {
    for (int i = 0; i < w.length; i++) grad[i] += (float) (l1 * Math.signum(w[i]) + 2 * l2 * w[i]);
  }

  /** Keras serialization: {@code {"class_name": "L1L2", "config": {"l1": .., "l2": ..}}} (or L1 / L2). */
  public Map<String, Object> toConfig() {
    Map<String, Object> config = new LinkedHashMap<>();
    String cls;
    if (l2 == 0) {
      cls = "L1";
      config.put("l1", l1);
    } else if (l1 == 0) {
      cls = "L2";
      config.put("l2", l2);
    } else {
      cls = "L1L2";
      config.put("l1", l1);
      config.put("l2", l2);
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("class_name", cls);
    m.put("config", config);
    return m;
  }

  /** Inverse of {@link #toConfig()}; unknown classes and keys are rejected by name. */
  public static Regularizer fromConfig(Object o) {
    if (o == null) return null;
    Map<?, ?> m = Configs.map(o, "regularizer");
    Configs.checkKeys(m, "regularizer", java.util.List.of("class_name", "config"));
    Map<?, ?> c = Configs.map(m.get("config"), "regularizer config");
    String cls = String.valueOf(m.get("class_name"));
    switch (cls) {
      case "L1" -> Configs.checkKeys(c, "L1 regularizer", java.util.List.of("l1"));
      case "L2" -> Configs.checkKeys(c, "L2 regularizer", java.util.List.of("l2"));
      case "L1L2" -> Configs.checkKeys(c, "L1L2 regularizer", java.util.List.of("l1", "l2"));
      default -> throw new IllegalArgumentException("unknown regularizer " + m.get("class_name") + " (expected L1, L2 or L1L2)");
    }
    return new Regularizer(Configs.num(c, "l1", 0), Configs.num(c, "l2", 0));
  }
}
