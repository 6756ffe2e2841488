package dev.vecnorm.layers;

import dev.vecnorm.Moments;

/**
 * Cross-replica communication for {@code BatchNormalization(synchronized=true)}: the two collectives
 * synchronized batch norm needs, as PyTorch's SyncBatchNorm. Every replica of a step calls the same
 * methods in the same order. Implementations must give every replica the same result.
 */
public interface StatisticsReducer {

  /** All-gather of local (count, mean, M2) per channel, merged: the moments of the global batch. */
  Moments allGatherMoments(Moments local);

  /** All-reduce (sum) of the local backward sums, in place. */
  void allReduceSum(float[] sumDy, float[] sumDyXhat);
}
