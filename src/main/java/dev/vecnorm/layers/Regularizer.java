package dev.vecnorm.layers;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Keras's {@code L1}, {@code L2} and {@code L1L2}: {@code loss = l1 * sum|w| + l2 * sum w^2} (no 1/2,
 * as Keras), added to the training loss; its gradient is added to the weight's gradient.
 *
 * @param l1 weight of {@code sum|w|}, finite and at least 0
 * @param l2 weight of {@code sum w^2}, finite and at least 0
 */
public record Regularizer(double l1, double l2) {

  /**
   * Checks the weights.
   *
   * @throws IllegalArgumentException unless {@code l1} and {@code l2} are finite and at least 0
   */
  public Regularizer {
    if (!(l1 >= 0) || !(l2 >= 0) || Double.isInfinite(l1) || Double.isInfinite(l2)) {
      throw new IllegalArgumentException("l1 and l2 must be finite and >= 0, got l1=" + l1 + ", l2=" + l2);
    }
  }

  /**
   * Keras's {@code L1(l1)}.
   *
   * @param l1 weight of {@code sum|w|}, finite and at least 0
   * @return the regularizer
   */
  public static Regularizer l1(double l1) {
    return new Regularizer(l1, 0);
  }

  /**
   * Keras's {@code L2(l2)}.
   *
   * @param l2 weight of {@code sum w^2}, finite and at least 0
   * @return the regularizer
   */
  public static Regularizer l2(double l2) {
    return new Regularizer(0, l2);
  }

  /**
   * Keras's {@code L1L2(l1, l2)}.
   *
   * @param l1 weight of {@code sum|w|}, finite and at least 0
   * @param l2 weight of {@code sum w^2}, finite and at least 0
   * @return the regularizer
   */
  public static Regularizer l1l2(double l1, double l2) {
    return new Regularizer(l1, l2);
  }

  /**
   * The penalty {@code l1 * sum|w| + l2 * sum w^2}, in double.
   *
   * @param w the weight's values
   * @return the penalty
   */
  public double loss(float[] w) {
    double a = 0, b = 0;
    for (float v : w) {
      a += Math.abs(v);
      b += (double) v * v;
    }
    return l1 * a + l2 * b;
  }

  /**
   * Adds the penalty's gradient {@code l1 * sign(w) + 2 * l2 * w}.
   *
   * @param w the weight's values
   * @param grad the weight's gradient, same length, added to
   */
  public void addGradient(float[] w, float[] grad) {
    for (int i = 0; i < w.length; i++) grad[i] += (float) (l1 * Math.signum(w[i]) + 2 * l2 * w[i]);
  }

  /**
   * Keras serialization: {@code {"class_name": "L1L2", "config": {"l1": .., "l2": ..}}} (or L1 / L2).
   *
   * @return the Keras-serialized form
   */
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

  /**
   * Inverse of {@link #toConfig()}; unknown classes and keys are rejected by name.
   *
   * @param o a Keras-serialized regularizer ({@code class_name} and {@code config}), or null
   * @return the regularizer, or null for null
   */
  public static Regularizer fromConfig(Object o) {
    if (o == null) return null;
    Configs.Serialized m = Configs.serialized(o, "regularizer");
    Map<?, ?> c = m.config();
    String cls = m.className();
    switch (cls) {
      case "L1" -> Configs.checkKeys(c, "L1 regularizer", java.util.List.of("l1"));
      case "L2" -> Configs.checkKeys(c, "L2 regularizer", java.util.List.of("l2"));
      case "L1L2" -> Configs.checkKeys(c, "L1L2 regularizer", java.util.List.of("l1", "l2"));
      default -> throw new IllegalArgumentException("unknown regularizer " + cls + " (expected L1, L2 or L1L2)");
    }
    // Keras's defaults when a key is absent: L1(l1=0.01), L2(l2=0.01), L1L2(l1=0, l2=0).
    return new Regularizer(Configs.num(c, "l1", cls.equals("L1") ? 0.01 : 0), Configs.num(c, "l2", cls.equals("L2") ? 0.01 : 0));
  }
}
