package dev.vecnorm.layers;

import dev.vecnorm.ParallelNorms;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What {@link BatchNormalization}, {@link LayerNormalization} and {@link GroupNormalization} share: the
 * {@link AffineOptions}, the per-feature scale gamma and offset beta created from them, their
 * regularization and their gradients. Each layer adds its axes, statistics and kernels.
 */
abstract class AffineNormalization extends Layer {
  /** The shared options as configured. */
  final AffineOptions affine;
  /** The epsilon the float kernels add. */
  final float epsilonF;
  /** Runs layer and group norm's kernels on its threads; null runs them on the caller's (batch norm has its own). */
  final ParallelNorms norms;
  /** The weights, null before build or when the layer has none. */
  Parameter gamma, beta;

  AffineNormalization(AffineBuilder<?> b) {
    super(b.name);
    this.affine = b.options();
    this.epsilonF = (float) affine.epsilon();
    this.trainable = b.trainable;
    this.norms = b.norms;
  }

  /** Rejects an input whose rank differs from the built one, as Keras's InputSpec does ("expected ndim=2, found ndim=3"). */
  final void checkBuiltRank(int[] inputShape) {
    int builtRank = builtShape().length;
    if (inputShape.length != builtRank) {
      throw new IllegalArgumentException(name() + " was built for inputs of rank " + builtRank + ", expected ndim=" + builtRank
          + ", found ndim=" + inputShape.length + " (shape " + Arrays.toString(inputShape) + ")");
    }
  }

  /** Creates gamma (first, as Keras 3) and beta of {@code n} values, each only when asked for. */
  final void buildAffine(int n, boolean withGamma, boolean withBeta) {
    if (withGamma) gamma = affine.gamma(n);
    if (withBeta) beta = affine.beta(n);
  }

  /** Adds the first {@code n} kernel gradients to those of gamma and beta, unless the layer is frozen. */
  final void addAffineGradients(int n, float[] dGamma, float[] dBeta) {
    if (!trainable) return;
    for (int i = 0; i < n; i++) {
      if (gamma != null) gamma.grad()[i] += dGamma[i];
      if (beta != null) beta.grad()[i] += dBeta[i];
    }
  }

  /**
   * Epsilon as configured; the kernels add {@code (float) epsilon}.
   *
   * @return epsilon
   */
  public double epsilon() {
    return affine.epsilon();
  }

  /**
   * The live scale weight: one value per normalized channel or feature.
   *
   * @return the values, or null before build or when the layer has no gamma ({@code scale=false})
   */
  public float[] gamma() {
    return gamma == null ? null : gamma.value();
  }

  /**
   * The live offset weight: one value per normalized channel or feature.
   *
   * @return the values, or null before build or when the layer has no beta ({@code center=false})
   */
  public float[] beta() {
    return beta == null ? null : beta.value();
  }

  /** gamma, then beta, where the layer has them. */
  @Override
  public List<Parameter> parameters() {
    List<Parameter> p = new ArrayList<>();
    if (gamma != null) p.add(gamma);
    if (beta != null) p.add(beta);
    return p;
  }

  /**
   * Regularization losses of gamma and beta, with their gradients added.
   *
   * @return the sum of the penalties, 0 when frozen or unregularized
   */
  public double regularizationLoss() {
    if (!trainable) return 0;
    double loss = 0;
    if (gamma != null) loss += gamma.addRegularization();
    if (beta != null) loss += beta.addRegularization();
    return loss;
  }
}
