package dev.vecnorm.spark;

import java.io.Serializable;
import java.util.Objects;

/**
 * One training row of an RDD for {@link DataParallel#fit}: the features (one sample, flattened) and the
 * target (one class index for sparse categorical cross-entropy, one value per output for mean squared error).
 *
 * @param x the sample's features, flattened; not null
 * @param y the sample's target; not null
 */
public record Sample(float[] x, float[] y) implements Serializable {
  /**
   * Checks that both arrays are present.
   *
   * @param x the sample's features, flattened; not null
   * @param y the sample's target; not null
   */
  public Sample {
    Objects.requireNonNull(x, "x");
    Objects.requireNonNull(y, "y");
  }

  /**
   * A classification row.
   *
   * @param x the sample's features, flattened; not null
   * @param label the class index
   * @return the row
   */
  public static Sample of(float[] x, int label) {
    return new Sample(x, new float[] {label});
  }
}
