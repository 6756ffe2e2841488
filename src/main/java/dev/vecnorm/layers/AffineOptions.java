package dev.vecnorm.layers;

import java.util.List;
import java.util.Map;

/**
 * The options every normalization layer with a learned per-feature scale (gamma) and offset (beta)
 * shares, under the names and defaults Keras gives them in {@code BatchNormalization},
 * {@code LayerNormalization} and {@code GroupNormalization} alike: {@code epsilon=1e-3},
 * {@code center=True}, {@code scale=True}, beta zeros, gamma ones, no regularizers or constraints.
 * Written into a config and read back in one place, so the three layers cannot drift apart.
 */
record AffineOptions(double epsilon, boolean center, boolean scale, Initializer betaInitializer, Initializer gammaInitializer,
    Regularizer betaRegularizer, Regularizer gammaRegularizer, Constraint betaConstraint, Constraint gammaConstraint) {

  /** The config keys, in Keras's order. */
  static final List<String> KEYS = List.of("epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
      "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint");

  /** Puts {@code epsilon}, {@code center} and {@code scale}. */
  void putHead(Map<String, Object> m) {
    m.put("epsilon", epsilon);
    m.put("center", center);
    m.put("scale", scale);
  }

  /** Puts the initializers of beta and gamma. */
  void putInitializers(Map<String, Object> m) {
    m.put("beta_initializer", betaInitializer.toConfig());
    m.put("gamma_initializer", gammaInitializer.toConfig());
  }

  /** Puts the regularizers and constraints of beta and gamma (null where absent, as Keras writes them). */
  void putTail(Map<String, Object> m) {
    m.put("beta_regularizer", betaRegularizer == null ? null : betaRegularizer.toConfig());
    m.put("gamma_regularizer", gammaRegularizer == null ? null : gammaRegularizer.toConfig());
    m.put("beta_constraint", betaConstraint == null ? null : betaConstraint.toConfig());
    m.put("gamma_constraint", gammaConstraint == null ? null : gammaConstraint.toConfig());
  }

  /** Puts every key, in Keras's order, for a layer with no keys of its own between them. */
  void putAll(Map<String, Object> m) {
    putHead(m);
    putInitializers(m);
    putTail(m);
  }

  /**
   * A weight of {@code n} values filled by {@code init}.
   *
   * @param trainable false for statistics (moving mean and variance) that optimizers do not touch
   */
  static Parameter weight(String name, int n, Initializer init, boolean trainable, Regularizer r, Constraint c) {
    float[] w = new float[n];
    init.fill(w, n, n);
    return new Parameter(name, w, trainable, r, c);
  }

  /** The trainable scale of {@code n} values. */
  Parameter gamma(int n) {
    return weight("gamma", n, gammaInitializer, true, gammaRegularizer, gammaConstraint);
  }

  /** The trainable offset of {@code n} values. */
  Parameter beta(int n) {
    return weight("beta", n, betaInitializer, true, betaRegularizer, betaConstraint);
  }
}
