package dev.vecnorm.layers;

import dev.vecnorm.Moments;

/**
 * Cross-replica communication for {@code BatchNormalization(synchronized=true)}: the two collectives
 * synchronized batch norm needs, as PyTorch's SyncBatchNorm. Every replica of a step calls the same
 * methods in the same order. Implementations must give every replica the same result.
 */
public interface StatisticsReducer {

  /**
   * All-gather of local (count, mean, M2) per channel, merged: the moments of the global batch.
   *
   * @param local this replica's moments; not modified
   * @return the merged moments, the same on every replica
   */
  Moments allGatherMoments(Moments local);

  /**
   * All-reduce (sum) of the local backward sums, in place.
   *
   * @param sumDy this replica's per-channel {@code sum(dy)}, replaced by the sum over replicas
   * @param sumDyXhat this replica's per-channel {@code sum(dy * xhat)}, replaced by the sum over replicas
   */
  void allReduceSum(float[] sumDy, float[] sumDyXhat);
}
