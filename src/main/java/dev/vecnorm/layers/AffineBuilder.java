package dev.vecnorm.layers;

import dev.vecnorm.ParallelNorms;
import java.util.Map;
import java.util.Objects;

/**
 * The builder options of {@link AffineOptions} plus {@code name}, {@code trainable} and {@code dtype},
 * with Keras's argument names and defaults, shared by the builders of {@link BatchNormalization},
 * {@link LayerNormalization} and {@link GroupNormalization}. {@code B} is the concrete builder, so that
 * every setter returns it and calls chain across the shared and the layer's own options.
 *
 * @param <B> the concrete builder
 */
abstract class AffineBuilder<B extends AffineBuilder<B>> {
  String name;
  double epsilon = 1e-3;
  boolean center = true, scale = true;
  Initializer betaInitializer = Initializer.zeros(), gammaInitializer = Initializer.ones();
  Regularizer betaRegularizer, gammaRegularizer;
  Constraint betaConstraint, gammaConstraint;
  boolean trainable = true;
  String dtype = "float32";
  /** LayerNormalization's and GroupNormalization's threads ({@code parallel(ParallelNorms)} on their builders); null: the caller's. */
  ParallelNorms norms;

  AffineBuilder() {}

  /** This builder as its concrete type (no unchecked cast). */
  abstract B self();

  /**
   * Keras's {@code epsilon}
   *
   * @param epsilon added to the variance (the mean square for RMS scaling), greater than 0 and finite as a float; default 1e-3
   * @return this builder
   */
  public B epsilon(double epsilon) { this.epsilon = epsilon; return self(); }
  /**
   * Keras's {@code center}
   *
   * @param center false for no beta (beta = 0); default true
   * @return this builder
   */
  public B center(boolean center) { this.center = center; return self(); }
  /**
   * Keras's {@code scale}
   *
   * @param scale false for no gamma (gamma = 1); default true
   * @return this builder
   */
  public B scale(boolean scale) { this.scale = scale; return self(); }
  /**
   * Keras's {@code beta_initializer}
   *
   * @param i not null; default zeros
   * @return this builder
   */
  public B betaInitializer(Initializer i) { this.betaInitializer = Objects.requireNonNull(i, "betaInitializer"); return self(); }
  /**
   * Keras's {@code gamma_initializer}
   *
   * @param i not null; default ones
   * @return this builder
   */
  public B gammaInitializer(Initializer i) { this.gammaInitializer = Objects.requireNonNull(i, "gammaInitializer"); return self(); }
  /**
   * Keras's {@code beta_regularizer}
   *
   * @param r the penalty on beta, or null for none
   * @return this builder
   */
  public B betaRegularizer(Regularizer r) { this.betaRegularizer = r; return self(); }
  /**
   * Keras's {@code gamma_regularizer}
   *
   * @param r the penalty on gamma, or null for none
   * @return this builder
   */
  public B gammaRegularizer(Regularizer r) { this.gammaRegularizer = r; return self(); }
  /**
   * Keras's {@code beta_constraint}
   *
   * @param c applied to beta after each update, or null for none
   * @return this builder
   */
  public B betaConstraint(Constraint c) { this.betaConstraint = c; return self(); }
  /**
   * Keras's {@code gamma_constraint}
   *
   * @param c applied to gamma after each update, or null for none
   * @return this builder
   */
  public B gammaConstraint(Constraint c) { this.gammaConstraint = c; return self(); }
  /**
   * Keras's {@code trainable}
   *
   * @param trainable false to freeze the weights (BatchNormalization then also runs in inference mode); default true
   * @return this builder
   */
  public B trainable(boolean trainable) { this.trainable = trainable; return self(); }
  /**
   * The layer name
   *
   * @param name the name, or null for a generated one
   * @return this builder
   */
  public B name(String name) { this.name = name; return self(); }
  /**
   * Keras's {@code dtype}
   *
   * @param dtype only {@code "float32"} is accepted when the layer is built
   * @return this builder
   */
  public B dtype(String dtype) { this.dtype = dtype; return self(); }

  /**
   * Sets the shared options from a layer config, as Keras writes them: {@code name}, {@code trainable},
   * {@code dtype} (a string or a {@code DTypePolicy}) and the {@link AffineOptions#KEYS}, each at its
   * default when absent.
   */
  B readConfig(Map<String, ?> config) {
    name(Configs.str(config, "name", null));
    trainable(Configs.bool(config, "trainable", true));
    dtype(Configs.dtype(config));
    epsilon(Configs.num(config, "epsilon", 1e-3));
    center(Configs.bool(config, "center", true));
    scale(Configs.bool(config, "scale", true));
    if (config.get("beta_initializer") != null) betaInitializer(Initializer.fromConfig(config.get("beta_initializer")));
    if (config.get("gamma_initializer") != null) gammaInitializer(Initializer.fromConfig(config.get("gamma_initializer")));
    betaRegularizer(Regularizer.fromConfig(config.get("beta_regularizer")));
    gammaRegularizer(Regularizer.fromConfig(config.get("gamma_regularizer")));
    betaConstraint(Constraint.fromConfig(config.get("beta_constraint")));
    gammaConstraint(Constraint.fromConfig(config.get("gamma_constraint")));
    return self();
  }

  /**
   * Checks the shared options a builder cannot check as they are set: {@code epsilon} and {@code dtype}.
   *
   * @throws IllegalArgumentException naming the invalid argument
   */
  void checkOptions() {
    // As a float too: the kernels compute in float, and an epsilon that rounds to 0 would divide by 0.
    if (!(epsilon > 0) || !((float) epsilon > 0) || Float.isInfinite((float) epsilon)) {
      throw new IllegalArgumentException("epsilon must be > 0 and finite as a float32, got " + epsilon);
    }
    if (!"float32".equals(dtype)) {
      throw new IllegalArgumentException("dtype must be float32, got " + dtype + " (float16/bfloat16 storage is not supported)");
    }
  }

  /** The options as validated by {@link #checkOptions}. */
  AffineOptions options() {
    return new AffineOptions(epsilon, center, scale, betaInitializer, gammaInitializer, betaRegularizer, gammaRegularizer,
        betaConstraint, gammaConstraint);
  }
}
