package dev.vecnorm.model;

import java.util.Map;

/** Hooks into {@link Sequential#fit}: per batch and per epoch, with the running logs (loss and metrics). */
public interface Callback {
  /**
   * Called before an epoch's first batch; does nothing by default.
   *
   * @param epoch index of the epoch, from 0
   */
  default void onEpochBegin(int epoch) {}

  /**
   * Called after each optimizer step; does nothing by default.
   *
   * @param batch index of the batch within the epoch, from 0
   * @param logs the running mean loss and metrics of the epoch so far
   */
  default void onBatchEnd(int batch, Map<String, Double> logs) {}

  /**
   * Logs hold the epoch's loss and metrics, and val_ ones when validating.
   *
   * @param epoch index of the epoch that ended, from 0
   * @param logs the epoch's loss and metrics by Keras name ({@code loss}, {@code accuracy}, {@code val_loss}, ...)
   */
  default void onEpochEnd(int epoch, Map<String, Double> logs) {}

  /**
   * True asks fit to stop after this epoch.
   *
   * @return true to stop after the current epoch; false by default
   */
  default boolean stopTraining() {
    return false;
  }

  /**
   * Keras's {@code EarlyStopping(monitor, min_delta, patience, restore_best_weights)}; lower is better unless the name has "acc".
   *
   * @param monitor the log to watch, for example {@code "val_loss"} or {@code "val_accuracy"}; not null
   * @param minDelta smallest change that counts as an improvement (its absolute value is used)
   * @param patience epochs without improvement before stopping, at least 0
   * @param restoreBestWeights true to restore the weights of the best epoch when training stops
   * @return a new callback; add it with {@link FitOptions#callback}
   */
  static EarlyStopping earlyStopping(String monitor, double minDelta, int patience, boolean restoreBestWeights) {
    return new EarlyStopping(monitor, minDelta, patience, restoreBestWeights);
  }
}
