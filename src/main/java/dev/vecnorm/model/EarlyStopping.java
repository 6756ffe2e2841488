package dev.vecnorm.model;

import java.util.List;
import java.util.Map;

/** Stops training when the monitored value has not improved by {@code minDelta} for {@code patience} epochs. */
public final class EarlyStopping implements Callback {
  private final String monitor;
  private final double minDelta;
  private final int patience;
  private final boolean restoreBestWeights;
  private final boolean higherIsBetter;
  private Model model;
  private double best;
  private int wait;
  private boolean stop;
  private List<List<float[]>> bestWeights;
  private int stoppedEpoch = -1;

  EarlyStopping(String monitor, double minDelta, int patience, boolean restoreBestWeights) {
    if (patience < 0) throw new IllegalArgumentException("patience must be >= 0, got " + patience);
    this.monitor = monitor;
    this.minDelta = Math.abs(minDelta);
    this.patience = patience;
    this.restoreBestWeights = restoreBestWeights;
    this.higherIsBetter = monitor.contains("acc");
    this.best = higherIsBetter ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
  }

  String monitor() {
    return monitor;
  }

  void attach(Model model) {
    this.model = model;
  }

  /**
   * The epoch at which this callback stopped training.
   *
   * @return the epoch index, from 0, or -1 if it has not stopped training
   */
  public int stoppedEpoch() {
    return stoppedEpoch;
  }

  @Override
  public void onEpochEnd(int epoch, Map<String, Double> logs) {
    Double value = logs.get(monitor);
    if (value == null) throw new IllegalStateException("EarlyStopping monitors '" + monitor + "' but logs have " + logs.keySet());
    boolean improved = higherIsBetter ? value > best + minDelta : value < best - minDelta;
    if (improved) {
      best = value;
      wait = 0;
      if (restoreBestWeights && model != null) bestWeights = model.getWeights();
    } else if (++wait >= patience) { // Keras: stop once wait reaches patience
      stop = true;
      stoppedEpoch = epoch;
      if (restoreBestWeights && bestWeights != null) model.setWeights(bestWeights);
    }
  }

  @Override
  public boolean stopTraining() {
    return stop;
  }
}
