package dev.vecnorm.model;

import java.util.Map;

/** Hooks into {@link Sequential#fit}: per batch and per epoch, with the running logs (loss and metrics). */
public interface Callback {
  default void onEpochBegin(int epoch) {}

  default void onBatchEnd(int batch, Map<String, Double> logs) {}

  /** Logs hold the epoch's loss and metrics, and val_ ones when validating. */
  default void onEpochEnd(int epoch, Map<String, Double> logs) {}

  /** True asks fit to stop after this epoch. */
  default boolean stopTraining() {
    return false;
  }

  /** Keras's {@code EarlyStopping(monitor, min_delta, patience, restore_best_weights)}; lower is better unless the name has "acc". */
  static EarlyStopping earlyStopping(String monitor, double minDelta, int patience, boolean restoreBestWeights) {
    return new EarlyStopping(monitor, minDelta, patience, restoreBestWeights);
  }
}
